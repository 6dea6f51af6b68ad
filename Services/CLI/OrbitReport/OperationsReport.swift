import Foundation
import OrbitNotifyRules
import OrbitScoringRules

/// `orbit report --html`: one self-contained HTML page (inline SVG and CSS, no script, no network)
/// that an operations team would rather look at than read.
public enum OperationsReport {
    public static func render(_ data: ReportData) -> String {
        var body = ""
        body += header(data)
        body += rfm(data)
        body += lifecycle(data)
        body += tiers(data)
        body += customSegments(data)
        body += referrals(data)
        body += clv(data)
        body += points(data)
        body += mall(data)
        body += notifications(data)
        body += experiments(data)
        body += journeys(data)
        body += calibration(data)
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>Orbit operations report</title>
        <style>
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;background:#fafafa}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .muted{color:#777}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px 16px;min-width:150px}
        .card b{display:block;font-size:22px}.row{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
        section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px 16px 16px;margin-top:16px}
        table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
        .chart text{font-size:12px;fill:#333}.chart .tick{fill:#777;font-size:11px}.chart .axis{stroke:#999}.chart .cellvalue.light{fill:#fff}
        </style></head><body>
        \(body)
        </body></html>

        """
    }

    static func escape(_ s: String) -> String { SVG.escape(s) }
    static func n(_ v: Double, _ digits: Int = 0) -> String { SVG.number(v, digits: digits) }
    static func major(_ minor: Double, _ data: ReportData) -> Double { minor / pow(10, Double(data.currencyDigits)) }

    static func section(_ id: String, _ title: String, _ note: String, _ content: String) -> String {
        #"<section id="\#(id)"><h2>\#(escape(title))</h2><p class="muted">\#(escape(note))</p>\#(content)</section>"#
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    static func header(_ data: ReportData) -> String {
        let users = data.profiles.count
        let superUsers = data.profiles.filter(\.superUser).count
        let clv = data.profiles.compactMap(\.clvMinor).reduce(0, +)
        let sent = data.deliveries.values.reduce(0) { $0 + ($1["sent"] ?? 0) }
        let cards = [("users", n(Double(users))), ("super users", n(Double(superUsers))),
                     ("predicted 12-month CLV", "\(n(major(clv, data))) \(data.currency)"), ("notifications sent", n(Double(sent))),
                     ("points issued", n(Double(data.pointsByDay.reduce(0) { $0 + $1.earned })))]
        return #"<h1>Orbit operations report</h1><p class="muted">Generated \#(escape(data.generatedAt)) from live topics.</p><div class="cards">"#
            + cards.map { #"<div class="card"><span class="muted">\#(escape($0.0))</span><b>\#(escape($0.1))</b></div>"# }.joined() + "</div>"
    }

    static func rfm(_ data: ReportData) -> String {
        var grid = Array(repeating: Array(repeating: 0, count: 5), count: 5)
        // Buyers only (a CLV exists once there is a purchase): the scores of users without a purchase say nothing.
        for p in data.profiles where p.clvMinor != nil && (1...5).contains(p.r) && (1...5).contains(p.f) { grid[p.r - 1][p.f - 1] += 1 }
        var segments: [String: Int] = [:]
        for p in data.profiles { segments[p.segment, default: 0] += 1 }
        let order = ReportData.segmentOrder + segments.keys.filter { !ReportData.segmentOrder.contains($0) }.sorted()
        let bars = order.filter { segments[$0] != nil }.map { (label: $0.replacingOccurrences(of: "_", with: " "), value: Double(segments[$0]!)) }
        return section("rfm", "RFM", "Users by recency and frequency score (buyers; 5 is best), and the eight segments.",
                       #"<div class="row">\#(SVG.heatMap(grid, id: "rfm-heatmap"))\#(SVG.bars(bars, id: "rfm-segments"))</div>"#)
    }

    static func lifecycle(_ data: ReportData) -> String {
        var stages: [String: Int] = [:]
        for p in data.profiles { stages[p.stage, default: 0] += 1 }
        let order = ReportData.stageOrder + stages.keys.filter { !ReportData.stageOrder.contains($0) }.sorted()
        let funnel = order.filter { stages[$0] != nil }.map { (label: $0.replacingOccurrences(of: "_", with: " "), value: Double(stages[$0]!)) }
        let flows = data.lifecycleFlows.flatMap { from, tos in tos.map { (from: from, to: $0.key, count: $0.value) } }
            .sorted { ($0.count, $1.from, $1.to) > ($1.count, $0.from, $0.to) }
        let flowBars = flows.prefix(12).map { (label: "\($0.from) → \($0.to)", value: Double($0.count)) }
        return section("lifecycle", "Lifecycle", "Where users are now, and the moves between stages seen so far.",
                       #"<div class="row">\#(SVG.bars(funnel, id: "lifecycle-funnel", color: SVG.palette[2]))\#(SVG.bars(flowBars, id: "lifecycle-flows", color: SVG.palette[1]))</div>"#)
    }

    static func tiers(_ data: ReportData) -> String {
        var tiers: [String: Int] = [:]
        for p in data.profiles { tiers[p.tier, default: 0] += 1 }
        var bars = tiers.keys.sorted().map { (label: "tier \($0)", value: Double(tiers[$0]!)) }
        bars.append((label: "super users", value: Double(data.profiles.filter(\.superUser).count)))
        return section("tiers", "Value tiers and super users", "Tiers by evaluation score; super users meet every MVP criterion.",
                       SVG.bars(bars, id: "tiers", color: SVG.palette[4]))
    }

    static func customSegments(_ data: ReportData) -> String {
        let c = data.customSegments
        let ids = Set(c.now.keys).union(c.names.keys).sorted()
        guard !ids.isEmpty else {
            return section("custom-segments", "Operators' segments", "No segment defined (orbit segments apply FILE).", "")
        }
        let bars = ids.map { (label: c.names[$0] ?? $0, value: Double(c.now[$0] ?? 0)) }
        let days = c.byDay.keys.sorted().suffix(30)
        let history = table(["day"] + ids, days.reversed().map { day in [day] + ids.map { String(c.byDay[day]?[$0] ?? 0) } })
        return section("custom-segments", "Operators' segments",
                       "Members of each segment operators defined (custom:<id>), now and at the end of each day, from the scorers' census (orbit.segment-census).",
                       #"<div class="row">\#(SVG.bars(bars, id: "custom-segments", color: SVG.palette[3]))\#(history)</div>"#)
    }

    static func referrals(_ data: ReportData) -> String {
        let referred = data.profiles.filter { $0.referredBy != nil }.count
        let referrers = data.profiles.filter { $0.referrals > 0 }
        let top = referrers.sorted { ($0.referrals, $0.convertedReferrals, $1.userID) > ($1.referrals, $1.convertedReferrals, $0.userID) }.prefix(10)
        let bars = [(label: "referred users", value: Double(referred)), (label: "referrers", value: Double(referrers.count)),
                    (label: "converted referrals", value: Double(referrers.reduce(0) { $0 + $1.convertedReferrals }))]
        return section("referrals", "Referral circles", "Who brings whom: referred users, referrers, and the ten largest circles.",
                       #"<div class="row">\#(SVG.bars(bars, id: "referrals", color: SVG.palette[6]))"#
                       + table(["referrer", "referrals", "converted"], top.map { [$0.userID, String($0.referrals), String($0.convertedReferrals)] }) + "</div>")
    }

    static func clv(_ data: ReportData) -> String {
        let edges: [Double] = [0, 10, 50, 100, 500, 1000, 5000]
        var counts = Array(repeating: 0, count: edges.count + 1)
        var unknown = 0
        for p in data.profiles {
            guard let minor = p.clvMinor else { unknown += 1; continue }
            let value = major(minor, data)
            counts[edges.lastIndex { value >= $0 }.map { $0 + 1 } ?? 0] += 1
        }
        var bars: [(label: String, value: Double)] = []
        for index in 1...edges.count {
            let label = index == edges.count ? "≥ \(n(edges[index - 1]))" : "\(n(edges[index - 1]))–\(n(edges[index]))"
            bars.append((label: "\(label) \(data.currency)", value: Double(counts[index])))
        }
        bars.append((label: "no purchase yet", value: Double(unknown)))
        return section("clv", "Customer lifetime value", "Predicted 12-month CLV per buyer (BG/NBD and Gamma-Gamma), in \(data.currency).",
                       SVG.bars(bars, id: "clv-distribution", color: SVG.palette[5]))
    }

    static func points(_ data: ReportData) -> String {
        let days = data.pointsByDay.suffix(60)
        let chart = SVG.groupedBars(categories: days.map { String($0.day.dropFirst(5)) },
                                    series: [("earned", days.map { Double($0.earned) }, SVG.palette[2]),
                                             ("redeemed", days.map { Double($0.redeemed) }, SVG.palette[0]),
                                             ("expired", days.map { Double($0.expired) }, SVG.palette[3])], id: "points-flows")
        let levels = data.levelOrder.filter { data.levels[$0] != nil }.map { (label: $0, value: Double(data.levels[$0]!)) }
        return section("points", "Points and levels", "Points earned, redeemed and expired per day (the last 60 days with entries), and members per level.",
                       #"<div class="row">\#(chart)\#(SVG.bars(levels, id: "levels", color: SVG.palette[1]))</div>"#)
    }

    static func mall(_ data: ReportData) -> String {
        let m = data.mall
        guard !m.stock.isEmpty || !m.results.isEmpty else {
            return section("mall", "Points mall", "No reward in the catalogue and no redemption yet (orbit rewards apply FILE).", "")
        }
        let days = m.redeemedByDay.keys.sorted().suffix(30)
        let chart = SVG.groupedBars(categories: days.map { String($0.dropFirst(5)) },
                                    series: [("units redeemed", days.map { Double(m.redeemedByDay[$0]!.values.reduce(0, +)) }, SVG.palette[0])], id: "mall-days")
        let value = Double(m.outstandingPoints) / Double(max(1, m.pointsPerUnit))
        let cards = #"<div class="cards"><div class="card"><b>\#(n(Double(m.outstandingPoints)))</b>points outstanding</div>"#
            + #"<div class="card"><b>\#(n(value, 2)) \#(escape(data.currency))</b>their value at checkout</div>"#
            + #"<div class="card"><b>\#(n(Double(m.heldPoints)))</b>points held now</div>"#
            + #"<div class="card"><b>\#(m.cancelled)</b>redemptions cancelled</div>"#
            + #"<div class="card"><b>\#(m.couponUseRate.map { n($0 * 100, 0) + "%" } ?? "–")</b>coupon use rate (used of used or expired)</div></div>"#
        let stock = table(["reward", "name", "issued", "stock left"], m.stock.keys.sorted().map { id in
            let s = m.stock[id]!
            return [id, m.rewardNames[id] ?? id, String(s.issued), s.total.map { String(max(0, $0 - s.issued)) + " of " + String($0) } ?? "unlimited"]
        })
        let results = table(["result", "redemptions"], m.results.sorted { $0.value > $1.value }.map { [$0.key, String($0.value)] })
        let coupons = table(["coupon status", "coupons"], ["issued", "used", "expired", "voided"].map { [$0, String(m.coupons[$0, default: 0])] })
        let perReward = table(["day"] + m.stock.keys.sorted(), days.reversed().prefix(14).map { day in [day] + m.stock.keys.sorted().map { String(m.redeemedByDay[day]?[$0] ?? 0) } })
        return section("mall", "Points mall",
                       "Points liability (every member's balance, valued at checkout.points_per_unit), redemptions per day, each reward's stock, what redemptions came to, and coupons by status (orbit.coupons: issued and not yet used, used, expired, voided by a cancellation).",
                       cards + #"<div class="row">\#(chart)"# + stock + results + coupons + "</div>" + perReward)
    }

    static func notifications(_ data: ReportData) -> String {
        let statuses = ["sent", "retrying", "failed", "suppressed"]
        let channels = data.deliveries.keys.sorted()
        let chart = SVG.groupedBars(categories: channels, series: statuses.enumerated().map { index, status in
            (status, channels.map { Double(data.deliveries[$0]?[status] ?? 0) }, SVG.palette[index])
        }, id: "notifications", width: 560)
        let rows = channels.map { channel in [channel] + statuses.map { String(data.deliveries[channel]?[$0] ?? 0) } }
        return section("notifications", "Notifications", "Delivery records by channel and status (a retried message counts once per attempt).",
                       #"<div class="row">\#(chart)"# + table(["channel"] + statuses, rows) + "</div>")
    }

    static func experiments(_ data: ReportData) -> String {
        guard !data.experiments.isEmpty else {
            return section("experiments", "Experiments", "No experiment has assigned anyone yet.", "")
        }
        var content = ""
        for report in data.experiments {
            let rows = report.rows.map { row -> (label: String, value: Double, low: Double?, high: Double?) in
                let interval = wilson(row.converted, row.assigned)
                return (label: "\(row.variant) (\(row.assigned))", value: row.rate, low: interval?.low, high: interval?.high)
            }
            content += "<h3>\(escape(report.experiment))</h3>" + #"<div class="row">"# + SVG.intervals(rows, id: "experiment-\(report.experiment)")
            content += table(["variant", "assigned", "sent to", "converted", "rate", "uplift vs holdout (95% interval)"], report.rows.map { row in
                let uplift = row.uplift.map { u in "\(n(u * 100, 1)) pp" + (row.interval.map { " (\(n($0.low * 100, 1)) to \(n($0.high * 100, 1)))" } ?? "") } ?? "–"
                return [row.variant, String(row.assigned), String(row.sentTo), String(row.converted), "\(n(row.rate * 100, 1)) %", uplift]
            }) + "</div>"
        }
        return section("experiments", "Experiments", "Conversion rate per variant with its 95% Wilson interval; uplift against the holdout.", content)
    }

    static func journeys(_ data: ReportData) -> String {
        guard !data.journeys.isEmpty else {
            return section("journeys", "Journeys", "No journey has run yet (orbit journeys apply FILE).", "")
        }
        var content = ""
        for row in data.journeys {
            let f = row.funnel
            let steps = row.stepOrder + f.steps.keys.filter { !row.stepOrder.contains($0) }.sorted()
            let counts = steps.map { f.steps[$0] ?? JourneyFunnel.StepCounts() }
            let chart = SVG.groupedBars(categories: steps, series: [
                ("entered", counts.map { Double($0.entered) }, SVG.palette[0]),
                ("sent", counts.map { Double($0.sent) }, SVG.palette[1]),
                ("converted", counts.map { Double($0.converted) }, SVG.palette[2]),
            ], id: "journey-\(row.journey)", width: 560)
            let exits = f.exited.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            content += "<h3>\(escape(row.journey)) v\(row.version) (\(row.status.rawValue))</h3>"
            content += #"<p class="muted">"# + escape("entered \(f.entered), in progress \(row.active), converted \(f.converted); exited: \(exits.isEmpty ? "none yet" : exits)") + "</p>"
            content += #"<div class="row">"# + chart + table(["step", "entered", "sent", "suppressed", "waited", "converted"], zip(steps, counts).map { id, c in
                [id, String(c.entered), String(c.sent), String(c.suppressed), String(c.waited), String(c.converted)]
            }) + "</div>"
        }
        return section("journeys", "Journeys", "Each journey's funnel per step (all partitions): reached, sent, conversions counted for the step sent last; enrolments ended by reason.", content)
    }

    /// The 95% Wilson score interval of a proportion.
    static func wilson(_ successes: Int, _ trials: Int) -> (low: Double, high: Double)? {
        guard trials > 0 else { return nil }
        let z = 1.96, n = Double(trials), p = Double(successes) / n
        let centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        let margin = z * ((p * (1 - p) + z * z / (4 * n)) / n).squareRoot() / (1 + z * z / n)
        return (max(0, centre - margin), min(1, centre + margin))
    }

    static func calibration(_ data: ReportData) -> String {
        guard let c = data.calibration, !c.buckets.isEmpty else {
            return section("calibration", "Model calibration", "Not enough purchase history for a holdout period yet.", "")
        }
        let labels = c.buckets.map(c.label)
        var series = [("deployed model", c.buckets.map(\.predicted), SVG.palette[0])]
        if c.calibrationFit != nil { series.append(("fitted on the calibration period", c.buckets.map { $0.predictedByCalibrationFit ?? 0 }, SVG.palette[2])) }
        series.append(("actual", c.buckets.map(\.actual), SVG.palette[1]))
        let chart = SVG.groupedBars(categories: labels, series: series, id: "calibration", digits: 2)
        let rows = zip(labels, c.buckets).map { label, b in
            [label, String(b.customers), n(b.predicted, 2)] + (c.calibrationFit != nil ? [n(b.predictedByCalibrationFit ?? 0, 2)] : []) + [n(b.actual, 2)]
        }
        let headers = ["repeat purchases", "customers", "deployed"] + (c.calibrationFit != nil ? ["calibration fit"] : []) + ["actual"]
        let fitNote: String
        if let m = c.calibrationFit {
            fitNote = " The calibration fit (BG/NBD fitted on the calibration period alone, as lifetimes does): r \(n(m.r, 3)), alpha \(n(m.alpha, 3)), a \(n(m.a, 3)), b \(n(m.b, 3))."
        } else {
            fitNote = c.calibrationFitRefusal.map { " No calibration fit: \(escape($0.description))." } ?? ""
        }
        return section("calibration", "Model calibration",
                       "Mean purchases in the last \(n(c.holdoutDays)) days (holdout) per number of repeat purchases before it: what BG/NBD predicted from the calibration period, and what happened. \(c.customers) customers. Deployed model: \(escape(data.calibrationModel)).\(fitNote)",
                       #"<div class="row">\#(chart)"# + table(headers, rows) + "</div>")
    }
}
