/// A journey's funnel over every partition: the latest `orbit.journey-progress` record of each
/// partition, summed. `orbit report journeys`, `orbit journeys list` and `orbit demo` print it.
public struct JourneyReport: Sendable {
    public struct Row: Sendable, Equatable {
        public var journey: String
        public var version: Int
        public var status: JourneyStatus
        public var stepOrder: [String]
        public var funnel: JourneyFunnel
        /// Enrolments not ended yet.
        public var active: Int { funnel.entered - funnel.exited.values.reduce(0, +) }
    }

    public private(set) var rows: [String: Row] = [:]

    /// - Parameter latest: the latest value of each key of `orbit.journey-progress`.
    public init(latest: [String: [UInt8]]) {
        for (_, bytes) in latest.sorted(by: { $0.key < $1.key }) {
            guard let p = JourneyProgress.decode(bytes) else { continue }
            var row = rows[p.journey] ?? Row(journey: p.journey, version: p.version, status: p.status, stepOrder: p.stepOrder, funnel: JourneyFunnel())
            if p.version >= row.version { (row.version, row.status, row.stepOrder) = (p.version, p.status, p.stepOrder) }
            row.funnel.add(p.funnel)
            rows[p.journey] = row
        }
    }

    /// The funnel of each journey (or of `only`), one line per step, as text.
    public func text(only: String? = nil) -> String {
        var lines: [String] = []
        for row in rows.values.sorted(by: { $0.journey < $1.journey }) where only == nil || row.journey == only {
            let f = row.funnel
            lines.append("journey \(row.journey) v\(row.version) (\(row.status.rawValue)): entered \(f.entered), in progress \(row.active), converted \(f.converted)"
                         + (f.entered > 0 ? String(format: " (%.1f%%)", 100 * Double(f.converted) / Double(f.entered)) : ""))
            lines.append("  step                  entered     sent  suppressed   waited  converted")
            for id in row.stepOrder + f.steps.keys.filter({ !row.stepOrder.contains($0) }).sorted() {
                let c = f.steps[id] ?? JourneyFunnel.StepCounts()
                lines.append("  " + id.padding(toLength: 20, withPad: " ", startingAt: 0)
                             + String(format: "%9d%9d%12d%9d%11d", c.entered, c.sent, c.suppressed, c.waited, c.converted))
            }
            let exits = f.exited.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  exited: \(exits.isEmpty ? "none yet" : exits)")
        }
        return lines.isEmpty ? "no journey progress yet" : lines.joined(separator: "\n")
    }
}
