import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka producer: keyed records with headers and timestamps, idempotent by default.
///
/// Two ways to send: `send(_:)` awaits one record's acknowledgement; `send(_:in:)` queues a record
/// into a ``DeliveryBatch`` and returns at once, for throughput, and the batch is awaited as a whole.
/// With `transactional.id` set, the transaction calls wrap sends and consumed offsets atomically.
///
/// `@unchecked Sendable`: librdkafka's producer handle is thread-safe (rdkafka.h: every API may be
/// called from any thread except where noted, and none used here is so noted); the only Swift state,
/// `isClosed`, is an atomic.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let context: ClientContext
    private let isClosed = StopFlag()
    private let pollerStopped = DispatchSemaphore(value: 0)
    /// Awaited sends not yet reported, so `close` can end every one of them (librdkafka drops the
    /// reports of records still queued when the client is destroyed).
    private let awaiting = Mutex<[ObjectIdentifier: SingleDelivery]>([:])
    public let logger: Logger

    public init(configuration: KafkaConfiguration, name: String = "producer", logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.context = ClientContext(name: name, logger: logger)
        let conf = try KafkaConfiguration(KafkaConfiguration.producerDefaults).merging(configuration.forRole(producer: true).properties).makeNativeConfiguration()
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            let receiver = Unmanaged<DeliveryReceiver>.fromOpaque(opaque).takeRetainedValue()
            let err = message.pointee.err
            if err.isOK, !receiver.wantsMetadata {
                receiver.delivered(.success(RecordMetadata(topicPartition: TopicPartition("", message.pointee.partition), offset: message.pointee.offset)))
            } else if err.isOK {
                let topic = String(cString: rd_kafka_topic_name(message.pointee.rkt))
                receiver.delivered(.success(RecordMetadata(topicPartition: TopicPartition(topic, message.pointee.partition), offset: message.pointee.offset)))
            } else {
                receiver.delivered(.failure(KafkaError(code: err)))
            }
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw .configuration(errorBuffer.decodedCString)
        }
        self.handle = rk
        startPoller()
    }

    /// Delivery reports are served by a dedicated thread, so neither path needs the caller to poll.
    private func startPoller() {
        let handle = SendableHandle(handle)
        let thread = Thread { [isClosed, pollerStopped] in
            while !isClosed.isSet {
                rd_kafka_poll(handle.pointer, 10)
            }
            pollerStopped.signal()
        }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    /// Sends one record and waits for the broker's acknowledgement. While librdkafka's local queue
    /// is full it suspends (a task sleep), never blocking a thread of the concurrency pool.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        let receiver = SingleDelivery()
        let result = receiver.result
        let id = ObjectIdentifier(receiver)
        awaiting.withLock { $0[id] = receiver }
        defer { awaiting.withLock { _ = $0.removeValue(forKey: id) } }
        do {
            while try !enqueue(record, receiver: receiver) {
                try await Task.sleep(for: .milliseconds(2))
            }
        } catch {
            receiver.delivered(.failure(error as? KafkaError ?? .configuration("\(error)")))
        }
        return try await result.value
    }

    /// Queues a record as part of `batch`; returns once librdkafka has it. While the local queue is
    /// full (back-pressure) it waits on the calling thread for delivery reports to make room (the
    /// runtime calls this from its pipeline thread); it never drops.
    public func send(_ record: ProducerRecord, in batch: DeliveryBatch) throws(KafkaError) {
        batch.willSend()
        do {
            while try !enqueue(record, receiver: batch) {
                // Serves delivery reports on this thread: blocks until one arrives or 10 ms pass.
                rd_kafka_poll(handle, 10)
            }
        } catch {
            batch.sendFailed()
            throw error
        }
    }

    /// Hands the record to librdkafka. Returns false, keeping nothing, when its queue is full.
    private func enqueue(_ record: ProducerRecord, receiver: DeliveryReceiver) throws(KafkaError) -> Bool {
        guard !isClosed.isSet else { throw .configuration("producer is closed") }
        let opaque = Unmanaged.passRetained(receiver).toOpaque()
        var headers: OpaquePointer? = nil
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for header in record.headers {
                if let value = header.value {
                    value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let err = withOptionalBytes(record.key) { keyPointer, keyLength in
            withOptionalBytes(record.value) { valuePointer, valueLength in
                orbit_produce(handle, record.topic, record.partition ?? RD_KAFKA_PARTITION_UA,
                              keyPointer, keyLength, valuePointer, valueLength,
                              headers, record.timestampMillis ?? 0, opaque)
            }
        }
        if err.isOK { return true }
        if let headers { rd_kafka_headers_destroy(headers) }
        Unmanaged<DeliveryReceiver>.fromOpaque(opaque).release()
        if err == RD_KAFKA_RESP_ERR__QUEUE_FULL { return false }
        throw KafkaError(code: err, message: "producing to \(record.topic): \(String(cString: rd_kafka_err2str(err)))")
    }

    /// Learns every topic's partitions now (one metadata request for all topics), so the first
    /// record sent to a topic finds its partitions in librdkafka's metadata cache. Without it, a
    /// topic first named in a send by a client that has been connected a while waits for
    /// librdkafka's once-a-second topic scan: measured, about a second before the first
    /// acknowledgement instead of a few milliseconds.
    public func learnTopics(timeout: Duration = .seconds(10)) throws(KafkaError) {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, milliseconds(timeout))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err.isOK else { throw KafkaError(code: err, message: "metadata of all topics") }
    }

    /// Waits until every queued record is delivered or failed.
    public func flush(timeout: Duration = .seconds(30)) throws(KafkaError) {
        let err = rd_kafka_flush(handle, milliseconds(timeout))
        guard err.isOK else { throw KafkaError(code: err, message: "flush: \(rd_kafka_outq_len(handle)) records still queued") }
    }

    // MARK: Transactions (requires `transactional.id`)

    public func initTransactions(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try check(rd_kafka_init_transactions(handle, milliseconds(timeout)))
    }

    public func beginTransaction() throws(KafkaError) {
        try check(rd_kafka_begin_transaction(handle))
    }

    /// Adds the consumer's offsets to the open transaction: they commit with its records, or not at all.
    public func sendOffsetsToTransaction(_ offsets: [TopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration = .seconds(30)) throws(KafkaError) {
        let list = NativePartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let metadata = consumer.groupMetadata()
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        try check(rd_kafka_send_offsets_to_transaction(handle, list, metadata, milliseconds(timeout)))
    }

    public func commitTransaction(timeout: Duration = .seconds(60)) throws(KafkaError) {
        try check(rd_kafka_commit_transaction(handle, milliseconds(timeout)))
    }

    public func abortTransaction(timeout: Duration = .seconds(60)) throws(KafkaError) {
        try check(rd_kafka_abort_transaction(handle, milliseconds(timeout)))
    }

    private func check(_ error: OpaquePointer?) throws(KafkaError) {
        if let error { throw KafkaError(consuming: error) }
    }

    /// The client's fatal error, if it has one (for example a fenced idempotent producer).
    public var fatalError: KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        return err.isOK ? nil : KafkaError(code: err, message: buffer.decodedCString, isFatal: true)
    }

    /// Flushes what is queued (up to `timeout`), then releases the client. Records still undelivered
    /// then are purged, and their senders are told so (every awaiting `send` resumes with an error,
    /// every batch settles with a failure): nothing waits forever on a closed producer.
    public func close(timeout: Duration = .seconds(30)) {
        guard !isClosed.isSet else { return }
        let err = rd_kafka_flush(handle, milliseconds(timeout))
        if !err.isOK {
            logger.warning("producer closed with \(rd_kafka_outq_len(handle)) undelivered records; purging them")
            _ = rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        }
        guard isClosed.setOnce() else { return }
        pollerStopped.wait()
        // Serve the delivery reports of purged records (and any the poller left) before destroying.
        var rounds = 0
        while rd_kafka_outq_len(handle) > 0, rounds < 100 {
            rd_kafka_poll(handle, 10)
            rounds += 1
        }
        rd_kafka_destroy(handle)
        // Whatever is still awaited was queued too late to be purged: its report will never come.
        for receiver in awaiting.withLock({ Array($0.values) }) {
            receiver.delivered(.failure(.configuration("producer closed before the record was delivered")))
        }
    }

    deinit {
        close(timeout: .seconds(5))
    }
}

func milliseconds(_ duration: Duration) -> Int32 {
    Int32(clamping: duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
}

func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    // An empty array may have no base address; Kafka tells an empty value from a null one.
    if bytes.isEmpty { return withUnsafeBytes(of: UInt8(0)) { body($0.baseAddress, 0) } }
    return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
}

/// A librdkafka handle passed to a thread the owner controls.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe, and every owner joins the threads it
/// gives a handle to before destroying the handle.
struct SendableHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// A flag set once, read from any thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag; true for the one caller that set it.
    func setOnce() -> Bool { value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}
