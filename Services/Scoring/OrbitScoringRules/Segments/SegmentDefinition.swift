import OrbitContract
import OrbitCore

/// A segment an operator defines (`orbit segments apply`): users whose profile matches its
/// predicate are in it. The scorer keeps each user's membership and writes entries and exits to
/// `orbit.segment-changes` with the dimension `custom:<id>`, so notify triggers, campaign
/// audiences and membership's segment-entry rules use them as they use the built-in dimensions.
public struct SegmentDefinition: Sendable, Equatable {
    public static let schemaVersion = 1
    /// At most this many live definitions (each is evaluated for every user the scorer evaluates).
    public static let maxDefinitions = 500

    public var id: String
    public var name: String
    public var predicate: SegmentPredicate

    public init(id: String, name: String, predicate: SegmentPredicate) {
        self.id = id
        self.name = name
        self.predicate = predicate
    }

    /// The dimension its changes carry on `orbit.segment-changes`.
    public var dimension: String { "custom:\(id)" }

    /// Lower-case letters, digits, `-` and `_`, 1 to 64 of them: ids go into dimension names and URLs.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
    }

    /// Why a definitions record cannot be used: the field and what is wrong.
    public typealias Unusable = UnusableRecord

    // MARK: The record (`orbit.segment-definitions`, key: the id; a tombstone retires it)

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.key("schema_version"); w.int(Self.schemaVersion)
        w.key("id"); w.string(id)
        w.key("name"); w.string(name)
        w.key("where"); predicate.write(to: &w)
        w.endObject()
        return w.bytes
    }

    /// A record of the definitions topic; `key` must be its id. Strict: an unknown member is an
    /// error (it may be a restriction this version would quietly drop), and so is a field that is
    /// not in the profile or an attribute that is not declared in `attributes`.
    public static func decode(key: String, _ bytes: [UInt8], attributes: AttributeSchema) throws(Unusable) -> SegmentDefinition {
        guard case .object(let o)? = try? JSONParser.parse(bytes, maxDepth: 4 * SegmentPredicate.maxDepth) else { throw Unusable("(record)", "not a JSON object") }
        for member in o.members where !["schema_version", "id", "name", "where"].contains(member.key) { throw Unusable(member.key, "unknown member") }
        guard o["schema_version"]?.numberValue?.int64Value == Int64(schemaVersion) else { throw Unusable("schema_version", "must be \(schemaVersion)") }
        guard let id = o["id"]?.stringValue, isValidID(id) else { throw Unusable("id", "lower-case letters, digits, - and _, 1 to 64") }
        guard id == key else { throw Unusable("id", "\(id) is not the record's key \(key)") }
        guard let name = o["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 200 else { throw Unusable("name", "a name of 1 to 200 bytes") }
        guard case .object(let condition)? = o["where"] else { throw Unusable("where", "the condition, an object") }
        var conditions = 0
        do {
            return SegmentDefinition(id: id, name: name, predicate: try SegmentPredicate.read(JSONCondition(object: condition, path: "where"), attributes: attributes, conditions: &conditions))
        } catch let error as Unusable {
            throw error
        } catch {
            throw Unusable("where", "\(error)")
        }
    }
}

/// A condition in a definitions record.
struct JSONCondition: PredicateNode {
    let object: JSONObject
    let path: String

