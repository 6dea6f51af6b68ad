import OrbitKafka
import OrbitMembership
import OrbitRuntime

/// orbit-members as the benches run it: its whole topology on topics of the bench's own. Every
/// topic the service names is renamed (a topic added to the service and not to a bench would stay
/// on its shipped name and partition count, and the runtime refuses to co-partition it).
struct BenchMembership {
    let settings: MembershipSettings
    let runtime: RuntimeSettings
    let topology: ServiceTopology

    /// - Parameters:
    ///   - prefix: each topic becomes `<prefix>-<key>` (its key in the `topics` section), created
    ///     with `partitions` (the catalogue with one), but the events, read from `events`.
    ///   - runtime: the processing settings; its privacy requests are renamed too.
    init(_ settings: MembershipSettings, runtime: RuntimeSettings, prefix: String, events: String, broker: LocalBroker, partitions: Int) throws {
        var settings = settings
        settings.groupID = "\(prefix)-members"
        for (key, path) in MembershipSettings.topicKeys where key != "events" {
            settings[keyPath: path] = "\(prefix)-\(key)"
            try broker.createTopic(TopicSpec(name: settings[keyPath: path], partitions: key == "rewards" ? 1 : partitions))
        }
        settings.eventsTopic = events
        var runtime = runtime
        runtime.privacy.requestsTopic = "\(prefix)-privacy"
        try broker.createTopic(TopicSpec(name: runtime.privacy.requestsTopic, partitions: partitions))
        (self.settings, self.runtime) = (settings, runtime)
        topology = MembershipService.topology(settings, runtime: runtime)
    }

    /// Records written so far on each of the service's topics named by `keys` (their keys in the
    /// `topics` section): their partitions' high watermarks, summed, read without joining a group.
    func records(on keys: [String], kafka: KafkaConfiguration) throws -> [String: Int64] {
        let names = keys.map { settings[keyPath: MembershipSettings.topicKeys[$0]!] }
        let ends = try consumerPositions(kafka: kafka, group: "\(settings.groupID)-count", topics: names)
        return Dictionary(uniqueKeysWithValues: zip(keys, names).map { key, name in
            (key, ends.filter { $0.key.topic == name }.values.reduce(0) { $0 + $1.high })
        })
    }

    /// One stage's pipelines out of the topology's: they come per stream thread in the topology's
    /// order (router, ledger, stock, coupons).
    func stage(_ index: Int, of pipelines: [StreamPipeline]) -> [StreamPipeline] {
        pipelines.enumerated().filter { $0.offset % topology.stages.count == index }.map(\.element)
    }
}
