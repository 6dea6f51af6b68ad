/// A valid event as ingestion forwards it: the `orbit.user-events.valid` record's value and the
/// fields the runtime needs beside it (the id to deduplicate on, the key that places it, its time).
public struct ValidEventRecord: Sendable, Equatable {
    public let id: String
    /// The user id's UTF-8 bytes: the record's key, so a user's events share a partition.
    public let key: [UInt8]
    /// The event's time, milliseconds since the Unix epoch (UTC): the record's timestamp.
    public let timeMillis: Int64
    /// ``UserEvent/encoded()`` of the normalised event.
    public let value: [UInt8]

    public init(id: String, key: [UInt8], timeMillis: Int64, value: [UInt8]) {
        self.id = id
        self.key = key
        self.timeMillis = timeMillis
        self.value = value
    }

    public init(_ event: UserEvent) {
        self.init(id: event.id, key: Array(event.userID.utf8), timeMillis: event.timeMillis, value: event.encoded())
    }
}

extension EventValidator {
    /// Validates and normalises one input record into the bytes ingestion forwards.
    ///
    /// The same answer as ``validate(_:referenceTimeMillis:)`` followed by
    /// ``UserEvent/encoded()``, byte for byte; the common event (printable ASCII, no escapes,
    /// one of the frequent kinds) is read in one pass over its bytes, without building a JSON
    /// tree, and everything else by the full validator (see ``OnePassEventReader``).
    public func validateRecord(_ payload: [UInt8]?, referenceTimeMillis: Int64) -> Result<ValidEventRecord, EventRejection> {
        if let payload, let record = validateRecordInOnePass(payload, referenceTimeMillis: referenceTimeMillis) {
            return .success(record)
        }
        return validateRecordInFull(payload, referenceTimeMillis: referenceTimeMillis)
    }

    /// The one-pass reader alone: nil when it leaves the record to the full validator.
    public func validateRecordInOnePass(_ payload: [UInt8], referenceTimeMillis: Int64) -> ValidEventRecord? {
        OnePassEventReader(policy: policy).read(payload, referenceTimeMillis: referenceTimeMillis)
    }

    /// The full validator alone: the reference the one-pass reader is tested against.
    public func validateRecordInFull(_ payload: [UInt8]?, referenceTimeMillis: Int64) -> Result<ValidEventRecord, EventRejection> {
        validate(payload, referenceTimeMillis: referenceTimeMillis).map(ValidEventRecord.init)
    }
}
