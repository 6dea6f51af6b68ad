import Foundation

/// Inline SVG charts for the report: no script, no external font or stylesheet, so the file works
/// offline and prints. Every label goes through ``escape(_:)``.
enum SVG {
    static let palette = ["#3b6ea8", "#e08a2e", "#4f9d69", "#c2504a", "#8a6bb8", "#9a7b4f", "#d4729b", "#7f7f7f", "#b5b84a"]

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ value: Double, digits: Int = 0) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.minimumFractionDigits = digits
        formatter.maximumFractionDigits = digits
        formatter.locale = Locale(identifier: "en_US")
        return formatter.string(from: NSNumber(value: value)) ?? String(value)
    }

    /// Horizontal bars, one per label, with the value written at the end.
    static func bars(_ items: [(label: String, value: Double)], id: String, width: Int = 560, digits: Int = 0, color: String = palette[0]) -> String {
        let rowHeight = 22, labelWidth = 200, valueWidth = 80
        let height = max(1, items.count) * rowHeight + 8
        let top = max(items.map(\.value).max() ?? 0, 1e-9)
        var svg = #"<svg id="\#(id)" class="chart" role="img" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)" xmlns="http://www.w3.org/2000/svg">"#
        for (index, item) in items.enumerated() {
            let y = 4 + index * rowHeight
            let length = Int(Double(width - labelWidth - valueWidth) * max(0, item.value) / top)
            svg += #"<text x="\#(labelWidth - 6)" y="\#(y + 15)" text-anchor="end" class="label">\#(escape(item.label))</text>"#
            svg += #"<rect class="bar" x="\#(labelWidth)" y="\#(y + 3)" width="\#(max(length, item.value > 0 ? 1 : 0))" height="\#(rowHeight - 6)" fill="\#(color)"><title>\#(escape(item.label)): \#(number(item.value, digits: digits))</title></rect>"#
            svg += #"<text x="\#(labelWidth + length + 6)" y="\#(y + 15)" class="value">\#(number(item.value, digits: digits))</text>"#
        }
        return svg + "</svg>"
    }

    /// Vertical grouped bars: one group per category, one bar per series.
    static func groupedBars(categories: [String], series: [(name: String, values: [Double], color: String)], id: String,
                            width: Int = 720, height: Int = 260, digits: Int = 0) -> String {
        let left = 56, bottom = 40, top = 24
        let plotHeight = Double(height - bottom - top)
        let peak = max(series.flatMap(\.values).max() ?? 0, 1e-9)
        let groupWidth = Double(width - left - 10) / Double(max(1, categories.count))
        let barWidth = max(2, groupWidth * 0.8 / Double(max(1, series.count)))
        var svg = #"<svg id="\#(id)" class="chart" role="img" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)" xmlns="http://www.w3.org/2000/svg">"#
        svg += #"<line x1="\#(left)" y1="\#(height - bottom)" x2="\#(width - 6)" y2="\#(height - bottom)" class="axis"/>"#
        for tick in 0...4 {
            let value = peak * Double(tick) / 4
            let y = Double(height - bottom) - plotHeight * Double(tick) / 4
            svg += #"<text x="\#(left - 6)" y="\#(Int(y) + 4)" text-anchor="end" class="tick">\#(number(value, digits: peak < 10 ? 1 : 0))</text>"#
        }
        for (c, category) in categories.enumerated() {
            let x0 = Double(left) + groupWidth * Double(c) + groupWidth * 0.1
            for (s, serie) in series.enumerated() {
                let value = c < serie.values.count ? serie.values[c] : 0
                let h = plotHeight * max(0, value) / peak
                let x = x0 + barWidth * Double(s)
                svg += #"<rect class="bar" x="\#(Int(x))" y="\#(Int(Double(height - bottom) - h))" width="\#(Int(barWidth))" height="\#(Int(h))" fill="\#(serie.color)"><title>\#(escape(category)) \#(escape(serie.name)): \#(number(value, digits: digits))</title></rect>"#
            }
            if categories.count <= 16 || c % max(1, categories.count / 12) == 0 {
                svg += #"<text x="\#(Int(x0 + groupWidth * 0.4))" y="\#(height - bottom + 16)" text-anchor="middle" class="tick">\#(escape(category))</text>"#
            }
        }
        for (s, serie) in series.enumerated() {
            let x = left + s * 150
            svg += #"<rect x="\#(x)" y="4" width="12" height="12" fill="\#(serie.color)"/><text x="\#(x + 16)" y="14" class="label">\#(escape(serie.name))</text>"#
        }
        return svg + "</svg>"
    }

    /// A 5 x 5 grid of counts: recency score down (5 at the top), frequency score across.
    static func heatMap(_ counts: [[Int]], id: String) -> String {
        let cell = 64, left = 60, top = 30
        let size = left + 5 * cell + 10
        let peak = max(counts.flatMap { $0 }.max() ?? 0, 1)
        var svg = #"<svg id="\#(id)" class="chart" role="img" width="\#(size)" height="\#(top + 5 * cell + 40)" viewBox="0 0 \#(size) \#(top + 5 * cell + 40)" xmlns="http://www.w3.org/2000/svg">"#
        for r in (1...5).reversed() {
            let y = top + (5 - r) * cell
            svg += #"<text x="\#(left - 8)" y="\#(y + cell / 2 + 4)" text-anchor="end" class="label">R\#(r)</text>"#
            for f in 1...5 {
                let count = counts[r - 1][f - 1]
                let shade = 0.08 + 0.92 * Double(count) / Double(peak)
                let x = left + (f - 1) * cell
                svg += #"<rect class="cell" x="\#(x)" y="\#(y)" width="\#(cell - 2)" height="\#(cell - 2)" fill="\#(palette[0])" fill-opacity="\#(String(format: "%.2f", shade))"><title>R\#(r) F\#(f): \#(count) users</title></rect>"#
                svg += #"<text x="\#(x + cell / 2 - 1)" y="\#(y + cell / 2 + 4)" text-anchor="middle" class="\#(shade > 0.55 ? "cellvalue light" : "cellvalue")">\#(count)</text>"#
            }
        }
        for f in 1...5 {
            svg += #"<text x="\#(left + (f - 1) * cell + cell / 2)" y="\#(top + 5 * cell + 18)" text-anchor="middle" class="label">F\#(f)</text>"#
        }
        return svg + "</svg>"
    }

    /// A rate per row with its 95% interval as a whisker (experiments).
    static func intervals(_ rows: [(label: String, value: Double, low: Double?, high: Double?)], id: String, width: Int = 560) -> String {
        let rowHeight = 26, left = 150, right = 70
        let height = max(1, rows.count) * rowHeight + 30
        let lo = min(0, rows.compactMap(\.low).min() ?? 0, rows.map(\.value).min() ?? 0)
        let hi = max(rows.compactMap(\.high).max() ?? 0, rows.map(\.value).max() ?? 0, 0.01)
        func x(_ v: Double) -> Int { left + Int(Double(width - left - right) * (v - lo) / (hi - lo)) }
        var svg = #"<svg id="\#(id)" class="chart" role="img" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)" xmlns="http://www.w3.org/2000/svg">"#
        svg += #"<line x1="\#(x(0))" y1="4" x2="\#(x(0))" y2="\#(height - 22)" class="axis"/>"#
        for (index, row) in rows.enumerated() {
            let y = 10 + index * rowHeight
            svg += #"<text x="\#(left - 8)" y="\#(y + 5)" text-anchor="end" class="label">\#(escape(row.label))</text>"#
            if let low = row.low, let high = row.high {
                svg += #"<line class="whisker" x1="\#(x(low))" y1="\#(y)" x2="\#(x(high))" y2="\#(y)" stroke="\#(palette[7])" stroke-width="2"/>"#
            }
            svg += #"<circle class="point" cx="\#(x(row.value))" cy="\#(y)" r="5" fill="\#(palette[3])"><title>\#(escape(row.label)): \#(number(row.value * 100, digits: 1)) %</title></circle>"#
            svg += #"<text x="\#(width - right + 6)" y="\#(y + 5)" class="value">\#(number(row.value * 100, digits: 1)) %</text>"#
        }
        svg += #"<text x="\#(x(lo))" y="\#(height - 6)" class="tick">\#(number(lo * 100, digits: 1)) %</text><text x="\#(x(hi))" y="\#(height - 6)" text-anchor="end" class="tick">\#(number(hi * 100, digits: 1)) %</text>"#
        return svg + "</svg>"
    }
}
