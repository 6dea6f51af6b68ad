import Foundation

/// Receives delivery reports. librdkafka holds one retained reference per in-flight message (its
/// per-message opaque) and the delivery callback releases it.
///
/// `@unchecked Sendable` on subclasses below: every mutable field is guarded by an `NSCondition`.
public class DeliveryReceiver: @unchecked Sendable {
    /// Whether a report must carry the record's topic and offset. A batch only counts its
    /// reports, and the topic's name would cost a string made per record.
    var wantsMetadata: Bool { true }
    func delivered(_ result: Result<RecordMetadata, KafkaError>) {}
}

/// Tracks a group of records produced together, so the caller can wait until every one of them is
/// acknowledged (or learn the first failure) before committing the input offsets that caused them.
public final class DeliveryBatch: DeliveryReceiver, @unchecked Sendable {
    private let condition = NSCondition()
    private var pending = 0
    private var acknowledged = 0
    private var firstFailure: KafkaError?

    public override init() {}

    override var wantsMetadata: Bool { false }

    func willSend() {
        condition.lock()
        pending += 1
        condition.unlock()
    }

    /// A record librdkafka refused before it was queued: no callback will come for it.
    func sendFailed() {
        condition.lock()
        pending -= 1
        condition.broadcast()
        condition.unlock()
    }

    override func delivered(_ result: Result<RecordMetadata, KafkaError>) {
        condition.lock()
        pending -= 1
        switch result {
        case .success: acknowledged += 1
        case .failure(let error): if firstFailure == nil { firstFailure = error }
        }
        // Waiters wait for the last report; waking them for every record cost a futex call each.
        if pending == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// True once every record sent with this batch has a delivery report (success or failure).
    public var isSettled: Bool {
        condition.lock(); defer { condition.unlock() }
        return pending == 0
    }

    /// The number of records acknowledged so far.
    public var acknowledgedCount: Int {
        condition.lock(); defer { condition.unlock() }
        return acknowledged
    }

    /// Waits until every record sent with this batch is acknowledged. Throws the first delivery
    /// failure, or a timeout.
    /// Waits until every record is acknowledged or failed, at most `timeout`; true when settled.
    public func wait(for timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while pending > 0 {
            if !condition.wait(until: deadline) { return pending == 0 }
        }
        return true
    }

    public func waitForAll(timeout: Duration = .seconds(300)) throws(KafkaError) {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while pending > 0 {
            if !condition.wait(until: deadline) {
                throw .timedOut("\(pending) records still unacknowledged after \(timeout)")
            }
        }
        if let firstFailure { throw firstFailure }
    }
}

/// Carries one record's delivery report to the task awaiting it. The report may come before the
/// task starts waiting, so it goes through a single-element stream rather than a continuation made
/// inside the send.
final class SingleDelivery: DeliveryReceiver, @unchecked Sendable {
    private let stream: AsyncStream<Result<RecordMetadata, KafkaError>>
    private let continuation: AsyncStream<Result<RecordMetadata, KafkaError>>.Continuation

    override init() {
        (stream, continuation) = AsyncStream.makeStream(of: Result<RecordMetadata, KafkaError>.self, bufferingPolicy: .bufferingOldest(1))
    }

    /// The delivery report, once it comes.
    var result: DeliveryResult { DeliveryResult(stream: stream) }

    /// The first report wins; later ones (a close racing a delivery) are ignored.
    override func delivered(_ result: Result<RecordMetadata, KafkaError>) {
        continuation.yield(result)
        continuation.finish()
    }
}

/// The awaitable side of a ``SingleDelivery``.
struct DeliveryResult: Sendable {
    let stream: AsyncStream<Result<RecordMetadata, KafkaError>>

    var value: RecordMetadata {
        get async throws {
            for await result in stream { return try result.get() }
            throw KafkaError.configuration("producer closed before the record's delivery report")
        }
    }
}
