import OrbitContract

/// The RFM distributions of the buyers in some partitions: each scorer publishes its partitions'
/// sketches, and every scorer merges all of them into the same global RFM thresholds.
public struct PopulationSketches: Sendable, Equatable {
    public var recencyDays = QuantileSketch()
    public var frequency = QuantileSketch()
    public var monetaryMinor = QuantileSketch()
    public var users: Int64 = 0

    public init() {}

    public var buyers: Int64 { frequency.count }

    public mutating func add(values: RFMValues) {
        users += 1
        guard let recency = values.recencyDays, values.frequency > 0 else { return }
        recencyDays.add(Double(recency))
        frequency.add(Double(values.frequency))
        monetaryMinor.add(Double(max(0, values.monetaryMinor)))
    }

    public mutating func merge(_ other: PopulationSketches) {
        recencyDays.merge(other.recencyDays)
        frequency.merge(other.frequency)
        monetaryMinor.merge(other.monetaryMinor)
        users += other.users
    }

    /// Quintile cut points among buyers; the configured thresholds until there are buyers.
    public func thresholds(_ policy: ScoringPolicy) -> PopulationThresholds {
        guard policy.rfmMode == .quantiles, buyers >= 5 else {
            let spend = policy.superUser.minSpendQuantile.flatMap { monetaryMinor.quantile($0) }
            return PopulationThresholds(rfm: policy.rfmThresholds, superUserSpendMinor: spend)
        }
        let quintiles = [0.2, 0.4, 0.6, 0.8]
        func cuts(_ sketch: QuantileSketch, rounding: (Double) -> Double) -> [Double] {
            quintiles.map { rounding(sketch.quantile($0) ?? 0) }
        }
        // Cut points are rounded to what the values can be (whole days, whole purchases, whole
        // minor units) so the bands are the same on every instance and easy to read.
        return PopulationThresholds(
            rfm: RFMThresholds(recencyDays: cuts(recencyDays) { $0.rounded() },
                               // Purchase counts pile up on small numbers (most buyers bought once), so
                               // a band is reached by buying *more* than its quantile: one-time buyers
                               // score F = 1 instead of sharing a middle band with repeat buyers.
                               // Tied quintiles (1, 1, 1, 2 is common) would leave whole bands empty; the
                               // cut points are made strictly increasing, so the five scores are five
                               // purchase counts at least (2, 3, 4, 5 purchases instead of 2, 2, 2, 3).
                               frequency: Self.strictlyIncreasing(cuts(frequency) { max(1, $0.rounded()) + 1 }),
                               monetaryMinor: cuts(monetaryMinor) { $0.rounded() }),
            superUserSpendMinor: policy.superUser.minSpendQuantile.flatMap { monetaryMinor.quantile($0)?.rounded() })
    }

    static func strictlyIncreasing(_ cuts: [Double]) -> [Double] {
        var result: [Double] = []
        for cut in cuts { result.append(max(cut, (result.last ?? -.infinity) + 1)) }
        return result
    }

    public func encoded() -> [UInt8] {
        func sketch(_ w: inout JSONWriter, _ s: QuantileSketch) {
            w.beginObject()
            w.key("zero"); w.int(s.zeroCount)
            w.key("buckets"); w.beginArray()
            for key in s.buckets.keys.sorted() { w.beginArray(); w.int(Int64(key)); w.int(s.buckets[key]!); w.endArray() }
            w.endArray()
            w.endObject()
        }
        var w = JSONWriter()
        w.beginObject()
        w.key("schema_version"); w.int(1)
        w.key("relative_accuracy"); w.number(JSONNumber(lexeme: "\(recencyDays.relativeAccuracy)"))
        w.key("users"); w.int(users)
        w.key("recency_days"); sketch(&w, recencyDays)
        w.key("frequency"); sketch(&w, frequency)
        w.key("monetary_minor"); sketch(&w, monetaryMinor)
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) -> PopulationSketches? {
        guard let object = try? JSONParser.parse(bytes).objectValue,
              let accuracy = object["relative_accuracy"]?.numberValue?.doubleValue, accuracy == 0.01 else { return nil }
        func sketch(_ value: JSONValue?) -> QuantileSketch? {
            guard let o = value?.objectValue, let zero = o["zero"]?.numberValue?.int64Value, let list = o["buckets"]?.arrayValue else { return nil }
            var buckets: [Int32: Int64] = [:]
            for entry in list {
                guard let pair = entry.arrayValue, pair.count == 2, let k = pair[0].numberValue?.int64Value, let c = pair[1].numberValue?.int64Value,
                      let key = Int32(exactly: k) else { return nil }
                buckets[key] = c
            }
            return QuantileSketch(relativeAccuracy: accuracy, zeroCount: zero, buckets: buckets)
        }
        guard let r = sketch(object["recency_days"]), let f = sketch(object["frequency"]), let m = sketch(object["monetary_minor"]) else { return nil }
        var result = PopulationSketches()
        result.recencyDays = r
        result.frequency = f
        result.monetaryMinor = m
        result.users = object["users"]?.numberValue?.int64Value ?? 0
        return result
    }
}
