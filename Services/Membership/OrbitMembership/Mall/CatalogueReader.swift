import OrbitContract
import OrbitKafka
import OrbitRuntime

/// The reward catalogue a stage reads from its global table of `orbit.rewards`, decoded again
/// only when the table changed. Definitions that cannot be used are kept apart, each reported
/// once (``takeNewlyUnusable(deadLetters:topic:)``), and the others keep working.
final class CatalogueReader {
    private let view: GlobalTableView?
    private let levels: [String]
    private var version = -1
    private var records: [String: [UInt8]] = [:]
    private(set) var catalogue = RewardCatalogue()
    private var reported: [String: [UInt8]] = [:]

    /// - Parameter view: the stage's global table of the catalogue (nil: an empty catalogue, for
    ///   processors made outside a topology).
    init(view: GlobalTableView?, levels: [String]) {
        self.view = view
        self.levels = levels
    }

    /// The catalogue as of the table's latest refresh.
    var current: RewardCatalogue {
        guard let view else { return catalogue }
        let snapshot = view.snapshot
        if snapshot.version != version {
            version = snapshot.version
            records = snapshot.values
            catalogue = RewardCatalogue(records: records, levels: levels)
        }
        return catalogue
    }

    /// A dead letter for each definition that cannot be used and was not reported in this form.
    func takeNewlyUnusable(deadLetters: DeadLetters, topic: String) -> [ProducerRecord] {
        _ = current
        var letters: [ProducerRecord] = []
        for (key, problem) in catalogue.unusable.sorted(by: { $0.key < $1.key }) where reported[key] != records[key] {
            reported[key] = records[key]
            let record = ConsumerRecord(topic: topic, partition: 0, offset: -1, key: Array(key.utf8), value: records[key], headers: [], timestampMillis: nil)
            letters.append(deadLetters.record(for: record, .invalidValue, field: problem.field, "reward \(key) is not offered: \(problem.message)"))
        }
        return letters
    }
}
