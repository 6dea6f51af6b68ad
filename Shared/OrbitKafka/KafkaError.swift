import CRdKafka

/// An error from Kafka or librdkafka, classified so callers can decide what to do.
///
/// - `isRetriable`: the same operation may succeed if tried again (a broker moved, a timeout).
/// - `isFatal`: the client instance is unusable (a fenced transactional producer, an idempotence
///   sequence gap); the service should stop and let its supervisor restart it.
/// - `requiresAbort`: the current transaction must be aborted before going on.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    public let code: Int32
    public let name: String
    public let message: String
    public let isRetriable: Bool
    public let isFatal: Bool
    public let requiresAbort: Bool

    public var description: String { "\(name): \(message)" }

    init(code: rd_kafka_resp_err_t, message: String? = nil, isFatal: Bool = false) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = message ?? String(cString: rd_kafka_err2str(code))
        self.isRetriable = KafkaError.retriableCodes.contains(code.rawValue)
        self.isFatal = isFatal || KafkaError.producerIdentityCodes.contains(code.rawValue)
        self.requiresAbort = false
    }

    /// Errors that say the producer's identity is no longer valid (another instance fenced it, its
    /// epoch or id is gone). librdkafka 2.0 reports some of them only as a failed delivery of an
    /// idempotent producer, without raising its own fatal error; either way the producer must not
    /// be used again, so Orbit treats them as fatal.
    static let producerIdentityCodes: Set<Int32> = Set([
        RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING,
        RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR__FATAL,
    ].map(\.rawValue))

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        let code = rd_kafka_error_code(error)
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_error_name(error))
        self.message = String(cString: rd_kafka_error_string(error))
        self.isRetriable = rd_kafka_error_is_retriable(error) != 0
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        self.requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// A configuration or usage problem found on the Swift side.
    public static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG, message: message)
    }

    public static func timedOut(_ message: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, message: message)
    }

    /// Raised when a commit lost a race with a rebalance: the partitions now belong to another
    /// member, which resumes from the last committed offset (at-least-once).
    public var isRebalanceRace: Bool {
        [RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
         RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR__STATE, RD_KAFKA_RESP_ERR__NO_OFFSET]
            .map(\.rawValue).contains(code)
    }

    static let retriableCodes: Set<Int32> = Set([
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__RESOLVE,
    ].map(\.rawValue))
}

extension rd_kafka_resp_err_t {
    var isOK: Bool { self == RD_KAFKA_RESP_ERR_NO_ERROR }
}
