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
    // here (topic creation, bootstraps, faults, destroy) are thread-safe in librdkafka (they take
    // the cluster lock or post to its thread), and `stop()` is
    // guarded so the cluster and handle are destroyed once, cluster first.
    private var handle: OpaquePointer?
    private var cluster: OpaquePointer?
    public let bootstrapServers: String
    /// Listening sockets found and set to TCP_NODELAY at start (one per broker when all went well).
    public let listenersWithNoDelay: Int
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
        listenersWithNoDelay = Self.disableNagle(onListenersOf: bootstrapServers)
        if listenersWithNoDelay < brokers { logger.warning("local broker: TCP_NODELAY set on \(listenersWithNoDelay) of \(brokers) listening sockets; replies on the others may wait for delayed ACKs (~40 ms)") }
        for topic in topics { try createTopic(topic) }
        logger.info("local broker listening on \(bootstrapServers)")
    }

    /// Sets TCP_NODELAY on the mock's listening sockets (Linux hands it on to every connection they
    /// accept); returns how many it found.
    ///
    /// Apache Kafka's brokers set TCP_NODELAY on their connections; the mock cluster does not. With
    /// Nagle's algorithm on the broker side, a reply written in pieces after an idle moment waited
    /// for the client's delayed ACK: measured, 1,000 records acknowledged in 47 ms instead of 7, and
    /// every hop of a pipeline paid it. The mock keeps its sockets private, so they are found among
    /// this process's descriptors: a listening TCP socket bound to one of the bootstrap ports.
    static func disableNagle(onListenersOf bootstraps: String) -> Int {
        let ports = Set(bootstraps.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? Array(0..<1024)
        var found = 0
        for fd in descriptors {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            guard named == 0, address.sin_family == sa_family_t(AF_INET), ports.contains(UInt16(bigEndian: address.sin_port)) else { continue }
            var listening: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0, listening == 1 else { continue }
            var on: Int32 = 1
            if setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 { found += 1 }
        }
        return found
    }

    /// Creates a topic with its partition count. (Topic configs such as compaction are not modelled
    /// by the mock.) Topics a client asks for that do not exist are auto-created with 4 partitions.
    public func createTopic(_ spec: TopicSpec) throws(KafkaError) {
        guard let cluster else { throw .configuration("local broker stopped") }
        let err = rd_kafka_mock_topic_create(cluster, spec.name, Int32(spec.partitions), 1)
        guard err.isOK else { throw KafkaError(code: err, message: "creating topic \(spec.name)") }
    }

    // MARK: Faults (librdkafka's mock cluster injects them; `orbit broker --faults`, the chaos tests)

    /// Disconnects a broker (mock ids start at 1; nil: every broker) and refuses new connections
    /// until ``setUp(broker:)``. Leadership does not move, as when a single-node Kafka goes away.
    public func setDown(broker: Int32? = nil) throws(KafkaError) {
        try withCluster("setting a broker down") { rd_kafka_mock_broker_set_down($0, broker ?? -1) }
    }

    /// Lets a broker (nil: every broker) accept connections again.
    public func setUp(broker: Int32? = nil) throws(KafkaError) {
        try withCluster("setting a broker up") { rd_kafka_mock_broker_set_up($0, broker ?? -1) }
    }

    /// Delays every response of a broker (nil: every broker) by `milliseconds`; 0 removes the delay.
    public func setRoundTrip(milliseconds: Int, broker: Int32? = nil) throws(KafkaError) {
        try withCluster("setting the round-trip time") { rd_kafka_mock_broker_set_rtt($0, broker ?? -1, Int32(milliseconds)) }
    }

    /// Makes the next `errors.count` requests of protocol API `apiKey` (Produce is 0, Fetch 1,
    /// OffsetCommit 8, ...) fail with these Kafka error codes, one each, in order.
    public func failNextRequests(apiKey: Int16, errors: [Int32]) throws(KafkaError) {
        guard let cluster = lock.withLock({ self.cluster }) else { throw .configuration("local broker stopped") }
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, apiKey, codes.count, $0.baseAddress) }
    }

    /// Moves the leadership of one partition to another broker (clients see NOT_LEADER and follow).
    public func setLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        try withCluster("moving the leader of \(topic)/\(partition)") { rd_kafka_mock_partition_set_leader($0, topic, partition, broker) }
    }

    private func withCluster(_ what: String, _ body: (OpaquePointer) -> rd_kafka_resp_err_t) throws(KafkaError) {
        guard let cluster = lock.withLock({ self.cluster }) else { throw .configuration("local broker stopped") }
        let err = body(cluster)
        guard err.isOK else { throw KafkaError(code: err, message: what) }
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

