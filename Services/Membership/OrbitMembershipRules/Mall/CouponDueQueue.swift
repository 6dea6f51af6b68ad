/// The coupons of one partition in the order the clock must look at them, earliest first: a
/// min-heap of (time, code). With it a clock tick reads the coupons whose time has come, not
/// every coupon ever issued. Ties go by code, so the order is the same however the queue was
/// filled (fed one issue at a time, or rebuilt from the store after a restart): a replay writes
/// the same bytes.
///
/// An entry is a reminder, not a fact: the tick reads the coupon itself and decides from it
/// (``Coupon/due(at:noticeMillis:)``), so an entry for a coupon used or voided since, or one
/// added twice by a replayed batch, costs a lookup and nothing else.
public struct CouponDueQueue: Sendable {
    private var heap: [(time: Int64, code: String)] = []

    public init() {}

    public var count: Int { heap.count }

    public mutating func insert(_ code: String, at time: Int64) {
        heap.append((time, code))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func before(_ a: (time: Int64, code: String), _ b: (time: Int64, code: String)) -> Bool {
        (a.time, a.code) < (b.time, b.code)
    }

    /// Removes and returns the codes whose time is `time` or earlier, earliest first.
    public mutating func popDue(at time: Int64) -> [String] {
        var due: [String] = []
        while let first = heap.first, first.time <= time {
            due.append(first.code)
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, Self.before(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, Self.before(heap[right], heap[smallest]) { smallest = right }
                guard smallest != parent else { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return due
    }
}

extension Coupon {
    /// When the clock must next look at this coupon: its expiring notice, then its expiry; nil
    /// once it is used, expired or voided.
    public func nextCheck(noticeMillis: Int64) -> Int64? {
        guard status == .issued else { return nil }
        return wantsNotice(noticeMillis) ? expiresAtMillis - noticeMillis : expiresAtMillis
    }
}
