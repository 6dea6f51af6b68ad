import Foundation
import Logging
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// A notification waiting to be tried again, kept in the delivery stage's store (keyed by
/// notification id, changelog-backed), so a retry never blocks its partition and survives a restart.
public struct PendingRetry: Sendable, Equatable, StateCodable {
    public var notification: [UInt8]
    public var attempt: Int
    public var dueMillis: Int64
    public var lastError: String

    public init(notification: [UInt8], attempt: Int, dueMillis: Int64, lastError: String) {
        self.notification = notification
        self.attempt = attempt
        self.dueMillis = dueMillis
        self.lastError = lastError
    }

    public func stateBytes() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("attempt"); w.int(attempt)
        w.field("due_ms"); w.int(dueMillis)
        w.field("last_error"); w.string(lastError)
        w.field("notification"); w.string(Base64.encode(notification))
        w.endObject()
        return w.bytes
    }

    public init(stateBytes: [UInt8]) throws {
        guard case .object(let o) = try JSONParser.parse(stateBytes), let attempt = o["attempt"]?.numberValue?.int64Value,
              let due = o["due_ms"]?.numberValue?.int64Value, let bytes = o["notification"]?.stringValue.flatMap(Base64.decode) else {
            throw Recipient.Unreadable(description: "not a pending retry")
        }
        self.init(notification: bytes, attempt: Int(attempt), dueMillis: due, lastError: o["last_error"]?.stringValue ?? "")
    }
}

/// The delivery stage: reads the outbox, hands each message to its channel's sender, and records
/// every attempt's outcome on `orbit.notification-deliveries`:
/// - `sent`, or `retrying` with the next attempt scheduled in the store (exponential backoff with
///   jitter; the partition moves on), or `failed` when the failure is permanent or attempts run out;
/// - each endpoint has a ``CircuitBreaker``: while it is open, messages wait for their retry
///   instead of hammering it;
/// - in-app messages are records of the user's inbox topic.
///
/// A crash between a send and its record repeats the send on restart, under the same notification
/// id (the e-mail Message-ID, the webhook Idempotency-Key): delivery is at least once, and repeats
/// are recognisable (docs/CONTRACT.md).
public final class DeliveryProcessor: RecordProcessor {
    let settings: NotifySettings
    let senders: ChannelSenders
    let deadLetters: DeadLetters
    public let retries: KeyedStore<PendingRetry>
    let backoff: RetryBackoff
    private var breakers: [Channel: CircuitBreaker] = [:]
    private var batch: [Attempt] = []

    /// A notification to try now: its record's partition and bytes, and which attempt this is.
    struct Attempt {
        var partition: Int32
        var notification: OutboxNotification
        var bytes: [UInt8]
        var attempt: Int
    }

    private let sentCounter = Counter(label: "orbit_notify_sent_total")
    private let deliveryCounters = DeliveryCounters()
    private let retryCounter = Counter(label: "orbit_notify_retries_total")
    private let failedCounter = Counter(label: "orbit_notify_failed_total")

