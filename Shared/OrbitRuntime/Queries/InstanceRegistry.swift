import Foundation
import Logging
import OrbitContract
import OrbitKafka
import ServiceLifecycle

/// Where a service's instances answer queries: each instance publishes its advertised address and
/// the input partitions it holds on `orbit.instances` (compacted, key `<service> <url>`) whenever
/// they change, and reads the topic whole, so a query for a key held elsewhere is answered 307
/// with the owner's address (Kafka Streams' `queryMetadataForKey`, over Kafka instead of its
/// rebalance protocol). A stopping instance writes its tombstone; one that crashed is replaced
/// by the next owner's record as soon as the group gives its partitions away.
public final class InstanceRegistry: Service, Sendable {
    /// One instance as its record says.
    public struct Instance: Sendable, Equatable {
        public var service: String
        public var url: String
        public var partitions: [String: [Int32]]
        public var updatedMillis: Int64
    }

    let service: String
    let url: String
    let topic: String
    let statuses: [PipelineStatus]
    let kafka: KafkaConfiguration
    let logger: Logger
    private let known = SharedValue<[String: Instance]>([:])

    public init(service: String, url: String, topic: String = OrbitTopics.instances, statuses: [PipelineStatus], kafka: KafkaConfiguration, logger: Logger) {
        self.service = service
        self.url = url
        self.topic = topic
        self.statuses = statuses
        self.kafka = kafka
        self.logger = logger
    }

    var key: String { "\(service) \(url)" }

    /// The address of another instance of this service holding `partition` of `topic`.
    public func owner(topic: String, partition: Int32) -> String? {
        known.value.values.filter { $0.service == service && $0.url != url && $0.partitions[topic]?.contains(partition) == true }
            .max { $0.updatedMillis < $1.updatedMillis }?.url
    }

    /// The instances known so far, by key.
    public var instances: [String: Instance] { known.value }

    /// Publishes this instance's partitions whenever they change (and every 30 s), reads the
    /// others', until the service group shuts down; then writes the tombstone.
    public func run() async throws {
        var properties = kafka.properties
        for key in ["group.id", "group.instance.id", "transactional.id"] { properties[key] = nil }
        let configuration = KafkaConfiguration(properties)
        var clients: (producer: KafkaProducer, consumer: KafkaConsumer)?
        defer {
            clients?.consumer.close()
            clients?.producer.close(timeout: .seconds(5))
        }
        var published: [String: [Int32]]?
        var publishedAt = ContinuousClock.now
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    // Made here, and made again after a failure: a missing topic or an unreachable
                    // broker costs redirects, never the service.
                    if clients == nil {
                        let producer = try KafkaProducer(configuration: configuration, name: "instances", logger: logger)
                        let consumer = try KafkaConsumer(configuration: configuration, name: "instances", logger: logger)
                        clients = (producer, consumer)
                        let partitions = try consumer.partitionCount(of: topic)
                        try consumer.assign((0..<partitions).map { TopicPartitionOffset(TopicPartition(topic, Int32($0)), offset: TopicPartitionOffset.beginning) })
                    }
                    guard let (producer, consumer) = clients else { continue }
                    while let record = try consumer.poll(timeout: .zero) { apply(record) }
                    let held = holding()
                    if held != published || ContinuousClock.now - publishedAt > .seconds(30) {
                        try await producer.send(ProducerRecord(topic: topic, key: Array(key.utf8), value: Self.encode(Instance(
                            service: service, url: url, partitions: held, updatedMillis: Int64(Date().timeIntervalSince1970 * 1000)))))
                        published = held
                        publishedAt = .now
                    }
                } catch {
                    logger.warning("instances (\(topic)): \(error); redirects wait for it, retrying in 5 s")
                    clients?.consumer.close()
                    clients?.producer.close(timeout: .seconds(1))
                    clients = nil
                    try? await Task.sleep(for: .seconds(5))
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        } onGracefulShutdown: {}
        if let producer = clients?.producer {
            _ = try? await producer.send(ProducerRecord(topic: topic, key: Array(key.utf8), value: nil))
        }
    }

    /// The partitions this instance's pipelines hold, by topic.
    func holding() -> [String: [Int32]] {
        var held: [String: Set<Int32>] = [:]
        for status in statuses { for partition in status.snapshot.assigned { held[partition.topic, default: []].insert(partition.partition) } }
        return held.mapValues { $0.sorted() }
    }

    func apply(_ record: ConsumerRecord) {
        guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { return }
        let instance = record.value.flatMap(Self.decode)
        var table = known.value
        table[key] = instance
        known.value = table
    }

    static func encode(_ instance: Instance) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("service"); w.string(instance.service)
        w.field("url"); w.string(instance.url)
        w.field("partitions"); w.beginObject()
        for (topic, partitions) in instance.partitions.sorted(by: { $0.key < $1.key }) {
            w.key(topic); w.beginArray(); for p in partitions { w.int(Int64(p)) }; w.endArray()
        }
        w.endObject()
        w.field("updated"); w.timestamp(millis: instance.updatedMillis)
        w.endObject()
        return w.bytes
    }

    /// An instance record, or nil for one this version does not read (it is ignored, not fatal:
    /// the registry only guides redirects).
    public static func decode(_ bytes: [UInt8]) -> Instance? {
        guard case .object(let o)? = try? JSONParser.parse(bytes), let service = o["service"]?.stringValue, let url = o["url"]?.stringValue,
              case .object(let topics)? = o["partitions"], let updated = o["updated"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { return nil }
        var partitions: [String: [Int32]] = [:]
        for member in topics.members {
            partitions[member.key] = member.value.arrayValue?.compactMap { $0.numberValue?.int64Value.flatMap { Int32(exactly: $0) } } ?? []
        }
        return Instance(service: service, url: url, partitions: partitions, updatedMillis: updated)
    }
}
