import OrbitKafka
import Synchronization

/// What `/health` reports: whether the pipeline runs, which partitions it owns, how far it got.
/// Written by the pipeline thread, read by the HTTP thread.
public final class PipelineStatus: Sendable {
    public enum State: String, Sendable {
        case starting, running, stopping, stopped, failed
    }

    public struct Snapshot: Sendable {
        public var state: State = .starting
        public var assigned: [TopicPartition] = []
        /// Reading newly assigned partitions' state back from their changelogs.
        public var restoring = false
        public var recordsIn: Int = 0
        public var recordsOut: Int = 0
        public var batchesCommitted: Int = 0
        public var failure: String?
        /// Errors the consumer met since its last record: repeated ones make the service degraded.
        public var kafka = ClientHealth.Snapshot()
        /// Time the pipeline thread waited with work open: for records, and for acknowledgements
        /// while its batches in flight were at their limit.
        public var waitedForRecords: Duration = .zero
        public var waitedForAcknowledgements: Duration = .zero
        /// A call into Kafka the pipeline thread is inside right now (a commit, a wait for
        /// acknowledgements), and since when: a call that lasts means Kafka is out of reach, and
        /// the thread cannot say so itself until it returns.
        public var blockedOn: (what: String, since: ContinuousClock.Instant)?
        /// How long a call may take before the service counts as degraded.
        public static let blockedLimit: Duration = .seconds(2)

        /// A Kafka problem the pipeline met itself and the consumer's error count does not show
        /// (offset commits failing while records still arrive), nil once it is over.
        public var pipelineProblem: String?

        public init(state: State = .starting, restoring: Bool = false) {
            self.state = state
            self.restoring = restoring
        }

        /// Three errors in a row with no record between them, a problem of the pipeline's own, or
        /// a call into Kafka that lasts.
        public var isDegraded: Bool { degradedReason != nil }

        /// Why the service is degraded, the most telling reason first; nil when it is not.
        public var degradedReason: String? {
            if let blocked = blockedTooLong { return "held up \(blocked)" }
            if let pipelineProblem { return pipelineProblem }
            return kafka.consecutiveErrors >= 3 ? kafka.lastError ?? "\(kafka.consecutiveErrors) Kafka errors in a row" : nil
        }

        /// The call the pipeline has been inside for longer than ``blockedLimit``, and for how long.
        public var blockedTooLong: String? {
            guard let blockedOn else { return nil }
            let lasted = ContinuousClock.now - blockedOn.since
            return lasted >= Self.blockedLimit ? "\(blockedOn.what) for \(lasted.components.seconds) s" : nil
        }
    }

    private let value = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { value.withLock { $0 } }

    public func update(_ body: (inout Snapshot) -> Void) {
        value.withLock { body(&$0) }
    }
}
