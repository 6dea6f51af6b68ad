import CRdKafka
import Foundation
import Logging

/// Orbit's embedded default broker: librdkafka's mock cluster, speaking the real Kafka protocol
/// over TCP on ephemeral ports of 127.0.0.1.
///
/// Its limits (measured at librdkafka 2.0.2; see README "The local broker"): about 5 MiB kept per
/// partition, no transaction markers, no compaction, no CreateTopics, memory only. Orbit's code
/// never relies on it behaving differently from Apache Kafka; it is a stand-in for development,
/// tests and demos.
public final class LocalBroker: @unchecked Sendable {
    // `@unchecked Sendable`: the mock cluster is driven by its own librdkafka thread; the calls made
    // here (topic creation, bootstraps, destroy) are documented thread-safe, and `stop()` is
    // guarded so the cluster and handle are destroyed once, cluster first.
    private var handle: OpaquePointer?
    private var cluster: OpaquePointer?
    public let bootstrapServers: String
    private let lock = NSLock()

    public init(brokers: Int = 1, topics: [TopicSpec] = [], logger: Logger = Logger(label: "orbit.local-broker")) throws(KafkaError) {
        // A producer handle that never connects anywhere hosts the cluster.
        let conf = try KafkaConfiguration(["log_level": "3"]).makeNativeConfiguration()
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw .configuration(errorBuffer.decodedCString)
        }
        guard let mock = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw .configuration("the mock cluster could not start")
        }
        handle = rk
        cluster = mock
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        for topic in topics { try createTopic(topic) }
        logger.info("local broker listening on \(bootstrapServers)")
    }

    /// Creates a topic with its partition count. (Topic configs such as compaction are not modelled
    /// by the mock.) Topics a client asks for that do not exist are auto-created with 4 partitions.
    public func createTopic(_ spec: TopicSpec) throws(KafkaError) {
        guard let cluster else { throw .configuration("local broker stopped") }
        let err = rd_kafka_mock_topic_create(cluster, spec.name, Int32(spec.partitions), 1)
        guard err.isOK else { throw KafkaError(code: err, message: "creating topic \(spec.name)") }
    }

    /// Stops the brokers. Cluster first: destroying the hosting handle first trips an assertion.
    public func stop() {
        lock.withLock {
            if let cluster { rd_kafka_mock_cluster_destroy(cluster) }
            if let handle { rd_kafka_destroy(handle) }
            cluster = nil
            handle = nil
        }
    }

    deinit {
        stop()
    }
}

