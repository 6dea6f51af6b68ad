import Metrics
import OrbitKafka

/// `orbit_consumer_lag_records{group,topic,partition}`: records of each assigned partition this
/// pipeline has not read yet (the last fetched high watermark minus its position). One series per
/// partition, because a partition has one owner at a time while a group may have several
/// pipelines in one process; `sum by (group)` gives a group's lag. A revoked partition reads 0.
/// Costs no broker call: watermarks come from fetch responses.
struct ConsumerLagGauges {
    let group: String
    private var gauges: [TopicPartition: Gauge] = [:]
    private var lastUpdate: ContinuousClock.Instant?

    init(group: String) { self.group = group }

    /// At most once a second.
    mutating func update(_ consumer: KafkaConsumer, assigned: [TopicPartition]) {
        let now = ContinuousClock.now
        if let lastUpdate, now - lastUpdate < .seconds(1) { return }
        lastUpdate = now
        guard !assigned.isEmpty, let positions = try? consumer.positions(assigned) else { return }
        for partition in assigned {
            guard let high = consumer.cachedWatermarks(partition)?.high else { continue }
            let position = positions[partition] ?? 0
            gauge(partition).record(max(0, high - position))
        }
    }

    mutating func revoked(_ partitions: [TopicPartition]) {
        for partition in partitions { gauge(partition).record(0) }
    }

    private mutating func gauge(_ partition: TopicPartition) -> Gauge {
        if let gauge = gauges[partition] { return gauge }
        let gauge = Gauge(label: "orbit_consumer_lag_records",
                          dimensions: [("group", group), ("topic", partition.topic), ("partition", String(partition.partition))])
        gauges[partition] = gauge
        return gauge
    }
}
