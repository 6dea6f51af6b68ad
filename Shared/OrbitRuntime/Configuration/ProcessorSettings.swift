import Foundation
import OrbitContract

/// The settings every stateful stage shares, read from its own section (`scoring:`,
/// `membership:`, ...): its consumer group, how often time-driven work runs, and the clock.
public struct ProcessorSettings: Sendable {
    public var groupID: String
    /// How often `punctuate` runs.
    public var evaluationInterval: Duration = .seconds(60)
    /// Fixes the runtime clock (tests and backfills that must be reproducible); nil: wall clock.
    public var fixedNowMillis: Int64?
    /// `clock: stream`: the clock follows the records' timestamps (``StreamTime``).
    public var streamTime: StreamTime?

    /// Where a stage's time comes from (`clock:`).
    public enum ClockKind: String, CaseIterable, Sendable {
        /// The machine's clock (or `fixed_now`).
        case wall
        /// The latest timestamp of the records read (simulations, backfills, tests).
        case stream
    }

    /// The keys this type reads, for the section's unknown-key check.
    public static let keys = ["group_id", "evaluation_interval_seconds", "fixed_now", "clock"]

    public init(groupID: String) { self.groupID = groupID }

    /// - Parameter streamClock: whether the service's stages follow a stream clock (they must
    ///   tick and read their ticks); a service that cannot refuses `clock: stream` at start.
    public init(section: ConfigSection, defaultGroupID: String, streamClock: Bool = false) throws(ConfigError) {
        groupID = try section.string("group_id", default: defaultGroupID)
        evaluationInterval = .seconds(try section.int("evaluation_interval_seconds", default: 60, range: 1...86_400))
        if let fixed = try section.optionalString("fixed_now") {
            do { fixedNowMillis = try RFC3339.parse(fixed) } catch { throw section.invalid("fixed_now", "must be an RFC 3339 date-time: \(error.message)") }
        }
        let kind: ClockKind = try section.choice("clock", default: .wall)
        if kind == .stream {
            guard streamClock else { throw section.invalid("clock", "this service keeps the wall clock (only orbit-notify follows a stream clock)") }
            guard fixedNowMillis == nil else { throw section.invalid("clock", "a stream clock follows the records: fixed_now cannot be set with it") }
            streamTime = StreamTime()
        }
    }

    /// The clock of work done in the world outside (delivery retries, circuit breakers): fixed,
    /// or the wall clock, whatever `clock:` says; a stream clock is for decisions the records drive.
    public var wallClock: @Sendable () -> Int64 {
        if let fixed = fixedNowMillis { return { fixed } }
        return StreamPipeline.wallClock
    }

    /// The runtime clock these settings give: fixed, the stream's, or the wall clock.
    public var clock: @Sendable () -> Int64 {
        if let fixed = fixedNowMillis { return { fixed } }
        // Before the first record there is no time yet (and no ticks): the epoch, so nothing is due.
        if let streamTime { return { streamTime.now ?? 0 } }
        return StreamPipeline.wallClock
    }
}
