/// Orbit's Kafka topic names: part of the public message contract (docs/CONTRACT.md).
public enum OrbitTopics {
    /// Input: user events published by other systems. Key: the user id.
    public static let userEvents = "orbit.user-events"
    /// Validated, normalised user events. Key: the user id.
    public static let validEvents = "orbit.user-events.valid"
    /// Rejected input with the reason. Key: the input record's key.
    public static let deadLetters = "orbit.user-events.dlq"
    /// Ingestion's deduplication memory (internal): event ids, partitioned like the input.
    public static let ingestDedupChangelog = "orbit-ingest.dedup-changelog"
}
