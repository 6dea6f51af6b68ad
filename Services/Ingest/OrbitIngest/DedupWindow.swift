/// The event ids one input partition has passed on, remembered for a window of time, so a
/// producer's retry or a replayed batch upstream does not reach `.valid` twice.
///
/// Ids are forgotten first-in first-out once older than the window (measured on the records'
/// receive times, not the wall clock, so a replay decides the same) or when the partition holds
/// more than `maxEntries` (a memory bound; the oldest go first).
public struct DedupWindow: Sendable {
    public let windowMillis: Int64
    public let maxEntries: Int
    private var receivedAt: [String: Int64] = [:]
    private var order: [(id: String, at: Int64)] = []
    private var head = 0
    private var newest: Int64 = .min

    public init(windowMillis: Int64, maxEntries: Int) {
        self.windowMillis = windowMillis
        self.maxEntries = maxEntries
    }

    public var count: Int { receivedAt.count }

    public func contains(_ id: String) -> Bool { receivedAt[id] != nil }

    /// Remembers an id. Returns false if it was already remembered.
    @discardableResult
    public mutating func insert(_ id: String, at time: Int64) -> Bool {
        // One hash for a new id (the usual case); a repeat puts its first time back.
        if let first = receivedAt.updateValue(time, forKey: id) {
            receivedAt[id] = first
            return false
        }
        order.append((id, time))
        newest = max(newest, time)
        if receivedAt.count > maxEntries { evictOldest() }
        return true
    }

    /// Forgets ids received more than the window before the newest one.
    public mutating func evictExpired() {
        guard newest != .min else { return }
        let cutoff = newest - windowMillis
        while head < order.count, order[head].at < cutoff { evictOldest() }
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    private mutating func evictOldest() {
        guard head < order.count else { return }
        receivedAt[order[head].id] = nil
        head += 1
    }
}
