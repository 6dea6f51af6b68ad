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
        /// Three errors in a row with no record between them.
        public var isDegraded: Bool { kafka.consecutiveErrors >= 3 }
    }

    private let value = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { value.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) {
        value.withLock { body(&$0) }
    }
}
