/// Why an input record was rejected. The code is part of the public contract (docs/CONTRACT.md):
/// codes are only ever added, never renamed or reused.
public enum RejectionCode: String, Sendable, CaseIterable {
    /// The record has no value (null or empty).
    case emptyPayload = "empty_payload"
    /// The value is larger than the configured limit; it was not parsed.
    case payloadTooLarge = "payload_too_large"
    /// The value is not valid UTF-8.
    case invalidEncoding = "invalid_encoding"
    /// The value is not well-formed JSON.
    case malformedJSON = "malformed_json"
    /// An object repeats a key.
    case duplicateKey = "duplicate_key"
    /// Nested deeper than allowed.
    case nestingTooDeep = "nesting_too_deep"
    /// The JSON value is not an object.
    case notAnObject = "not_an_object"
    /// A required field is missing or null.
    case missingField = "missing_field"
    /// A top-level field the contract does not define.
    case unknownField = "unknown_field"
    /// A field has the wrong JSON type.
    case wrongType = "wrong_type"
    /// A field has the right type but an unacceptable value (length, characters, range).
    case invalidValue = "invalid_value"
    /// `schema_version` names a version this deployment does not understand.
    case unsupportedSchemaVersion = "unsupported_schema_version"
    /// `type` is neither built in nor declared in configuration.
    case unknownEventType = "unknown_event_type"
    /// `time` is not an RFC 3339 date-time with an offset.
    case invalidTime = "invalid_time"
    /// `time` is further in the future than the configured skew allows.
    case timeInFuture = "time_in_future"
    /// An amount is negative, not a decimal, too large or more precise than its currency.
    case invalidAmount = "invalid_amount"
    /// A currency that is not in the configured list.
    case unknownCurrency = "unknown_currency"
    /// A record on a service's own input (`orbit.user-events.valid`, commands, internal topics) that
    /// the service cannot decode. Written to that service's dead-letter topic.
    case undecodableRecord = "undecodable_record"
    /// A record that must be keyed by user id has no key, so it cannot be placed.
    case missingKey = "missing_key"
}

/// A rejected record's reason: the code, the field (as a dotted path such as `properties.amount`)
/// and a sentence for people.
public struct EventRejection: Error, Sendable, Equatable {
    public let code: RejectionCode
    public let field: String?
    public let message: String

    public init(_ code: RejectionCode, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }
}
