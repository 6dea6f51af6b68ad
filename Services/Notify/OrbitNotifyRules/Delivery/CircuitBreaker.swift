import OrbitCore

/// One endpoint's circuit breaker: after `failureThreshold` failures in a row it opens, and sends
/// to the endpoint are not attempted (they are retried later) until `openMillis` have passed; then
/// one attempt is let through (half-open): a success closes it, a failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Int64)
        case halfOpen
    }

    public private(set) var state: State = .closed(failures: 0)
    public let failureThreshold: Int
    public let openMillis: Int64

    public init(failureThreshold: Int, openMillis: Int64) {
        self.failureThreshold = failureThreshold
        self.openMillis = openMillis
    }

    /// Whether an attempt may go out now (moves an expired open breaker to half-open).
    public mutating func allows(at now: Int64) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen: return false  // one probe is already out
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        }
    }

    public mutating func recordSuccess() { state = .closed(failures: 0) }

    public mutating func recordFailure(at now: Int64) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now + openMillis) : .closed(failures: failures + 1)
        case .halfOpen, .open:
            state = .open(until: now + openMillis)
        }
    }

    public var isOpen: Bool { if case .closed = state { false } else { true } }
}

/// Exponential backoff with jitter: attempt n waits `initial * 2^(n-1)`, capped, then a jitter of
/// up to a quarter of it. The jitter is a hash of the notification id and attempt, so a replay
/// schedules the same retry, while different messages spread out instead of retrying in step.
public struct RetryBackoff: Sendable {
    public let initialMillis: Int64
    public let maxMillis: Int64

    public init(initialMillis: Int64, maxMillis: Int64) {
        self.initialMillis = initialMillis
        self.maxMillis = maxMillis
    }

    public func delay(afterAttempt attempt: Int, id: String) -> Int64 {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(maxMillis, initialMillis << Int64(exponent))
        let jitter = Int64(StableHash.fnv1a("\(id)#\(attempt)") % UInt64(max(1, base / 4 + 1)))
        return min(maxMillis, base + jitter)
    }
}
