/// A user event that passed validation, normalised: type in lower case, time in UTC milliseconds,
/// amounts in integer minor units. This is the value of `orbit.user-events.valid` (schema version 1).
public struct UserEvent: Sendable, Equatable {
    /// The contract version this record is written in. See docs/CONTRACT.md for how it evolves.
    public static let schemaVersion = 1

    public let id: String
    public let userID: String
    public let type: EventType
    /// Milliseconds since the Unix epoch, UTC.
    public let timeMillis: Int64
    /// Normalised properties (see docs/CONTRACT.md): known fields converted, unknown ones kept.
    public let properties: JSONObject

    public init(id: String, userID: String, type: EventType, timeMillis: Int64, properties: JSONObject) {
        self.id = id
        self.userID = userID
        self.type = type
        self.timeMillis = timeMillis
        self.properties = properties
    }

    /// The record value on `orbit.user-events.valid`: deterministic bytes, so a replay repeats a
    /// record only as an identical copy.
    public func encoded() -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 256)
        writer.beginObject()
        writer.field("schema_version"); writer.int(Self.schemaVersion)
        writer.field("id"); writer.string(id)
        writer.field("user_id"); writer.string(userID)
        writer.field("type"); writer.string(type.name)
        writer.field("time"); writer.timestamp(millis: timeMillis)
        writer.field("properties"); writer.value(.object(properties))
        writer.endObject()
        return writer.bytes
    }

    /// Reads a record of `orbit.user-events.valid` back (for downstream services and tools).
    public static func decode(_ bytes: some Collection<UInt8>) throws -> UserEvent {
        guard case .object(let object) = try JSONParser.parse(bytes) else { throw DecodingError.notAnObject }
        return try decode(object)
    }

    /// The same from an already parsed record (a reader that also needs the object itself parses once).
    public static func decode(_ object: JSONObject) throws -> UserEvent {
        guard let id = object["id"]?.stringValue, let user = object["user_id"]?.stringValue,
              let type = object["type"]?.stringValue, let time = object["time"]?.stringValue else { throw DecodingError.missingField }
        // `properties` is optional on input; a record without it (another producer of `.valid`)
        // means no properties, as it does at ingestion.
        let properties: JSONObject
        switch object["properties"] {
        case nil, .null?: properties = JSONObject()
        case .object(let given)?: properties = given
        default: throw DecodingError.missingField
        }
        return UserEvent(id: id, userID: user, type: EventType(type), timeMillis: try RFC3339.parse(time), properties: properties)
    }

    public enum DecodingError: Error { case notAnObject, missingField }
}
