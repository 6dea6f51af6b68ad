import OrbitRuntime

/// Ingestion as the runtime runs it: one stateless stage (its deduplication window is restored
/// from its own changelog, not a keyed store) reading the raw events and privacy requests.
public enum IngestService {
    public static func topology(_ ingest: IngestSettings, runtime: RuntimeSettings) -> ServiceTopology {
        ServiceTopology(deadLettersTopic: ingest.deadLetterTopic, stages: [
            StageDeclaration(
                groupID: ingest.groupID, inputs: [ingest.inputTopic, runtime.privacy.requestsTopic],
                outputs: [ingest.validTopic, ingest.dedupChangelogTopic, runtime.privacy.receiptsTopic],
                // Partition N of the dedup changelog is the memory of partition N of the input.
                coPartitioned: [ingest.inputTopic, ingest.dedupChangelogTopic]
            ) { context in
                IngestProcessor(settings: ingest, privacy: context.runtime.privacy, service: context.runtime.serviceName)
            },
        ])
    }
}