    /// - Parameter stores: makes the pending retries' store (in the backend `state.store` names).
    public init(settings: NotifySettings, senders: ChannelSenders, deadLetters: DeadLetters, stores: StoreMaker = .memory) {
        self.settings = settings
        self.senders = senders
        self.deadLetters = deadLetters
        self.retries = stores.store(settings.retriesChangelogTopic, cachePolicy: .retained)
        self.backoff = RetryBackoff(initialMillis: settings.delivery.backoffInitialMillis, maxMillis: settings.delivery.backoffMaxMillis)
    }

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let value = record.value, let notification = try? OutboxNotification.decode(value) else {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "not an outbox notification"))
            return
        }
        // A repeat of a message whose retry is already scheduled (a replayed outbox) waits for that retry.
        guard try retries.get(record.partition, notification.id) == nil else { return }
        batch.append(Attempt(partition: record.partition, notification: notification, bytes: value, attempt: 1))
    }

    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        let attempts = batch
        batch.removeAll()
        try attempt(attempts, now: context.nowMillis, outputs: &outputs)
    }

    /// Due retries, every `delivery.retry_interval_ms`.
    public func punctuate(context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        var due: [Attempt] = []
        for partition in retries.ownedPartitions {
            for key in retries.keys(partition) {
                guard let pending = try retries.get(partition, key), pending.dueMillis <= context.nowMillis,
                      let notification = try? OutboxNotification.decode(pending.notification) else { continue }
                due.append(Attempt(partition: partition, notification: notification, bytes: pending.notification, attempt: pending.attempt))
            }
        }
        try attempt(due, now: context.nowMillis, outputs: &outputs)
    }

    // Items are read where they lie in `items` (`items[index].notification.id`), never bound to a
    // local: a copy of an attempt retains and releases its notification's dozen strings, which
    // was a measured share of this stage's CPU.
    private func attempt(_ items: [Attempt], now: Int64, outputs: inout [ProducerRecord]) throws {
        guard !items.isEmpty else { return }
        // In-app messages are records; the others go to their senders, concurrently, unless the breaker is open.
        var outcomes = [SendOutcome?](repeating: nil, count: items.count)
        var toSend: [(Int, OutboxNotification, any ChannelSender)] = []
        for index in items.indices {
            let channel = items[index].notification.channel
            if channel == .inApp {
                var key = Array(items[index].notification.userID.utf8)
                key.append(UInt8(ascii: "/"))
                key.append(contentsOf: items[index].notification.id.utf8)
                outputs.append(ProducerRecord(topic: settings.inboxTopic, key: key, value: items[index].bytes))
                outcomes[index] = .sent("inbox")
                continue
            }
            guard let sender = senders.senders[channel] else {
                outcomes[index] = .permanent("no \(channel.rawValue) sender is configured (delivery.\(channel.rawValue))")
                continue
            }
            var breaker = breakers[channel] ?? CircuitBreaker(failureThreshold: settings.delivery.breakerFailures, openMillis: settings.delivery.breakerOpenMillis)
            if breaker.allows(at: now) {
                toSend.append((index, items[index].notification, sender))
            } else {
                outcomes[index] = .retriable("breaker_open: \(channel.rawValue) endpoint failing")
            }
            breakers[channel] = breaker
        }
        if !toSend.isEmpty {
            let limit = settings.delivery.concurrency
            let work = toSend.map { ($0.0, $0.1, $0.2) }
            let results: [(Int, SendOutcome)] = BlockingAsync.run {
                await withTaskGroup(of: (Int, SendOutcome).self) { group in
                    var results: [(Int, SendOutcome)] = []
                    var next = 0
                    while next < work.count || !group.isEmpty {
                        while next < work.count && next - results.count < limit {
                            let (index, notification, sender) = work[next]
                            group.addTask { (index, await sender.send(notification)) }
                            next += 1
                        }
                        if let result = await group.next() { results.append(result) }
                    }
                    return results
                }
            }
            for (index, outcome) in results {
                outcomes[index] = outcome
                let channel = items[index].notification.channel
                var breaker = breakers[channel]!
                if case .retriable = outcome { breaker.recordFailure(at: now) } else { breaker.recordSuccess() }
                breakers[channel] = breaker
            }
        }
        // Records in input order, so a batch's outputs are deterministic given its outcomes.
        for index in items.indices {
            let attempt = items[index].attempt, partition = items[index].partition
            func record(_ status: DeliveryRecord.Status, _ reason: String?, _ detail: String?) {
                let channel = items[index].notification.channel
                deliveryCounters.count(channel: channel, status: status)
                outputs.append(ProducerRecord(topic: settings.deliveriesTopic, key: Array(items[index].notification.userID.utf8),
                                              value: DeliveryRecord.encoded(notificationID: items[index].notification.id, userID: items[index].notification.userID,
                                                                            trigger: items[index].notification.trigger, channel: channel, status: status,
                                                                            reason: reason, attempt: attempt, timeMillis: now, detail: detail)))
            }
            let id = items[index].notification.id
            switch outcomes[index]! {
            case .sent(let detail):
                sentCounter.increment()
                record(.sent, nil, detail)
                if attempt > 1 { retries.delete(partition, id) }
            case .permanent(let error):
                failedCounter.increment()
                record(.failed, "permanent", error)
                if attempt > 1 { retries.delete(partition, id) }
            case .retriable(let error):
                if attempt >= settings.delivery.maxAttempts {
                    failedCounter.increment()
                    record(.failed, "attempts_exhausted", error)
                    retries.delete(partition, id)
                } else {
                    retryCounter.increment()
                    let due = now + backoff.delay(afterAttempt: attempt, id: id)
                    record(.retrying, "next attempt \(attempt + 1) at \(RFC3339.format(millis: due))", error)
                    try retries.update(partition, id, initial: { PendingRetry(notification: items[index].bytes, attempt: attempt, dueMillis: due, lastError: error) }) { p in
                        p.attempt = attempt + 1
                        p.dueMillis = due
                        p.lastError = error
                        return true
                    }
                }
            }
        }
    }
}
