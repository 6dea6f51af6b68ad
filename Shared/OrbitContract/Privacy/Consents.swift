/// A user's consents per purpose: the `consents` member of the user's record on
/// `orbit.user-preferences` (kept with the preferences, published by the system that asks the user).
///
/// ```json
/// {"channels":{"sms":false},"categories":{"promotions":true},"consents":{"marketing":true,"profiling":false}}
/// ```
///
/// A purpose that is absent has not been withdrawn. `false` withdraws it: `profiling: false`
/// stops the scorer from segmenting, tiering and predicting for the user (its profile says so),
/// and `marketing: false` suppresses every marketing message whatever its category's opt-in.
public struct Consents: Sendable, Equatable {
    public enum Purpose: String, Sendable, CaseIterable {
        case marketing
        case profiling
    }

    public var withdrawn: Set<Purpose> = []

    public init(withdrawn: Set<Purpose> = []) { self.withdrawn = withdrawn }

    public func allows(_ purpose: Purpose) -> Bool { !withdrawn.contains(purpose) }

    /// The consents of a preferences record (nil value: a tombstone, nothing withdrawn). Throws a
    /// description for a `consents` member that is not an object of known purposes to booleans.
    public static func of(preferences object: JSONObject) throws(Invalid) -> Consents {
        guard let member = object["consents"], member != .null else { return Consents() }
        guard let map = member.objectValue else { throw Invalid(description: "consents maps purposes to true or false") }
        var consents = Consents()
        for (name, value) in map.members {
            guard let purpose = Purpose(rawValue: name) else {
                throw Invalid(description: "consents.\(name.prefix(64)) is not a purpose (\(Purpose.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard case .bool(let given) = value else { throw Invalid(description: "consents.\(name) must be true or false") }
            if !given { consents.withdrawn.insert(purpose) }
        }
        return consents
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }
}
