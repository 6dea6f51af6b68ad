import OrbitContract
import OrbitCore

/// A record of `orbit.journeys` (compacted; key: the journey id): the journey's current version,
/// its status, and a migration of enrolled users from an earlier version, if the operator asked
/// for one (`orbit journeys apply --migrate`).
///
/// ```json
/// {"schema_version":1,"id":"winback","version":2,"status":"active",
///  "migrate":{"from_version":1,"steps":{"offer":"offer"}},"journey":{...the definition...}}
/// ```
public struct JourneyRecord: Sendable, Equatable {
    public static let schemaVersion = 1
    /// A record larger than this is not read (a journey of 32 steps is a few KiB).
    public static let maxBytes = 64 * 1024

    public var journey: Journey
    public var status: JourneyStatus
    public var migration: JourneyMigration?

    public init(journey: Journey, status: JourneyStatus = .active, migration: JourneyMigration? = nil) {
        (self.journey, self.status, self.migration) = (journey, status, migration)
    }

    public var id: String { journey.id }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1024)
        w.beginObject()
        w.key("schema_version"); w.int(Self.schemaVersion)
        w.key("id"); w.string(journey.id)
        w.key("version"); w.int(journey.version)
        w.key("status"); w.string(status.rawValue)
        if let migration {
            w.key("migrate"); w.beginObject()
            w.key("from_version"); w.int(migration.fromVersion)
            w.key("steps"); w.beginObject(); for (from, to) in migration.steps.sorted(by: { $0.key < $1.key }) { w.key(from); w.string(to) }; w.endObject()
            w.endObject()
        }
        w.key("journey"); journey.write(&w)
        w.endObject()
        return w.bytes
    }

    /// Reads a record, checked as a file is: against `policy` (its categories and templates; nil
    /// skips those checks, for state written by this service). Errors name the record
    /// (`orbit.journeys/<key>`) and the field.
    public static func decode(key: String, _ bytes: [UInt8], policy: NotifyPolicy?, topic: String = "orbit.journeys") throws(ConfigError) -> JourneyRecord {
        let file = "\(topic)/\(key)"
        guard bytes.count <= maxBytes else { throw ConfigError(file: file, line: nil, field: "(record)", message: "\(bytes.count) bytes: a journey record is at most \(maxBytes)") }
        guard bytes.first == UInt8(ascii: "{"), case .object? = try? JSONParser.parse(bytes, maxDepth: 32) else {
            throw ConfigError(file: file, line: nil, field: "(record)", message: "not a JSON object")
        }
        let document = try ConfigDocument(yaml: String(decoding: bytes, as: UTF8.self), file: file, environment: [:])
        return try read(document.top, key: key, policy: policy)
    }

    static func read(_ s: ConfigSection, key: String, policy: NotifyPolicy?) throws(ConfigError) -> JourneyRecord {
        try s.rejectUnknownKeys(["schema_version", "id", "version", "status", "migrate", "journey"])
        guard try s.int("schema_version", range: 1...1000) == schemaVersion else { throw s.invalid("schema_version", "must be \(schemaVersion)") }
        let id = try s.string("id")
        guard id == key else { throw s.invalid("id", "\(id) is not the record's key \(key)") }
        let version = try s.int("version", range: 1...1_000_000)
        let status: JourneyStatus = try s.choice("status", default: .active)
        var journey = try Journey.read(s.section("journey"), version: version, policy: policy)
        guard journey.id == id else { throw s.section("journey").invalid("id", "\(journey.id) is not the record's id \(id)") }
        journey.version = version
        var migration: JourneyMigration?
        let m = s.section("migrate")
        if m.exists {
            try m.rejectUnknownKeys(["from_version", "steps"])
            let from = try m.int("from_version", range: 1...1_000_000)
            guard from < version else { throw m.invalid("from_version", "migrates from an earlier version than \(version)") }
            let steps = try m.stringMap("steps")
            for (_, to) in steps where journey.index(of: to) == nil { throw m.section("steps").invalid(to, "\(to) is not a step of version \(version)") }
            migration = JourneyMigration(fromVersion: from, steps: steps)
        }
        return JourneyRecord(journey: journey, status: status, migration: migration)
    }
}
