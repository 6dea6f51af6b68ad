import Logging
import OrbitKafka

/// One stage of a service, declared as values: the consumer group it joins, the topics it reads,
/// the topics that must share its partition count, the keyed stores it keeps, how often it
/// punctuates and with which clock, the global tables it reads, and how to make its processor.
///
/// The runtime (``ServiceTopology``) turns the declaration into `processing.stream_threads`
/// pipelines: it checks co-partitioning once, gives each pipeline its transactional id, feeds the
/// global tables, and hands the processor a ``StageContext`` whose stores use the configured
/// backend (`state.store`). A stage never builds a ``StreamPipeline`` itself.
public struct StageDeclaration {
    /// What the stage adds to the service's transactional id: "" for the service's main stage,
    /// "-router", "-delivery".
    public var name: String
    public var groupID: String
    public var inputs: [String]
    /// Topics partitioned like the stage's keys: its inputs, its stores' changelogs, and any
    /// output it places by key. Checked once at start; their count is ``StageContext/partitionCount``.
    public var coPartitioned: [String]
    /// The topics the processor writes, besides what the runtime writes for it (its stores'
    /// changelogs, dead letters, clock ticks, privacy receipts). The test kit fails a stage that
    /// writes anywhere else, so the declaration is the stage's true list of outputs.
    public var outputs: [String]
    /// The stage's keyed stores. Each is made with the backend `state.store` names.
    public var stores: [StoreDeclaration]
    /// How often the processor's `punctuate` runs; nil: never.
    public var punctuation: Duration?
    /// The topic (one of ``inputs``) the runtime writes a clock tick into, in every owned
    /// partition, at each punctuation; reading one calls the processor's
    /// ``RecordProcessor/tick(partition:at:context:outputs:)`` (``ClockTick``). nil: no ticks.
    public var ticksInto: String?
    /// The input (one of ``inputs``) on which privacy requests reach the stage, marked with the kind
    /// `privacy_request`. The runtime erases the user: the processor's ``RecordProcessor/erase(_:partition:erasure:outputs:)``,
    /// then the user's entry in every store declared ``StoreDeclaration/keyedByUser``, then the
    /// receipt (``Erasure``). nil: the stage keeps nothing about users.
    public var erasesFrom: String?
    /// The one clock the processor is given (`fixed_now` makes it a fixed time).
    public var clock: @Sendable () -> Int64
    /// With `clock: stream`, what the records read move (``clock`` reads it).
    public var streamTime: StreamTime?
    /// Topics read whole by every instance (``GlobalTableView``), refreshed at the start of each
    /// batch and before each punctuation.
    public var globalTables: [String]
    /// Those of ``globalTables`` a deployment may not have created (read as empty until they exist).
    public var optionalGlobalTables: Set<String> = []
    /// Makes one pipeline's processor.
    public var makeProcessor: (StageContext) throws -> any RecordProcessor

    public init(name: String = "", groupID: String, inputs: [String], outputs: [String], coPartitioned: [String] = [], stores: [StoreDeclaration] = [],
                punctuation: Duration? = nil, ticksInto: String? = nil, erasesFrom: String? = nil,
                clock: @escaping @Sendable () -> Int64 = StreamPipeline.wallClock, globalTables: [String] = [],
                makeProcessor: @escaping (StageContext) throws -> any RecordProcessor) {
        precondition(erasesFrom == nil || inputs.contains(erasesFrom!), "privacy requests arrive on an input")
        precondition(ticksInto == nil || (punctuation != nil && inputs.contains(ticksInto!)), "ticks go into an input of a punctuated stage")
        self.name = name
        self.groupID = groupID
        self.inputs = inputs
        self.outputs = outputs
        self.coPartitioned = coPartitioned
        self.stores = stores
        self.punctuation = punctuation
        self.ticksInto = ticksInto
        self.erasesFrom = erasesFrom
        self.clock = clock
        self.globalTables = globalTables
        self.makeProcessor = makeProcessor
    }

    /// A stateless router stage (``InputRouter``): `sources` merged into one stream per key on
    /// `output`, in the group `groupID`, with transactional ids ending in `-router`. `output` is
    /// co-partitioned with whatever else `coPartitioned` names; its count places the keys.
    public static func router<Kind: InputKind>(groupID: String, sources: [String: Kind], output: String, broadcast: Set<Kind> = [],
                                               coPartitioned: [String] = []) -> StageDeclaration {
        precondition(!Kind.allCases.contains { $0.rawValue == ClockTick.kind }, "\(Kind.self): the kind \(ClockTick.kind) marks the runtime's clock ticks")
        return StageDeclaration(name: "-router", groupID: groupID, inputs: sources.keys.sorted(), outputs: [output],
                         coPartitioned: coPartitioned.contains(output) ? coPartitioned : coPartitioned + [output]) { context in
            InputRouter(sources: sources, output: output, partitionCount: context.partitionCount, deadLetters: context.deadLetters, broadcast: broadcast)
        }
    }

