import CRdKafka
import Logging

/// Cluster administration: creating topics with their partition counts and configs.
///
/// Production Kafka answers CreateTopics; librdkafka's mock broker does not (it closes the
/// connection), so the local broker creates Orbit's topics itself instead (see ``LocalBroker``).
public final class KafkaAdmin: @unchecked Sendable {
    // `@unchecked Sendable`: wraps a thread-safe librdkafka handle and holds no other mutable state.
    private let handle: OpaquePointer
    private let context: ClientContext

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        context = ClientContext(name: "admin", logger: logger)
        let conf = try configuration.forRole(producer: true).makeNativeConfiguration()
        context.install(on: conf)
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw .configuration(errorBuffer.decodedCString)
        }
        handle = rk
    }

    public enum CreationOutcome: Sendable, Equatable {
        case created
        case alreadyExists
    }

    /// Creates the topics; one that exists already is reported, not an error.
    public func createTopics(_ specs: [TopicSpec], timeout: Duration = .seconds(30)) throws(KafkaError) -> [String: CreationOutcome] {
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errorBuffer, errorBuffer.count) else {
                throw .configuration("topic \(spec.name): \(errorBuffer.decodedCString)")
            }
            newTopics.append(topic)
            for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(topic, key, value)
                guard err.isOK else { throw KafkaError(code: err, message: "topic \(spec.name) config \(key)") }
            }
        }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds(timeout), nil, 0)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, milliseconds(timeout) + 5000) else {
            throw .timedOut("CreateTopics got no answer (a broker without the admin API, such as the local mock, never answers)")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError.isOK else {
            throw KafkaError(code: eventError, message: rd_kafka_event_error_string(event).map { String(cString: $0) })
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { throw .configuration("unexpected admin event") }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [:] }
        var outcomes: [String: CreationOutcome] = [:]
        for index in 0..<count {
            let topicResult = results[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            if err.isOK {
                outcomes[name] = .created
            } else if err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                outcomes[name] = .alreadyExists
            } else {
                throw KafkaError(code: err, message: "creating \(name): \(rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? "")")
            }
        }
        return outcomes
    }

    /// The number of partitions of an existing topic.
    public func partitionCount(of topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Int {
        try KafkaMetadata.partitionCount(handle: handle, topic: topic, timeout: timeout)
    }

    deinit {
        rd_kafka_destroy(handle)
    }
}
