import ArgumentParser
import Foundation
import Logging
import OrbitKafka
import OrbitRuntime

/// A tool's one-off write: publishes `records` with a producer of its own and returns once the
/// broker has acknowledged every one (a failed delivery throws).
func publishAll(_ records: [ProducerRecord], kafka: KafkaConfiguration, name: String) throws {
    guard !records.isEmpty else { return }
    let producer = try KafkaProducer(configuration: kafka, name: name, logger: Logger(label: "orbit.\(name)"))
    defer { producer.close() }
    let batch = DeliveryBatch()
    for record in records { try producer.send(record, in: batch) }
    try batch.waitForAll()
}

/// How a tool finds Kafka: `--bootstrap`, else `ORBIT__KAFKA__BOOTSTRAP_SERVERS`, else the local
/// broker's address file. Further librdkafka properties: `--kafka key=value` (repeatable).
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "Kafka bootstrap servers (default: $ORBIT__KAFKA__BOOTSTRAP_SERVERS, then the local broker's address file).")
    var bootstrap: String?

    @Option(name: .customLong("kafka"), help: "A librdkafka property, key=value (repeatable), e.g. security.protocol=SASL_SSL.")
    var properties: [String] = []

    func configuration() throws -> KafkaConfiguration {
        var result: [String: String] = [:]
        for property in properties {
            let parts = property.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--kafka takes key=value, not \(property)") }
            result[parts[0]] = parts[1]
        }
        let environment = ProcessInfo.processInfo.environment
        guard let servers = bootstrap ?? LocalBrokerAddress.resolve(configured: environment["ORBIT__KAFKA__BOOTSTRAP_SERVERS"]) else {
            throw ValidationError("no Kafka to talk to: pass --bootstrap, set ORBIT__KAFKA__BOOTSTRAP_SERVERS, or start `orbit broker`")
        }
        result["bootstrap.servers"] = servers
        return KafkaConfiguration(result)
    }
}

/// Waits for SIGINT or SIGTERM.
enum Signals {
    static func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if once.claim() { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var kept: [DispatchSourceSignal] = []
    static func keep(_ sources: [DispatchSourceSignal]) {
        // Called once per process from `Signals.wait`, before any signal can be delivered.
        kept.append(contentsOf: sources)
    }
}

final class OnceFlag: @unchecked Sendable {
    // `@unchecked Sendable`: the flag is only read and written under `lock`.
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

enum Output {
    /// Prints a line and flushes, so other processes (and people tailing a log) see it at once
    /// even when standard output is a pipe or a file.
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }
}
