import Metrics
import OrbitContract
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
        var users = 0
        /// Members of each operator's segment.
        var custom: [String: Int] = [:]

        mutating func add(_ state: UserState) {
            users += 1
            if let segment = state.lastSegment { segments[segment, default: 0] += 1 }
            if let stage = state.lastLifecycle { stages[stage, default: 0] += 1 }
            if let tier = state.lastTier { tiers[tier, default: 0] += 1 }
            if state.lastSuperUser { superUsers += 1 }
            for id in state.customSegments { custom[id, default: 0] += 1 }
        }

        /// The record of `orbit.segment-census` for one partition at `time` (docs/CONTRACT.md).
        func encoded(partition: Int32, time: Int64, defined: [String]) -> [UInt8] {
            var w = JSONWriter(reservingCapacity: 512)
            w.beginObject()
            w.key("schema_version"); w.int(1)
            w.key("partition"); w.int(Int64(partition))
            w.key("time"); w.timestamp(millis: time)
            w.key("users"); w.int(users)
            w.key("segment"); w.beginObject(); for s in RFMSegment.allCases { w.key(s.rawValue); w.int(segments[s] ?? 0) }; w.endObject()
            w.key("lifecycle"); w.beginObject(); for s in LifecycleStage.allCases { w.key(s.rawValue); w.int(stages[s] ?? 0) }; w.endObject()
            w.key("tier"); w.beginObject(); for t in ValueTier.allCases { w.key(t.rawValue); w.int(tiers[t] ?? 0) }; w.endObject()
            w.key("super_users"); w.int(superUsers)
            // Every defined segment, empty ones included, so a size that fell to 0 shows as 0.
            w.key("custom"); w.beginObject()
            for id in Set(defined).union(custom.keys).sorted() { w.key(id); w.int(custom[id] ?? 0) }
            w.endObject()
            w.endObject()
            return w.bytes
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
        for (id, members) in counts.custom {
            Gauge(label: "orbit_scorer_users_by_custom_segment", dimensions: [("partition", p), ("segment", id)]).record(members)
        }
    }

    func revoked(_ partition: Int32) { record(Counts(), partition: partition) }
}
