import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka consumer: either a member of a consumer group (`subscribe`) or reading partitions it
/// chooses (`assign`). Offsets are committed by the caller (`commit`) after its outputs are safe.
///
/// `@unchecked Sendable`: librdkafka's consumer handle is thread-safe; the Swift-side state
/// (`isClosed`, the topic-name cache) is guarded by atomics and a mutex. Rebalance callbacks run on
/// whichever thread calls `poll` (see ``RebalanceListener``).
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let context: ClientContext
    private let isClosed = StopFlag()
    private let topicNames = Mutex<[Int: String]>([:])
    public let logger: Logger

    /// - Parameters:
    ///   - configuration: librdkafka properties; `group.id` is required for `subscribe` and `commit`.
    ///   - rebalanceListener: told of assignments and revocations (held weakly).
    public init(configuration: KafkaConfiguration, name: String = "consumer", logger: Logger, rebalanceListener: (any RebalanceListener)? = nil) throws(KafkaError) {
        self.logger = logger
        self.context = ClientContext(name: name, logger: logger)
        context.rebalanceListener = rebalanceListener
        var properties = KafkaConfiguration(KafkaConfiguration.consumerDefaults).merging(configuration.forRole(producer: false).properties)
        if properties["group.id"] == nil {
            // Assign-only readers (tools, state restoration) still need a group id for librdkafka.
            properties["group.id"] = "orbit-reader-\(UUID().uuidString)"
        }
        let conf = try properties.merging(KafkaConfiguration.manualCommit).makeNativeConfiguration()
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, _ in
            guard let rk, let partitions, let context = ClientContext.from(rk) else { return }
            let list = NativePartitionList.read(partitions).map(\.0.topicPartition)
            let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                context.logger.info("partitions assigned: \(PartitionRanges.describe(list))")
                context.rebalanceListener?.partitionsAssigned(list)
                let failure: KafkaError?
                if cooperative {
                    failure = rd_kafka_incremental_assign(rk, partitions).map { KafkaError(consuming: $0) }
                } else {
                    let code = rd_kafka_assign(rk, partitions)
                    failure = code.isOK ? nil : KafkaError(code: code, message: "assigning \(list.count) partitions")
                }
                if let failure { context.rebalanceFailure = context.rebalanceFailure ?? failure }
            } else {
                context.logger.info("partitions revoked: \(PartitionRanges.describe(list))")
                context.rebalanceListener?.partitionsRevoked(list)
                if cooperative {
                    if let error = rd_kafka_incremental_unassign(rk, partitions) { context.logger.warning("unassign: \(KafkaError(consuming: error))") }
                } else {
                    let code = rd_kafka_assign(rk, nil)
                    if !code.isOK { context.logger.warning("unassign: \(KafkaError(code: code))") }
                }
            }
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw .configuration(errorBuffer.decodedCString)
        }
        self.handle = rk
        rd_kafka_poll_set_consumer(rk)  // logs, stats and rebalances are served by poll
    }

    /// Joins the group and follows these topics.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = NativePartitionList.make(topics.map { TopicPartition($0, RD_KAFKA_PARTITION_UA) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(handle, list)
        guard err.isOK else { throw KafkaError(code: err, message: "subscribing to \(topics)") }
    }

    /// Reads exactly these partitions from these offsets, outside any group rebalancing.
    public func assign(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        let list = NativePartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        guard err.isOK else { throw KafkaError(code: err, message: "assigning \(offsets.count) partitions") }
    }

    /// The next record, or nil when none arrived within `timeout`. Transient errors (a broker
    /// reconnecting) are logged, counted in ``health`` and return nil; fatal ones, and an assignment
    /// librdkafka refused during a rebalance, throw.
    public func poll(timeout: Duration = .milliseconds(100)) throws(KafkaError) -> ConsumerRecord? {
        let message = rd_kafka_consumer_poll(handle, milliseconds(timeout))
        if let failure = context.rebalanceFailure {
            context.rebalanceFailure = nil
            if let message { rd_kafka_message_destroy(message) }
            throw failure
        }
        guard let message else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        guard err.isOK else {
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
            if err == RD_KAFKA_RESP_ERR__FATAL, let fatal = fatalError { throw fatal }
            let detail = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
            let error = KafkaError(code: err, message: detail)
            context.health.failed(error)
            logger.warning("consumer error: \(error)")
            return nil
        }
        context.health.succeeded()
        return record(from: message)
    }

    /// Errors met since the last record arrived (for `/health`).
    public var health: ClientHealth.Snapshot { context.health.snapshot }

    private func record(from message: UnsafeMutablePointer<rd_kafka_message_t>) -> ConsumerRecord {
        let m = message.pointee
        let topic = topicName(m.rkt)
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value: [UInt8]? = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var headers: [KafkaHeader] = []
        var native: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &native).isOK, let native {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var pointer: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(native, index, &name, &pointer, &size).isOK {
                let bytes = pointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name.map { String(cString: $0) } ?? "", bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return ConsumerRecord(topic: topic, partition: m.partition, offset: m.offset, key: key, value: value,
                              headers: headers, timestampMillis: timestamp >= 0 ? timestamp : nil)
    }

    private func topicName(_ rkt: OpaquePointer) -> String {
        let key = Int(bitPattern: UnsafeRawPointer(rkt))
        if let name = topicNames.withLock({ $0[key] }) { return name }
        let name = String(cString: rd_kafka_topic_name(rkt))
        topicNames.withLock { $0[key] = name }
        return name
    }

    /// Commits these offsets (each the offset of the next record to read) for the group.
    public func commit(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = NativePartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_commit(handle, list, 0)
        guard err.isOK else { throw KafkaError(code: err, message: "committing offsets: \(String(cString: rd_kafka_err2str(err)))") }
        for (entry, partitionError) in NativePartitionList.read(list) where !partitionError.isOK {
            throw KafkaError(code: partitionError, message: "committing \(entry.topicPartition): \(String(cString: rd_kafka_err2str(partitionError)))")
        }
    }

    /// The group's committed offsets for these partitions (`TopicPartitionOffset.stored` meaning none).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = NativePartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_committed(handle, list, milliseconds(timeout))
        guard err.isOK else { throw KafkaError(code: err) }
        return NativePartitionList.read(list).map(\.0)
    }

    /// Stops fetching these partitions without leaving the group (back-pressure).
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        let list = NativePartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_pause_partitions(handle, list)
        guard err.isOK else { throw KafkaError(code: err) }
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        let list = NativePartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_resume_partitions(handle, list)
        guard err.isOK else { throw KafkaError(code: err) }
    }

    /// Moves the read position of an assigned partition.
    public func seek(_ position: TopicPartitionOffset, timeout: Duration = .seconds(10)) throws(KafkaError) {
        let list = NativePartitionList.make([position])
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(handle, list, milliseconds(timeout)) { throw KafkaError(consuming: error) }
        for (_, err) in NativePartitionList.read(list) where !err.isOK { throw KafkaError(code: err) }
    }

    /// The next offset this consumer will read from each partition (its position), or nil for a
    /// partition with no position yet. Past transaction markers too, which are never delivered.
    public func positions(_ partitions: [TopicPartition]) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = NativePartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_position(handle, list)
        guard err.isOK else { throw KafkaError(code: err, message: "positions of \(partitions.count) partitions") }
        var result: [TopicPartition: Int64] = [:]
        for (entry, _) in NativePartitionList.read(list) where entry.offset >= 0 { result[entry.topicPartition] = entry.offset }
        return result
    }

    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(handle, &list)
        guard err.isOK, let list else { throw KafkaError(code: err) }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return NativePartitionList.read(list).map(\.0.topicPartition).sorted()
    }

    /// The partition's first and next offsets, asked of the broker.
    public func watermarks(_ partition: TopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, milliseconds(timeout))
        guard err.isOK else { throw KafkaError(code: err, message: "watermarks of \(partition)") }
        return (low, high)
    }

    /// The first and next offsets of many partitions: two requests per leader in all (ListOffsets
    /// for "earliest" and for "latest"), not two per partition, which made a restore of 64
    /// partitions wait seconds before reading anything.
    public func watermarks(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError) -> [TopicPartition: (low: Int64, high: Int64)] {
        guard !partitions.isEmpty else { return [:] }
        func offsets(at logical: Int64) throws(KafkaError) -> [TopicPartition: Int64] {
            let list = NativePartitionList.make(partitions.map { TopicPartitionOffset($0, offset: logical) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_offsets_for_times(handle, list, milliseconds(timeout))
            guard err.isOK else { throw KafkaError(code: err, message: "offsets of \(partitions.count) partitions") }
            var result: [TopicPartition: Int64] = [:]
            for (entry, entryError) in NativePartitionList.read(list) {
                guard entryError.isOK else { throw KafkaError(code: entryError, message: "offsets of \(entry.topicPartition)") }
                result[entry.topicPartition] = entry.offset
            }
            return result
        }
        let lows = try offsets(at: -2)  // earliest (RD_KAFKA_OFFSET_BEGINNING)
        let highs = try offsets(at: -1)  // latest (RD_KAFKA_OFFSET_END)
        var result: [TopicPartition: (low: Int64, high: Int64)] = [:]
        for partition in partitions {
            guard let low = lows[partition], let high = highs[partition] else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, message: "no offsets for \(partition)")
            }
            result[partition] = (low, high)
        }
        return result
    }

    /// The partition's first and next offsets as the last fetch response gave them: no broker call,
    /// nil before this consumer has fetched from it.
    public func cachedWatermarks(_ partition: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard err.isOK, high >= 0 else { return nil }
        return (low, high)
    }

    /// The number of partitions of a topic, from the cluster's metadata.
    public func partitionCount(of topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Int {
        try KafkaMetadata.partitionCount(handle: handle, topic: topic, timeout: timeout)
    }

    func groupMetadata() -> OpaquePointer {
        rd_kafka_consumer_group_metadata(handle)
    }

    public var fatalError: KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        return err.isOK ? nil : KafkaError(code: err, message: buffer.decodedCString, isFatal: true)
    }

    /// Leaves the group (revoking partitions through the listener) and releases the client.
    public func close() {
        guard isClosed.setOnce() else { return }
        let err = rd_kafka_consumer_close(handle)
        if !err.isOK { logger.warning("consumer close: \(KafkaError(code: err))") }
        rd_kafka_destroy(handle)
    }

    deinit {
        close()
    }
}

enum KafkaMetadata {
    static func partitionCount(handle: OpaquePointer, topic: String, timeout: Duration) throws(KafkaError) -> Int {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else { throw .configuration("invalid topic \(topic)") }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, milliseconds(timeout))
        guard err.isOK, let metadata else { throw KafkaError(code: err, message: "metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) }
        let t = metadata.pointee.topics[0]
        guard t.err.isOK else { throw KafkaError(code: t.err, message: "metadata of \(topic)") }
        return Int(t.partition_cnt)
    }
}
