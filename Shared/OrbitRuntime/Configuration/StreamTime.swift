import Synchronization

/// A clock that follows the records instead of the wall: the latest timestamp among the records
/// a stage has read (Kafka Streams' stream time). With `clock: stream` a service's clock ticks
/// carry it, so a backfill, a simulation or a test moves time by publishing records with later
/// timestamps: a week of a journey passes in seconds, and a replay still reads the same ticks.
public final class StreamTime: Sendable {
    private let latest = Atomic<Int64>(.min)

    public init() {}

    /// Takes a record's timestamp into account (time never goes back).
    public func observe(_ millis: Int64?) {
        guard let millis else { return }
        var current = latest.load(ordering: .relaxed)
        while millis > current {
            let (exchanged, original) = latest.compareExchange(expected: current, desired: millis, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// The latest timestamp seen; nil before the first record.
    public var now: Int64? {
        let value = latest.load(ordering: .relaxed)
        return value == .min ? nil : value
    }
}
