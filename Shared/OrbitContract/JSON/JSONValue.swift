/// A parsed JSON document that keeps numbers as their exact source text.
///
/// Orbit never routes money through `Double`: an amount such as `19.99` is kept as the lexeme
/// `"19.99"` and converted to integer minor units exactly (see ``MinorUnits``).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type name used in error messages ("string", "object", ...).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var numberValue: JSONNumber? { if case .number(let n) = self { n } else { nil } }
}

/// A JSON number as written in the source, validated against the JSON grammar.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    public let lexeme: String

    public init(lexeme: String) { self.lexeme = lexeme }
    public init(_ value: Int64) { self.lexeme = String(value) }
    public init(_ value: Int) { self.lexeme = String(value) }

    /// The exact integer value, or nil when the number has a fraction, an exponent or overflows.
    public var int64Value: Int64? { Int64(lexeme) }
    public var doubleValue: Double? { Double(lexeme) }
    public var description: String { lexeme }
}

/// A JSON object that keeps its members in source order. Keys are unique (the parser rejects
/// duplicates, because two values for one key are ambiguous and a classic smuggling vector).
public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }

    public subscript(key: String) -> JSONValue? {
        for member in members where member.key == key { return member.value }
        return nil
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    /// Sets a member, replacing an existing one in place or appending a new one.
    public mutating func set(_ key: String, _ value: JSONValue) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
