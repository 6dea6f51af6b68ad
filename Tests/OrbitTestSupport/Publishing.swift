import Logging
import OrbitKafka

extension LocalBroker {
    /// Produces records as an outside system would (its own producer, Orbit's default settings)
    /// and returns once every one is acknowledged.
    public func publish(_ records: some Sequence<ProducerRecord>, logger: Logger = Logger(label: "test.publisher")) throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": bootstrapServers]), logger: logger)
        defer { producer.close() }
        let batch = DeliveryBatch()
        for record in records { try producer.send(record, in: batch) }
        try batch.waitForAll()
    }
}
