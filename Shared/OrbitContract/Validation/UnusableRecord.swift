/// Why a record of an operator-defined table (a reward, a segment) cannot be used: the field and
/// what is wrong with it. It becomes the dead letter's field and reason.
public struct UnusableRecord: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) { (self.field, self.message) = (field, message) }
    public var description: String { "\(field): \(message)" }
}
