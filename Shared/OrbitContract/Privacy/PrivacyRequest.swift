/// A data-protection request on `orbit.privacy-requests` (key: the user id), published by
/// `orbit forget` or by another system:
///
/// ```json
/// {"schema_version":1,"type":"erase","request_id":"gdpr-7","user_id":"u-42","requested_at":"2026-12-01T09:00:00.000Z"}
/// ```
///
/// Every service acts on it for the keys it owns and answers with a ``PrivacyReceipt``.
public struct PrivacyRequest: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Erase everything held about the user (the right to be forgotten).
        case erase
    }

    /// Why a request cannot be used (it then goes to the service's dead letters).
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let field: String?
        public let message: String
        public var description: String { field.map { "\($0): \(message)" } ?? message }
    }

    public static let maxBytes = 4096

    public var kind: Kind
    public var requestID: String
    public var userID: String
    public var requestedAtMillis: Int64

    public init(kind: Kind = .erase, requestID: String, userID: String, requestedAtMillis: Int64) {
        self.kind = kind
        self.requestID = requestID
        self.userID = userID
        self.requestedAtMillis = requestedAtMillis
    }

    /// Reads a request; its `user_id` must equal the record key, so a request can only act on the
    /// partition that holds its user.
    public static func decode(_ bytes: [UInt8], key: String) throws(Invalid) -> PrivacyRequest {
        guard bytes.count <= maxBytes else { throw Invalid(field: nil, message: "larger than \(maxBytes) bytes") }
        guard let object = (try? JSONParser.parse(bytes))?.objectValue else { throw Invalid(field: nil, message: "not a JSON object") }
        guard object["schema_version"]?.numberValue?.int64Value == 1 else { throw Invalid(field: "schema_version", message: "must be 1") }
        guard let type = object["type"]?.stringValue, let kind = Kind(rawValue: type) else {
            throw Invalid(field: "type", message: "must be one of: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func identifier(_ field: String) throws(Invalid) -> String {
            guard let value = object[field]?.stringValue else { throw Invalid(field: field, message: "is required (a string)") }
            if let violation = IdentifierRules.violation(value) { throw Invalid(field: field, message: violation.description) }
            return value
        }
        let requestID = try identifier("request_id")
        let userID = try identifier("user_id")
        guard userID == key else { throw Invalid(field: "user_id", message: "does not match the record key") }
        guard let at = object["requested_at"]?.stringValue, let millis = try? RFC3339.parse(at) else {
            throw Invalid(field: "requested_at", message: "is required (an RFC 3339 time)")
        }
        return PrivacyRequest(kind: kind, requestID: requestID, userID: userID, requestedAtMillis: millis)
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema_version"); w.int(1)
        w.key("type"); w.string(kind.rawValue)
        w.key("request_id"); w.string(requestID)
        w.key("user_id"); w.string(userID)
        w.key("requested_at"); w.timestamp(millis: requestedAtMillis)
        w.endObject()
        return w.bytes
    }
}

/// What one service did for one request, on `orbit.privacy-receipts` (key: the request id). It
/// names the user only by its pseudonym (`subject`), so the receipts topic itself holds nothing
/// to erase:
///
/// ```json
/// {"schema_version":1,"request_id":"gdpr-7","subject":"p1:9c…","service":"orbit-scorer","type":"erase",
///  "erased":["user state"],"tombstones":{"orbit.user-profiles":1},"time":"2026-12-01T09:00:00.000Z"}
/// ```
public struct PrivacyReceipt: Sendable, Equatable {
    public var requestID: String
    public var subject: String
    public var service: String
    public var kind: PrivacyRequest.Kind
    /// What was erased, in words ("user state", "member account and lots").
    public var erased: [String]
    /// Tombstones written, per topic.
    public var tombstones: [String: Int]
    /// Anything else the requester should know (for example what stays until retention).
    public var notes: [String]
    public var timeMillis: Int64

    public init(requestID: String, subject: String, service: String, kind: PrivacyRequest.Kind = .erase, erased: [String], tombstones: [String: Int],
                notes: [String] = [], timeMillis: Int64) {
        self.requestID = requestID
        self.subject = subject
        self.service = service
        self.kind = kind
        self.erased = erased
        self.tombstones = tombstones
        self.notes = notes
        self.timeMillis = timeMillis
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema_version"); w.int(1)
        w.key("request_id"); w.string(requestID)
        w.key("subject"); w.string(subject)
        w.key("service"); w.string(service)
        w.key("type"); w.string(kind.rawValue)
        w.key("erased"); w.beginArray(); for item in erased { w.string(item) }; w.endArray()
        w.key("tombstones"); w.beginObject(); for (topic, count) in tombstones.sorted(by: { $0.key < $1.key }) { w.key(topic); w.int(count) }; w.endObject()
        w.key("notes"); w.beginArray(); for note in notes { w.string(note) }; w.endArray()
        w.key("time"); w.timestamp(millis: timeMillis)
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) -> PrivacyReceipt? {
        guard let o = (try? JSONParser.parse(bytes))?.objectValue, let request = o["request_id"]?.stringValue, let subject = o["subject"]?.stringValue,
              let service = o["service"]?.stringValue, let kind = o["type"]?.stringValue.flatMap(PrivacyRequest.Kind.init(rawValue:)),
              let time = o["time"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { return nil }
        var tombstones: [String: Int] = [:]
        for (topic, count) in o["tombstones"]?.objectValue?.members ?? [] { tombstones[topic] = count.numberValue?.int64Value.map { Int($0) } ?? 0 }
        return PrivacyReceipt(requestID: request, subject: subject, service: service, kind: kind,
                              erased: (o["erased"]?.arrayValue ?? []).compactMap(\.stringValue), tombstones: tombstones,
                              notes: (o["notes"]?.arrayValue ?? []).compactMap(\.stringValue), timeMillis: time)
    }
}
