import OrbitContract

/// The type of a declared attribute (`attributes:` in scoring.yaml).
public enum AttributeKind: String, CaseIterable, Sendable {
    /// Text, at most `max_length` bytes.
    case string
    /// A finite number, within `min` and `max` when declared.
    case number
    /// A calendar date, `YYYY-MM-DD`.
    case date
    /// One of the declared `values`.
    case `enum`
    /// Up to `max_items` texts, each at most `max_length` bytes (and one of `values` when declared).
    case list
}

/// One property other systems may publish about a user on `orbit.user-attributes` (gender, age
/// band, region, industry, company size, role): its type and bounds.
public struct AttributeDeclaration: Sendable, Equatable {
    public var name: String
    public var kind: AttributeKind
    /// For strings and list items.
    public var maxLength = 128
    /// For numbers.
    public var minimum: Double?
    public var maximum: Double?
    /// The allowed values of an enum (required) or of a list's items (optional).
    public var values: [String] = []
    /// For lists.
    public var maxItems = 20

    public init(name: String, kind: AttributeKind) {
        self.name = name
        self.kind = kind
    }

    /// Lower-case letters, digits and `_`, starting with a letter, 1 to 64: names are JSON members
    /// of the profile and segment fields (`attributes.<name>`).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first >= 0x61 && first <= 0x7A, name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    /// The value a published JSON value stands for, or why it cannot be used.
    public func read(_ value: JSONValue) -> Result<AttributeValue, UnusableRecord> {
        func fail(_ message: String) -> Result<AttributeValue, UnusableRecord> { .failure(UnusableRecord(name, message)) }
        switch kind {
        case .string:
            guard case .string(let s) = value else { return fail("a string, not \(value.typeName)") }
            guard !s.isEmpty, s.utf8.count <= maxLength else { return fail("1 to \(maxLength) bytes, not \(s.utf8.count)") }
            return .success(.text(s))
        case .enum:
            guard case .string(let s) = value else { return fail("one of \(values.joined(separator: ", ")), not \(value.typeName)") }
            guard values.contains(s) else { return fail("\(s.prefix(64)) is not one of \(values.joined(separator: ", "))") }
            return .success(.text(s))
        case .number:
            guard case .number(let n) = value, let x = Double(n.lexeme), x.isFinite else { return fail("a number, not \(value.typeName)") }
            if let minimum, x < minimum { return fail("\(n.lexeme) is below the minimum \(FieldValue.number(minimum))") }
            if let maximum, x > maximum { return fail("\(n.lexeme) is above the maximum \(FieldValue.number(maximum))") }
            return .success(.number(x))
        case .date:
            guard case .string(let s) = value, let day = CalendarDate.day(s) else { return fail("a date YYYY-MM-DD between 1900 and 2199") }
            return .success(.date(day))
        case .list:
            guard case .array(let items) = value else { return fail("a list of strings, not \(value.typeName)") }
            guard items.count <= maxItems else { return fail("at most \(maxItems) items, not \(items.count)") }
            var texts: [String] = []
            for (index, item) in items.enumerated() {
                guard case .string(let s) = item, !s.isEmpty, s.utf8.count <= maxLength else { return fail("item \(index) is not a string of 1 to \(maxLength) bytes") }
                guard values.isEmpty || values.contains(s) else { return fail("item \(index) \(s.prefix(64)) is not one of \(values.joined(separator: ", "))") }
                if !texts.contains(s) { texts.append(s) }
            }
            return .success(.list(texts.sorted()))
        }
    }
}

/// A user's attribute value, as declared.
public enum AttributeValue: Sendable, Equatable {
    case text(String)
    case number(Double)
    /// Days since 1970-01-01.
    case date(Int32)
    /// Distinct, sorted.
    case list([String])

    /// What a segment's predicate compares.
    public var fieldValue: FieldValue {
        switch self {
        case .text(let s): .text(s)
        case .number(let n): .number(n)
        case .date(let d): .number(Double(d))
        case .list(let l): .list(l)
        }
    }

    public func write(to w: inout JSONWriter) {
        switch self {
        case .text(let s): w.string(s)
        case .number(let n): w.shortestNumber(n)
        case .date(let d): w.date(day: Int64(d))
        case .list(let l): w.beginArray(); for s in l { w.string(s) }; w.endArray()
        }
    }
}

/// One of a user's attributes.
public struct UserAttribute: Sendable, Equatable {
    public var name: String
    public var value: AttributeValue
    public init(name: String, value: AttributeValue) { (self.name, self.value) = (name, value) }

    /// A record of `orbit.user-attributes` holding these (what ``AttributeSchema/read(_:)`` reads back).
    public static func encoded(_ attributes: [UserAttribute]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        for attribute in attributes { w.key(attribute.name); attribute.value.write(to: &w) }
        w.endObject()
        return w.bytes
    }
}

/// The attributes a deployment declares: what `orbit.user-attributes` may carry, checked property
/// by property, as events are checked.
public struct AttributeSchema: Sendable, Equatable {
    public static let maxDeclarations = 64
    /// A record larger than this is refused whole (the state keeps every accepted value).
    public static let maxRecordBytes = 16 * 1024

    public private(set) var declarations: [String: AttributeDeclaration] = [:]

    public init(_ declarations: [AttributeDeclaration] = []) {
        for declaration in declarations { self.declarations[declaration.name] = declaration }
    }

    public subscript(name: String) -> AttributeDeclaration? { declarations[name] }

    /// A record of `orbit.user-attributes`: a JSON object of properties, the user's whole set (the
    /// topic is compacted: the latest record is what is known). A property that is not declared or
    /// not of its declared type is rejected on its own (the others are kept); `null` leaves a
    /// property unset. A record that is not an object, or too large, is refused whole.
    public func read(_ bytes: [UInt8]) -> Result<(attributes: [UserAttribute], rejected: [UnusableRecord]), UnusableRecord> {
        guard bytes.count <= Self.maxRecordBytes else { return .failure(UnusableRecord("(record)", "\(bytes.count) bytes, more than \(Self.maxRecordBytes)")) }
        let object: JSONObject
        do {
            // The parser refuses a property given twice, so each name below is given once.
            guard case .object(let parsed) = try JSONParser.parse(bytes, maxDepth: 4) else { return .failure(UnusableRecord("(record)", "not a JSON object of properties")) }
            object = parsed
        } catch {
            return .failure(UnusableRecord("(record)", "not a JSON object of properties: \(error)"))
        }
        var attributes: [UserAttribute] = []
        var rejected: [UnusableRecord] = []
        for member in object.members {
            if case .null = member.value { continue }
            guard let declaration = declarations[member.key] else {
                rejected.append(UnusableRecord(String(member.key.prefix(64)), "not a declared attribute (scoring.yaml attributes: \(declarations.keys.sorted().joined(separator: ", ")))"))
                continue
            }
            switch declaration.read(member.value) {
            case .success(let value): attributes.append(UserAttribute(name: member.key, value: value))
            case .failure(let reason): rejected.append(reason)
            }
        }
        return .success((attributes.sorted { $0.name < $1.name }, rejected))
    }
}
