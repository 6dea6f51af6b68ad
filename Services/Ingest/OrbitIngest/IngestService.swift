import Logging
import OrbitKafka
import OrbitRuntime

/// Wires the ingestion processor into the runtime.
public enum IngestService {
    public static func makePipeline(runtime: RuntimeSettings, ingest: IngestSettings, logger: Logger, status: PipelineStatus = PipelineStatus()) -> StreamPipeline {
        StreamPipeline(
            settings: .init(groupID: ingest.groupID, inputTopics: [ingest.inputTopic, runtime.privacy.requestsTopic], runtime: runtime,
                            transactionalID: ProcessInfoInstance.transactionalID(service: runtime.serviceName)),
            processor: IngestProcessor(settings: ingest, privacy: runtime.privacy, service: runtime.serviceName),
            logger: logger,
            status: status)
    }

    /// The dedup changelog must have as many partitions as the input: partition N of one is the
    /// memory of partition N of the other. Checked at start, before any record is read.
    public static func checkTopics(runtime: RuntimeSettings, ingest: IngestSettings, logger: Logger) throws {
        try CoPartitioning.check([ingest.inputTopic, ingest.dedupChangelogTopic], kafka: runtime.kafka, logger: logger)
    }
}
