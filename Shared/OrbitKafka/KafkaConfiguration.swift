import CRdKafka

/// librdkafka properties, passed through untouched (see librdkafka's CONFIGURATION.md), so SASL, TLS
/// and every tuning knob of a managed Kafka work without code changes.
public struct KafkaConfiguration: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// These settings, then `overrides` on top.
    public func merging(_ overrides: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(overrides) { _, new in new })
    }

    /// Producer defaults: idempotent (no duplicates or reordering from internal retries), and keys
    /// placed like the Java client places them (murmur2; librdkafka's own default is CRC32), so
    /// Orbit's records land where every other Kafka client expects them (see ``KeyPartitioner``).
    public static let producerDefaults: [String: String] = [
        "enable.idempotence": "true",
        "partitioner": "murmur2_random",
        // Orbit waits for acknowledgements before committing; Nagle's algorithm would hold small
        // produce requests back for a delayed ACK (~40 ms each time on Linux).
        "socket.nagle.disable": "true",
        "linger.ms": "5",
        "batch.num.messages": "10000",
        // The runtime bounds what is in flight itself (batches in flight); librdkafka's default
        // of 100,000 queued records stalled a stateful service's batch-end burst of outputs.
        "queue.buffering.max.messages": "1000000",
        "statistics.interval.ms": "30000",
    ]

    /// Consumer defaults. Offsets are committed by the runtime after outputs are acknowledged,
    /// never automatically. One assignment strategy everywhere: members of one group that list
    /// different strategies cannot agree (and crash librdkafka's mock broker).
    public static let consumerDefaults: [String: String] = [
        "socket.nagle.disable": "true",
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range,roundrobin",
        "enable.partition.eof": "false",
        "statistics.interval.ms": "30000",
    ]

    /// Settings the at-least-once contract depends on; applied last, they cannot be overridden.
    static let manualCommit: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
    ]

    /// Consumer-only properties (librdkafka CONFIGURATION.md, column C), dropped from a producer's
    /// configuration so one shared `kafka:` section serves both without warnings.
    static let consumerOnly: Set<String> = [
        "group.id", "group.instance.id", "partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms",
        "group.protocol.type", "coordinator.query.interval.ms", "max.poll.interval.ms", "enable.auto.commit",
        "auto.commit.interval.ms", "enable.auto.offset.store", "queued.min.messages", "queued.max.messages.kbytes",
        "fetch.wait.max.ms", "fetch.message.max.bytes", "max.partition.fetch.bytes", "fetch.max.bytes", "fetch.min.bytes",
        "fetch.error.backoff.ms", "isolation.level", "enable.partition.eof", "check.crcs", "auto.offset.reset",
        "consume.callback.max.messages", "allow.auto.create.topics",
    ]

    /// Producer-only properties (column P), dropped from a consumer's configuration.
    static let producerOnly: Set<String> = [
        "transactional.id", "transaction.timeout.ms", "enable.idempotence", "enable.gapless.guarantee",
        "queue.buffering.max.messages", "queue.buffering.max.kbytes", "queue.buffering.max.ms", "linger.ms",
        "message.send.max.retries", "retries", "retry.backoff.ms", "queue.buffering.backpressure.threshold",
        "compression.codec", "compression.type", "batch.num.messages", "batch.size", "delivery.report.only.error",
        "request.required.acks", "acks", "request.timeout.ms", "message.timeout.ms", "delivery.timeout.ms",
        "partitioner", "compression.level", "sticky.partitioning.linger.ms",
    ]

    /// These settings without the properties that belong to the other client role.
    func forRole(producer: Bool) -> KafkaConfiguration {
        let drop = producer ? Self.consumerOnly : Self.producerOnly
        return KafkaConfiguration(properties.filter { !drop.contains($0.key) })
    }

    /// Builds an `rd_kafka_conf_t`, naming the property librdkafka rejects.
    func makeNativeConfiguration() throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                // librdkafka's reason may quote the value; a secret's value is never shown.
                let reason = Self.isSecret(key) ? "not accepted (the value is a secret and is not shown)" : errorBuffer.decodedCString
                throw .configuration("Kafka property \(key): \(reason)")
            }
        }
        return conf
    }

    /// Checks every property against librdkafka now (unknown names, bad values), so a mistake is
    /// a configuration error at start-up rather than a failure when the first client is made.
    public func validate() throws(KafkaError) {
        rd_kafka_conf_destroy(try makeNativeConfiguration())
    }

    /// Properties whose values are credentials: never logged, never in an error message.
    public static func isSecret(_ key: String) -> Bool {
        let key = key.lowercased()
        return key.contains("password") || key.contains("secret") || key.hasSuffix(".pem") || key == "sasl.oauthbearer.config"
            || key == "ssl.key.pem" || key == "ssl_key" || key.hasSuffix(".key")
    }

    /// The properties with every secret's value replaced, for logs and diagnostics.
    public var redacted: [String: String] {
        properties.reduce(into: [:]) { result, entry in result[entry.key] = Self.isSecret(entry.key) ? "(secret)" : entry.value }
    }
}
