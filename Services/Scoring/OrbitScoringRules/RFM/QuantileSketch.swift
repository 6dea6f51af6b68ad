import Foundation

/// A mergeable approximate-quantile sketch for non-negative values (in the manner of DDSketch):
/// values fall into logarithmic buckets, so any quantile is within `relativeAccuracy` of the true
/// value, the sketch is small (a few hundred buckets for values from 1 to 10^12), and sketches of
/// different partitions merge exactly by adding counts. Scorers share their partitions' sketches
/// so every instance applies the same global RFM thresholds.
public struct QuantileSketch: Sendable, Equatable, Codable {
    public let relativeAccuracy: Double
    private let gamma: Double
    private let logGamma: Double
    /// Bucket index -> count. Index i holds values in (gamma^(i-1), gamma^i].
    public private(set) var buckets: [Int32: Int64] = [:]
    /// Values that are exactly zero (never bought, zero spend).
    public private(set) var zeroCount: Int64 = 0

    public init(relativeAccuracy: Double = 0.01) {
        precondition(relativeAccuracy > 0 && relativeAccuracy < 1)
        self.relativeAccuracy = relativeAccuracy
        gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
        logGamma = log(gamma)
    }

    /// A sketch from its parts (as encoded by a peer).
    public init(relativeAccuracy: Double, zeroCount: Int64, buckets: [Int32: Int64]) {
        self.init(relativeAccuracy: relativeAccuracy)
        self.zeroCount = max(0, zeroCount)
        self.buckets = buckets.filter { $0.value > 0 }
    }

    public var count: Int64 { zeroCount + buckets.values.reduce(0, +) }

    public mutating func add(_ value: Double, count: Int64 = 1) {
        guard value.isFinite, count > 0 else { return }
        if value <= 0 {
            zeroCount += count
        } else {
            buckets[Int32(clamping: Int(ceil(log(value) / logGamma))), default: 0] += count
        }
    }

    public mutating func remove(_ value: Double) {
        guard value.isFinite else { return }
        if value <= 0 {
            zeroCount = max(0, zeroCount - 1)
        } else {
            let key = Int32(clamping: Int(ceil(log(value) / logGamma)))
            if let current = buckets[key] {
                if current <= 1 { buckets[key] = nil } else { buckets[key] = current - 1 }
            }
        }
    }

    public mutating func merge(_ other: QuantileSketch) {
        precondition(other.relativeAccuracy == relativeAccuracy, "sketches of different accuracy do not merge")
        zeroCount += other.zeroCount
        for (key, value) in other.buckets { buckets[key, default: 0] += value }
    }

    /// The value at quantile `q` (0...1), or nil when empty.
    public func quantile(_ q: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = Int64((min(max(q, 0), 1) * Double(total - 1)).rounded(.down))
        if rank < zeroCount { return 0 }
        var seen = zeroCount
        for key in buckets.keys.sorted() {
            seen += buckets[key]!
            if seen > rank { return 2 * pow(gamma, Double(key)) / (gamma + 1) }
        }
        return nil
    }
}
