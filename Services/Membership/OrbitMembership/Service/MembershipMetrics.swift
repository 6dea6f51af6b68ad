import Metrics

/// Points flows for the dashboards: `orbit_members_points_total{kind}`, the absolute points of
/// ledger entries of each kind (earn, redeem, expire, adjust, reverse). Every kind exists from
/// the start, so a panel shows 0 rather than nothing.
struct PointsFlowCounters {
    private let counters: [PointsLedgerEntry.Kind: Counter] = Dictionary(uniqueKeysWithValues: PointsLedgerEntry.Kind.allCases.map {
        ($0, Counter(label: "orbit_members_points_total", dimensions: [("kind", $0.rawValue)]))
    })

    func count(_ entries: [(PointsLedgerEntry.Kind, Int64)]) {
        for (kind, points) in entries where points != 0 { counters[kind]?.increment(by: Int(points.magnitude)) }
    }
}

/// Members per level in one partition, counted at each punctuation:
/// `orbit_members_by_level{partition,level}` (a partition has one owner at a time; `sum by (level)`
/// gives the population). A revoked partition's series read 0.
struct LevelCensus {
    let levels: [String]

    func record(_ counts: [String: Int], partition: Int32) {
        for level in levels {
            Gauge(label: "orbit_members_by_level", dimensions: [("partition", String(partition)), ("level", level)]).record(counts[level] ?? 0)
        }
    }
}
