import CRdKafka
import Foundation
import Logging
import Metrics
import Synchronization

/// What librdkafka's C callbacks reach through the handle's opaque pointer: the logger, the
/// statistics gauges, and (for consumers) the rebalance listener.
///
/// `@unchecked Sendable`: `logger` and `name` are immutable and Sendable. `rebalanceListener` is
/// set once before the handle exists and only ever called from `rebalanceCallback`, which librdkafka
/// runs on the thread inside `rd_kafka_consumer_poll` (never concurrently with another poll of the
/// same consumer); the listener is therefore confined to the consumer's polling thread.
final class ClientContext: @unchecked Sendable {
    let logger: Logger
    let name: String
    weak var rebalanceListener: (any RebalanceListener)?
    /// An assignment librdkafka refused inside the rebalance callback (which cannot throw); the
    /// next `poll` throws it. Confined to the polling thread like `rebalanceListener`.
    var rebalanceFailure: KafkaError?
    /// Errors seen by this client, for `/health`.
    let health = ClientHealth()
    private let statistics: KafkaStatisticsGauges

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
        self.statistics = KafkaStatisticsGauges(client: name)
    }

    /// Registers the log and statistics callbacks and points the configuration's opaque at self.
    /// The owner keeps `self` alive for as long as the handle lives.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let context = ClientContext.from(rk) else { return }
            let text = "\(facility.map { String(cString: $0) } ?? "-"): \(message.map { String(cString: $0) } ?? "")"
            let swiftLevel: Logger.Level = switch level {
            case 0...2: .critical
            case 3: .error
            case 4: .warning
            case 5: .notice
            case 6: .info
            default: .debug
            }
            context.logger.log(level: swiftLevel, "\(text)", metadata: ["kafka.client": "\(context.name)"])
        }
        rd_kafka_conf_set_stats_cb(conf) { rk, json, length, _ in
            guard let rk, let json, let context = ClientContext.from(rk) else { return 0 }
            context.statistics.record(json.withMemoryRebound(to: UInt8.self, capacity: length) { Data(UnsafeBufferPointer(start: $0, count: length)) })
            return 0  // librdkafka frees the JSON
        }
        rd_kafka_conf_set_error_cb(conf) { rk, code, reason, _ in
            guard let rk, let context = ClientContext.from(rk) else { return }
            let error = KafkaError(code: rd_kafka_resp_err_t(rawValue: code), message: reason.map { String(cString: $0) })
            // Transport errors are routine (a broker restarting); librdkafka reconnects by itself.
            context.health.failed(error)
            context.logger.warning("kafka client error: \(error)", metadata: ["kafka.client": "\(context.name)"])
        }
    }

    static func from(_ rk: OpaquePointer) -> ClientContext? {
        guard let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// librdkafka's statistics (`statistics.interval.ms`) as swift-metrics gauges.
final class KafkaStatisticsGauges: Sendable {
    private let gauges: [(field: String, gauge: Gauge)]

    /// Top-level counters of librdkafka's statistics JSON (see its STATISTICS.md).
    static let fields = ["msg_cnt", "msg_size", "replyq", "tx", "tx_bytes", "rx", "rx_bytes", "txmsgs", "rxmsgs", "metadata_cache_cnt"]

    init(client: String) {
        gauges = Self.fields.map { ($0, Gauge(label: "kafka_client_\($0)", dimensions: [("client", client)])) }
    }

    func record(_ json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return }
        for (field, gauge) in gauges {
            if let value = object[field] as? NSNumber { gauge.record(value.doubleValue) }
        }
    }
}

/// Told when the consumer group gives this member partitions or takes them away. Called on the
/// consumer's polling thread, inside `poll`, before the assignment changes: a listener that
/// finishes and commits its in-flight work in `partitionsRevoked` loses nothing to a rebalance.
public protocol RebalanceListener: AnyObject {
    func partitionsAssigned(_ partitions: [TopicPartition])
    func partitionsRevoked(_ partitions: [TopicPartition])
}

extension [CChar] {
    /// The text of a NUL-terminated C string buffer (librdkafka's error buffers).
    var decodedCString: String {
        String(decoding: prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Converts between Swift values and librdkafka's `rd_kafka_topic_partition_list_t`.
enum NativePartitionList {
    static func make(_ offsets: [TopicPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for entry in offsets {
            let element = rd_kafka_topic_partition_list_add(list, entry.topicPartition.topic, entry.topicPartition.partition)!
            element.pointee.offset = entry.offset
        }
        return list
    }

    static func make(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        make(partitions.map { TopicPartitionOffset($0, offset: TopicPartitionOffset.stored) })
    }

    static func read(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [(TopicPartitionOffset, rd_kafka_resp_err_t)] {
        (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return (TopicPartitionOffset(TopicPartition(String(cString: element.topic), element.partition), offset: element.offset), element.err)
        }
    }
}

/// Errors a client met since it last worked: repeated ones mean the service is degraded, which
/// `/health` says with the last error. Written by librdkafka's callbacks and the polling thread.
public final class ClientHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// Errors since the last successful poll.
        public var consecutiveErrors = 0
        public var lastError: String?

        public init(consecutiveErrors: Int = 0, lastError: String? = nil) {
            self.consecutiveErrors = consecutiveErrors
            self.lastError = lastError
        }
    }

    private let value = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { value.withLock { $0 } }

    func failed(_ error: KafkaError) {
        value.withLock {
            $0.consecutiveErrors += 1
            $0.lastError = "\(error)"
        }
    }

    func succeeded() {
        value.withLock { if $0.consecutiveErrors != 0 { $0.consecutiveErrors = 0 } }
    }
}
