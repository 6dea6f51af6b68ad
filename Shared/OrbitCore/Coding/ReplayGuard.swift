/// What a stateful processor keeps per key so that applying an input twice changes nothing: the
/// last applied offset per input stream (exact for the processor's own replays after a crash) and
/// stable hashes of the last `limit` ids it applied (for copies that arrive at new offsets, such as
/// a router's or a producer's repeat). Part of the key's state, so it is restored with it.
public struct ReplayGuard: Sendable, Equatable {
    /// The highest applied offset of each input stream, -1 before the first.
    public var appliedOffsets: [Int64]
    /// Stable hashes of the latest applied ids, oldest first.
    public var recentIDs: [UInt64] = []
    public let limit: Int

    public init(inputs: Int, limit: Int) {
        self.appliedOffsets = Array(repeating: -1, count: inputs)
        self.limit = limit
    }

    /// True if this input (stream, offset) or this id was applied already; otherwise records it.
    public mutating func alreadyApplied(input: Int = 0, offset: Int64, id: String) -> Bool {
        if offset >= 0, offset <= appliedOffsets[input] { return true }
        let hash = StableHash.fnv1a(id)
        if recentIDs.contains(hash) {
            if offset >= 0 { appliedOffsets[input] = max(appliedOffsets[input], offset) }
            return true
        }
        if offset >= 0 { appliedOffsets[input] = offset }
        recentIDs.append(hash)
        if recentIDs.count > limit { recentIDs.removeFirst(recentIDs.count - limit) }
        return false
    }
}
