import OrbitContract
import OrbitKafka

/// Time as an input. A stage that declares ticks (``StageDeclaration/ticksInto``) has the runtime
/// write, at each punctuation, one tick into every partition of its input it owns; reading a tick
/// calls the processor's ``RecordProcessor/tick(partition:at:context:outputs:)``. So time reaches
/// a partition's state at a fixed place among its records, and a replay after a crash meets the
/// same ticks in the same places and writes the same bytes, where a punctuation that changed state
/// itself would act at whatever moment the replay happened to run.
///
/// The wire format (part of the internal topics' contract): key `tick`, the header `orbit-input:
/// tick` (the kind header of ``InputRouter``; no service's input kind may be `tick`), and the
/// value `{"time_ms":<epoch milliseconds>}`.
public enum ClockTick {
    /// The value of the kind header that marks a tick.
    public static let kind = "tick"

    /// The tick for `partition` of `topic` at `time`.
    public static func record(topic: String, partition: Int32, at time: Int64) -> ProducerRecord {
        var w = JSONWriter()
        w.beginObject(); w.field("time_ms"); w.int(time); w.endObject()
        return ProducerRecord(topic: topic, partition: partition, key: Array(kind.utf8), value: w.bytes,
                              headers: [KafkaHeader(InputKindHeader.name, kind)], timestampMillis: time)
    }

    /// True when `record` is marked as a tick (whether or not its value reads).
    public static func isTick(_ record: ConsumerRecord) -> Bool {
        record.header(InputKindHeader.name) == kindBytes
    }

    /// ``kind`` as a header's bytes, made once: every record of a ticking stage is checked.
    static let kindBytes = Array(kind.utf8)

    /// The time a tick carries; nil when its value is not a tick's.
    public static func time(of record: ConsumerRecord) -> Int64? {
        guard let value = record.value, case .object(let o)? = try? JSONParser.parse(value) else { return nil }
        return o["time_ms"]?.numberValue?.int64Value
    }
}
