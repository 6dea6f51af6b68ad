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

    /// The keys this type reads, for the section's unknown-key check.
    public static let keys = ["group_id", "evaluation_interval_seconds", "fixed_now"]

    public init(groupID: String) { self.groupID = groupID }

    public init(section: ConfigSection, defaultGroupID: String) throws(ConfigError) {
        groupID = try section.string("group_id", default: defaultGroupID)
        evaluationInterval = .seconds(try section.int("evaluation_interval_seconds", default: 60, range: 1...86_400))
        if let fixed = try section.optionalString("fixed_now") {
            do { fixedNowMillis = try RFC3339.parse(fixed) } catch { throw section.invalid("fixed_now", "must be an RFC 3339 date-time: \(error.message)") }
        }
    }

    /// The runtime clock these settings give: fixed, or the wall clock.
    public var clock: @Sendable () -> Int64 {
        if let fixed = fixedNowMillis { return { fixed } }
        return StreamPipeline.wallClock
    }
}
