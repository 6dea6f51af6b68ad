import OrbitKafka

/// A timed plan of broker faults for the local broker (`orbit broker --faults PLAN.yaml`), so a
/// run can be made to meet what production Kafka does to clients: brokers going away, retriable
/// errors, slow responses, moving leaders. Validated like every configuration file: an error names
/// the file, the line and the field.
///
/// ```yaml
/// steps:
///   - at_seconds: 10
///     broker_down: all            # or a broker id (the local broker numbers them from 1)
///   - at_seconds: 20
///     broker_up: all
///   - at_seconds: 25
///     round_trip_ms: 200          # every response 200 ms late; 0 removes the delay
///   - at_seconds: 30
///     request_errors:
///       api: produce              # see KafkaAPI
///       errors: [NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT]
///       repeat: 3                 # the list, this many times in a row (default 1)
///   - at_seconds: 35
///     leader: {topic: orbit.user-events, partition: 0, broker: 2}
/// ```
public struct BrokerFaultPlan: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        /// Milliseconds after the broker started.
        public var atMillis: Int64
        public var fault: BrokerFault

        public init(atMillis: Int64, fault: BrokerFault) {
            self.atMillis = atMillis
            self.fault = fault
        }
    }

    /// In time order (steps at the same time keep the file's order).
    public var steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps.enumerated().sorted { ($0.element.atMillis, $0.offset) < ($1.element.atMillis, $1.offset) }.map(\.element)
    }

    public static func load(path: String) throws(ConfigError) -> BrokerFaultPlan {
        try BrokerFaultPlan(document: ConfigDocument.load(path: path, environment: [:]))
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        try document.top.rejectUnknownKeys(["steps"])
        var steps: [Step] = []
        for step in try document.top.sectionList("steps") {
            let actions = ["broker_down", "broker_up", "round_trip_ms", "request_errors", "leader"]
            try step.rejectUnknownKeys(Set(actions + ["at_seconds"]))
            let at = try step.double("at_seconds", range: 0...86_400)
            let named = actions.filter { step.section($0).exists }
            guard named.count == 1 else {
                throw step.invalid(named.count == 0 ? "at_seconds" : named[1], "each step has exactly one fault (one of \(actions.joined(separator: ", ")))")
            }
            let fault: BrokerFault
            switch named[0] {
            case "broker_down": fault = .down(broker: try Self.broker(step, "broker_down"))
            case "broker_up": fault = .up(broker: try Self.broker(step, "broker_up"))
            case "round_trip_ms": fault = .roundTrip(milliseconds: try step.int("round_trip_ms", range: 0...60_000))
            case "request_errors":
                let section = step.section("request_errors")
                try section.rejectUnknownKeys(["api", "errors", "repeat"])
                let apiName = try section.string("api")
                guard let api = KafkaAPI(rawValue: apiName) else {
                    throw section.invalid("api", "unknown API \"\(apiName)\" (one of \(KafkaAPI.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                let names = try section.stringList("errors")
                guard !names.isEmpty else { throw section.invalid("errors", "lists at least one error") }
                var errors: [KafkaProtocolError] = []
                for name in names {
                    guard let error = KafkaProtocolError(rawValue: name) else {
                        throw section.invalid("errors", "unknown error \"\(name)\" (one of \(KafkaProtocolError.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    errors.append(error)
                }
                let times = try section.int("repeat", default: 1, range: 1...1000)
                fault = .requestErrors(api: api, errors: Array(repeating: errors, count: times).flatMap { $0 })
            default:
                let section = step.section("leader")
                try section.rejectUnknownKeys(["topic", "partition", "broker"])
                fault = .leader(topic: try section.string("topic"), partition: Int32(try section.int("partition", range: 0...100_000)),
                                broker: Int32(try section.int("broker", range: 1...64)))
            }
            steps.append(Step(atMillis: Int64((at * 1000).rounded()), fault: fault))
        }
        self.init(steps: steps)
    }

    /// `all` (nil) or a broker id from 1.
    private static func broker(_ step: ConfigSection, _ key: String) throws(ConfigError) -> Int32? {
        let text = try step.string(key)
        if text == "all" { return nil }
        guard let id = Int32(text), (1...64).contains(id) else { throw step.invalid(key, "is \"all\" or a broker id from 1 to 64") }
        return id
    }
}

/// One fault the local broker can be made to show.
public enum BrokerFault: Sendable, Equatable, CustomStringConvertible {
    /// A broker (nil: all) drops its connections and refuses new ones.
    case down(broker: Int32?)
    case up(broker: Int32?)
    /// Every response of every broker is this late.
    case roundTrip(milliseconds: Int)
    /// The next requests of one API fail with these errors, one each.
    case requestErrors(api: KafkaAPI, errors: [KafkaProtocolError])
    /// A partition's leadership moves.
    case leader(topic: String, partition: Int32, broker: Int32)

    public var description: String {
        switch self {
        case .down(let broker): "broker \(broker.map(String.init) ?? "all") down"
        case .up(let broker): "broker \(broker.map(String.init) ?? "all") up"
        case .roundTrip(let ms): "round trip \(ms) ms"
        case .requestErrors(let api, let errors): "next \(errors.count) \(api.rawValue) requests fail (\(Set(errors.map(\.rawValue)).sorted().joined(separator: ", ")))"
        case .leader(let topic, let partition, let broker): "leader of \(topic)/\(partition) moves to broker \(broker)"
        }
    }
}

/// Kafka protocol APIs a fault can target, with their API keys.
public enum KafkaAPI: String, CaseIterable, Sendable {
    case produce, fetch, listOffsets = "list_offsets", metadata, offsetCommit = "offset_commit", offsetFetch = "offset_fetch"
    case findCoordinator = "find_coordinator", joinGroup = "join_group", heartbeat, syncGroup = "sync_group"
    case initProducerID = "init_producer_id", endTransaction = "end_txn"

    public var key: Int16 {
        switch self {
        case .produce: 0
        case .fetch: 1
        case .listOffsets: 2
        case .metadata: 3
        case .offsetCommit: 8
        case .offsetFetch: 9
        case .findCoordinator: 10
        case .joinGroup: 11
        case .heartbeat: 12
        case .syncGroup: 14
        case .initProducerID: 22
        case .endTransaction: 26
        }
    }
}

/// Kafka protocol errors by their protocol names, with their codes.
public enum KafkaProtocolError: String, CaseIterable, Sendable {
    case unknownTopicOrPartition = "UNKNOWN_TOPIC_OR_PARTITION"
    case leaderNotAvailable = "LEADER_NOT_AVAILABLE"
    case notLeaderOrFollower = "NOT_LEADER_OR_FOLLOWER"
    case requestTimedOut = "REQUEST_TIMED_OUT"
    case networkException = "NETWORK_EXCEPTION"
    case coordinatorLoadInProgress = "COORDINATOR_LOAD_IN_PROGRESS"
    case coordinatorNotAvailable = "COORDINATOR_NOT_AVAILABLE"
    case notCoordinator = "NOT_COORDINATOR"
    case notEnoughReplicas = "NOT_ENOUGH_REPLICAS"
    case rebalanceInProgress = "REBALANCE_IN_PROGRESS"
    case outOfOrderSequenceNumber = "OUT_OF_ORDER_SEQUENCE_NUMBER"
    case invalidProducerEpoch = "INVALID_PRODUCER_EPOCH"
    case producerFenced = "PRODUCER_FENCED"
    case topicAuthorizationFailed = "TOPIC_AUTHORIZATION_FAILED"
    /// Not a Kafka code: the broker drops the connection instead of answering.
    case disconnect = "DISCONNECT"

    public var code: Int32 {
        switch self {
        case .unknownTopicOrPartition: 3
        case .leaderNotAvailable: 5
        case .notLeaderOrFollower: 6
        case .requestTimedOut: 7
        case .networkException: 13
        case .coordinatorLoadInProgress: 14
        case .coordinatorNotAvailable: 15
        case .notCoordinator: 16
        case .notEnoughReplicas: 19
        case .rebalanceInProgress: 27
        case .outOfOrderSequenceNumber: 45
        case .invalidProducerEpoch: 47
        case .producerFenced: 90
        case .topicAuthorizationFailed: 29
        case .disconnect: -195  // RD_KAFKA_RESP_ERR__TRANSPORT
        }
    }
}

extension LocalBroker {
    /// Makes the broker show one fault.
    public func apply(_ fault: BrokerFault) throws(KafkaError) {
        switch fault {
        case .down(let broker): try setDown(broker: broker)
        case .up(let broker): try setUp(broker: broker)
        case .roundTrip(let ms): try setRoundTrip(milliseconds: ms)
        case .requestErrors(let api, let errors): try failNextRequests(apiKey: api.key, errors: errors.map(\.code))
        case .leader(let topic, let partition, let broker): try setLeader(topic: topic, partition: partition, broker: broker)
        }
    }
}