    func has(_ key: String) -> Bool { object[key] != nil }
    func keys() throws -> [String] { object.keys }
    func child(_ key: String) throws -> JSONCondition {
        guard case .object(let o)? = object[key] else { throw invalid(key, "must be a condition (an object)") }
        return JSONCondition(object: o, path: "\(path).\(key)")
    }
    func children(_ key: String) throws -> [JSONCondition] {
        guard let list = object[key]?.arrayValue else { throw invalid(key, "must be a list of conditions") }
        return try list.enumerated().map { index, element in
            guard case .object(let o) = element else { throw invalid("\(key)[\(index)]", "must be a condition (an object)") }
            return JSONCondition(object: o, path: "\(path).\(key)[\(index)]")
        }
    }
    func scalar(_ key: String) throws -> (text: String, quoted: Bool)? {
        guard let value = object[key] else { return nil }
        return try Self.scalar(value, key: key, at: self)
    }
    func scalars(_ key: String) throws -> [(text: String, quoted: Bool)] {
        guard let list = object[key]?.arrayValue else { throw invalid(key, "must be a list") }
        return try list.map { try Self.scalar($0, key: key, at: self) }
    }
    static func scalar(_ value: JSONValue, key: String, at node: JSONCondition) throws -> (text: String, quoted: Bool) {
        switch value {
        case .string(let s): return (s, true)
        case .number(let n): return (n.lexeme, false)
        case .bool(let b): return (String(b), false)
        default: throw node.invalid(key, "must be a number, a text or true/false")
        }
    }
    func invalid(_ key: String, _ message: String) -> any Error { SegmentDefinition.Unusable("\(path).\(key)", message) }
}

/// A condition in a YAML file (`orbit segments apply`): errors name the file, line and field.
struct YAMLCondition: PredicateNode {
    let section: ConfigSection

    func has(_ key: String) -> Bool { section.section(key).exists }
    func keys() throws -> [String] { try section.keys() }
    func child(_ key: String) throws -> YAMLCondition { YAMLCondition(section: section.section(key)) }
    func children(_ key: String) throws -> [YAMLCondition] { try section.sectionList(key).map(YAMLCondition.init) }
    func scalar(_ key: String) throws -> (text: String, quoted: Bool)? { try section.quotedScalar(key) }
    func scalars(_ key: String) throws -> [(text: String, quoted: Bool)] { try section.quotedScalarList(key) }
    func invalid(_ key: String, _ message: String) -> any Error { section.invalid(key, message) }
}

/// A file of segment definitions (YAML) for `orbit segments apply`, checked as every
/// configuration is: every error names the file, line and field, and a file with any error
/// publishes nothing.
///
/// ```yaml
/// segments:
///   - id: big-spenders-drifting
///     name: Big spenders drifting away
///     where:
///       all:
///         - {field: rfm.monetary_minor, gte: 50000}
///         - {field: lifecycle, in: [at_risk, churned]}
/// ```
public enum SegmentFile {
    /// - Parameter attributes: the declared attributes (scoring.yaml's `attributes:`).
    public static func load(path: String, attributes: AttributeSchema) throws(ConfigError) -> [SegmentDefinition] {
        try read(try ConfigDocument.load(path: path, environment: [:]), attributes: attributes)
    }

    public static func read(_ document: ConfigDocument, attributes: AttributeSchema) throws(ConfigError) -> [SegmentDefinition] {
        try document.top.rejectUnknownKeys(["segments"])
        let sections = try document.top.sectionList("segments")
        guard !sections.isEmpty else { throw document.top.invalid("segments", "list at least one segment") }
        guard sections.count <= SegmentDefinition.maxDefinitions else { throw document.top.invalid("segments", "at most \(SegmentDefinition.maxDefinitions) segments") }
        var seen: Set<String> = []
        var definitions: [SegmentDefinition] = []
        for section in sections {
            try section.rejectUnknownKeys(["id", "name", "where"])
            let id = try section.string("id")
            guard SegmentDefinition.isValidID(id) else { throw section.invalid("id", "lower-case letters, digits, - and _, 1 to 64 (it names the dimension custom:<id>)") }
            guard seen.insert(id).inserted else { throw section.invalid("id", "\(id) is defined twice in this file") }
            let name = try section.string("name")
            guard !name.isEmpty, name.utf8.count <= 200 else { throw section.invalid("name", "a name of 1 to 200 bytes") }
            let condition = section.section("where")
            guard condition.exists else { throw section.invalid("where", "is required: the condition users must meet") }
            var conditions = 0
            let predicate: SegmentPredicate
            do {
                predicate = try SegmentPredicate.read(YAMLCondition(section: condition), attributes: attributes, conditions: &conditions)
            } catch let error as ConfigError {
                throw error
            } catch {
                throw condition.invalid("", "\(error)")
            }
            definitions.append(SegmentDefinition(id: id, name: name, predicate: predicate))
        }
        return definitions
    }
}
