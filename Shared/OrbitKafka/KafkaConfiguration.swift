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

    /// Producer defaults: idempotent (no duplicates or reordering from internal retries).
    public static let producerDefaults: [String: String] = [
        "enable.idempotence": "true",
        "linger.ms": "5",
        "batch.num.messages": "10000",
        "statistics.interval.ms": "30000",
    ]

    /// Consumer defaults. Offsets are committed by the runtime after outputs are acknowledged,
    /// never automatically. One assignment strategy everywhere: members of one group that list
    /// different strategies cannot agree (and crash librdkafka's mock broker).
    public static let consumerDefaults: [String: String] = [
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

    /// Builds an `rd_kafka_conf_t`, naming the property librdkafka rejects.
    func makeNativeConfiguration() throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = errorBuffer.decodedCString
                throw .configuration("Kafka property \(key): \(reason)")
            }
        }
        return conf
    }
}
