import Metrics
import OrbitRuntime

/// How many users of one partition are in each segment, lifecycle stage and tier, and how many are
/// super users, as last published: gauges for the dashboards, counted at each punctuation.
///
/// Series carry the partition, because a partition has one owner at a time while a scorer may run
/// several pipelines in one process; `sum by (segment)` gives the population. A revoked
/// partition's series read 0.
struct PopulationCensus {
    struct Counts {
        var segments: [RFMSegment: Int] = [:]
        var stages: [LifecycleStage: Int] = [:]
        var tiers: [ValueTier: Int] = [:]
        var superUsers = 0

        mutating func add(_ state: UserState) {
            if let segment = state.lastSegment { segments[segment, default: 0] += 1 }
            if let stage = state.lastLifecycle { stages[stage, default: 0] += 1 }
            if let tier = state.lastTier { tiers[tier, default: 0] += 1 }
            if state.lastSuperUser { superUsers += 1 }
        }
    }

    func record(_ counts: Counts, partition: Int32) {
        let p = String(partition)
        for segment in RFMSegment.allCases {
            Gauge(label: "orbit_scorer_users_by_segment", dimensions: [("partition", p), ("segment", segment.rawValue)]).record(counts.segments[segment] ?? 0)
        }
        for stage in LifecycleStage.allCases {
            Gauge(label: "orbit_scorer_users_by_lifecycle", dimensions: [("partition", p), ("stage", stage.rawValue)]).record(counts.stages[stage] ?? 0)
        }
        for tier in ValueTier.allCases {
            Gauge(label: "orbit_scorer_users_by_tier", dimensions: [("partition", p), ("tier", tier.rawValue)]).record(counts.tiers[tier] ?? 0)
        }
        Gauge(label: "orbit_scorer_super_users", dimensions: [("partition", p)]).record(counts.superUsers)
    }

    func revoked(_ partition: Int32) { record(Counts(), partition: partition) }
}