    /// A stage that decides everything about one key of its own (a reward id, a coupon code: not
    /// a user) in one place: it reads `input`, keyed by that key, and keeps one store, shadowed by
    /// `changelog` and partitioned like `input`. With `punctuation`, clock ticks go into `input`.
    public static func keyed(name: String, groupID: String, input: String, changelog: String, outputs: [String], punctuation: Duration? = nil,
                             clock: @escaping @Sendable () -> Int64, globalTables: [String] = [],
                             makeProcessor: @escaping (StageContext) throws -> any RecordProcessor) -> StageDeclaration {
        StageDeclaration(name: name, groupID: groupID, inputs: [input], outputs: outputs, coPartitioned: [input, changelog],
                         stores: [StoreDeclaration(changelogTopic: changelog, partitionedLike: input, keyedByUser: false)],
                         punctuation: punctuation, ticksInto: punctuation == nil ? nil : input, clock: clock, globalTables: globalTables,
                         makeProcessor: makeProcessor)
    }
}

extension StageDeclaration {
    /// Every topic the stage may write: its declared outputs, its stores' changelogs, the
    /// service's dead letters, its clock ticks' topic and, when it erases, the privacy receipts.
    public func writableTopics(deadLetters: String, runtime: RuntimeSettings) -> Set<String> {
        var topics = Set(outputs + stores.map(\.changelogTopic) + [deadLetters])
        if let ticksInto { topics.insert(ticksInto) }
        if erasesFrom != nil { topics.insert(runtime.privacy.receiptsTopic) }
        return topics
    }

    /// The stage's processor, made through `context`, with its stores kept by a ``StageProcessor``;
    /// fails unless the processor made exactly the stores this stage declares.
    public func makeStageProcessor(_ context: StageContext) throws -> StageProcessor {
        let processor = try makeProcessor(context)
        return try StageProcessor(processor, madeBy: context.stores, declared: stores, stage: name,
                                  ticks: ticksInto.map { StageProcessor.Ticks(topic: $0, deadLetters: context.deadLetters, streamTime: streamTime) },
                                  erasing: erasesFrom.map { topic in
                                      StageProcessor.Erasing(topic: topic, userStores: stores.filter(\.keyedByUser).map(\.changelogTopic),
                                                             privacy: context.runtime.privacy, service: context.runtime.serviceName, deadLetters: context.deadLetters)
                                  },
                                  logger: context.logger)
    }
}

/// A keyed store a stage keeps: its changelog topic names it, and is where a restore reads it
/// from; its partitions are those of `partitionedLike`, the input its keys are placed by (the
/// runtime restores and drops them as that input's partitions come and go). `keyedByUser`: its
/// keys are user ids, so erasing a user deletes the user's entry (``StageDeclaration/erasesFrom``).
public struct StoreDeclaration: Sendable, Equatable {
    public var changelogTopic: String
    public var partitionedLike: String
    public var keyedByUser: Bool

    public init(changelogTopic: String, partitionedLike: String, keyedByUser: Bool) {
        self.changelogTopic = changelogTopic
        self.partitionedLike = partitionedLike
        self.keyedByUser = keyedByUser
    }
}

/// What the runtime gives a stage's processor as it makes it: which pipeline it is, the stage's
/// partition count, the service's dead letters, its stores' backend and its global tables.
public struct StageContext {
    /// The pipeline's stream thread, 0 ..< `processing.stream_threads`.
    public let thread: Int
    /// The partition count of the stage's co-partitioned topics (0 when it declares none).
    public let partitionCount: Int
    public let runtime: RuntimeSettings
    public let logger: Logger
    public let deadLetters: DeadLetters
    let globalTableViews: [String: GlobalTableView]
    /// Makes the stage's keyed stores in the backend `state.store` names; the runtime keeps the
    /// stores the processor made (``StageProcessor``) and checks they are the ones its stage declares.
    public let stores: StoreMaker

    /// The context of one pipeline of a stage; `globalTables` holds a view per declared global table.
    public init(thread: Int, partitionCount: Int, runtime: RuntimeSettings, logger: Logger, deadLetters: DeadLetters,
                globalTables: [String: GlobalTableView]) {
        self.thread = thread
        self.partitionCount = partitionCount
        self.runtime = runtime
        self.logger = logger
        self.deadLetters = deadLetters
        self.globalTableViews = globalTables
        self.stores = StoreMaker(backend: runtime.stateStore)
    }

    /// The view of a declared global table.
    public func globalTable(_ topic: String) -> GlobalTableView {
        guard let view = globalTableViews[topic] else {
            preconditionFailure("global table \(topic) is not declared by the stage")
        }
        return view
    }
}
