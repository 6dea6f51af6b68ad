import Logging
import OrbitKafka

/// A service as the runtime runs it: its stages (``StageDeclaration``), declared as values, and
/// the dead-letter topic they share. The runtime does the rest, the same way for every service:
/// - checks, before Kafka is contacted, that the configuration asks nothing the stages cannot do
///   (``checkHonoured(by:state:)``: `state.store: disk` for a service without keyed stores);
/// - checks each stage's co-partitioned topics once, at start;
/// - builds `processing.stream_threads` pipelines per stage, thread by thread, each with its
///   transactional id, its global tables and a processor whose stores use the configured backend.
public struct ServiceTopology {
    public var stages: [StageDeclaration]
    public var deadLettersTopic: String

    public init(deadLettersTopic: String, stages: [StageDeclaration]) {
        self.deadLettersTopic = deadLettersTopic
        self.stages = stages
    }

    /// Every keyed store of every stage.
    public var stores: [StoreDeclaration] { stages.flatMap(\.stores) }

    /// Fails when `state.store` asks for something no stage can honour: a disk backend for a
    /// service that keeps no keyed store would be parsed and then ignored, so an operator who
    /// sized disks for it would be misled. `state` is the configuration's `state` section, so the
    /// error names the file, line and field.
    /// The same for the query settings, given `service`: a token for a service that keeps no
    /// keyed store (so answers no query), or an advertised address that would redirect nothing.
    public func checkHonoured(by runtime: RuntimeSettings, state: ConfigSection, service: ConfigSection? = nil) throws(ConfigError) {
        if case .disk = runtime.stateStore, stores.isEmpty {
            throw state.invalid("store", "\(runtime.serviceName) keeps no keyed store, so it cannot keep state on disk (use memory)")
        }
        guard let service else { return }
        if runtime.queryToken != nil, stores.isEmpty {
            throw service.invalid("query_token_file", "\(runtime.serviceName) keeps no keyed store, so it answers no query: remove the setting")
        }
        if runtime.advertisedURL != nil, stores.isEmpty || runtime.queryToken == nil {
            throw service.invalid("advertised_url", "only redirects queries, and \(runtime.serviceName) answers none\(stores.isEmpty ? "" : " without service.query_token_file")")
        }
    }

    /// A stage whose processor made other stores than it declares (through ``StageContext/stores``).
    public struct UndeclaredStores: Error, CustomStringConvertible {
        public let stage: String
        public let declared: [String]
        public let made: [String]
        public var description: String {
            "stage \(stage.isEmpty ? "main" : stage) declares the stores \(declared) but its processor made \(made) through its context: "
                + "a store made another way would ignore state.store"
        }
    }

    /// The pipelines that run the service, thread-major: thread 0's stages in declaration order,
    /// then thread 1's, and so on.
    public func pipelines(runtime: RuntimeSettings, logger: Logger) throws -> [StreamPipeline] {
        let deadLetters = DeadLetters(topic: deadLettersTopic, service: runtime.serviceName)
        let partitionCounts = try stages.map { stage in
            stage.coPartitioned.isEmpty ? 0 : try CoPartitioning.check(stage.coPartitioned, kafka: runtime.kafka, logger: logger)
        }
        var pipelines: [StreamPipeline] = []
        for thread in 0..<runtime.streamThreads {
            for (stage, partitionCount) in zip(stages, partitionCounts) {
                let views = Dictionary(uniqueKeysWithValues: stage.globalTables.map { ($0, GlobalTableView()) })
                let context = StageContext(thread: thread, partitionCount: partitionCount, runtime: runtime, logger: logger,
                                           deadLetters: deadLetters, globalTables: views)
                let settings = StreamPipeline.Settings(
                    groupID: stage.groupID, inputTopics: stage.inputs, runtime: runtime,
                    transactionalID: ProcessInfoInstance.transactionalID(service: runtime.serviceName, stage: stage.name, thread: thread, of: runtime.streamThreads),
                    punctuationInterval: stage.punctuation, clock: stage.clock,
                    globalTables: stage.globalTables.map { GlobalTableRegistration(topic: $0, view: views[$0]!, required: !stage.optionalGlobalTables.contains($0)) })
                let processor = try stage.makeStageProcessor(context)
                pipelines.append(StreamPipeline(settings: settings, processor: processor, logger: logger))
            }
        }
        return pipelines
    }
}
