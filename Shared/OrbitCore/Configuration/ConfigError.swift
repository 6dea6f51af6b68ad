/// A configuration problem, naming the file, the line and the field, so the person who wrote the
/// YAML (or set the environment variable) can fix it without reading Orbit's source.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let line: Int?
    public let field: String
    public let message: String

    public init(file: String, line: Int?, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(field): \(message)" }
        return "\(file): \(field): \(message)"
    }
}
