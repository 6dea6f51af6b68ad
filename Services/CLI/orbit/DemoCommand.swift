import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitRuntime

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start everything (as `orbit up`), publish a synthetic population, and print what each service produced.",
        discussion: "Exits 0 when every service's output matches what was published (every valid event once on .valid, every bad one on the dead-letter topic, duplicates dropped), 1 otherwise."
    )

    @Option(help: "Users in the synthetic population.") var users = 1000
    @Option(help: "Random seed: the same seed gives the same population.") var seed: UInt64 = 42
    @Option(help: "Partitions per Orbit topic.") var partitions = TopicCatalogue.defaultPartitions
    @Option(help: "Seconds to wait for the services to catch up.") var timeout: Double = 180
    @Option(help: "Directory of the services' YAML configuration.") var configDirectory = "deploy/config"
    @Flag(help: "Show the services' logs.") var verbose = false

    func run() async throws {
        let started = Date()
        let population = DemoPopulation(users: users, seed: seed, now: Int64(Date().timeIntervalSince1970 * 1000)).generate()
        var expectedValid = Set<String>()
        var expectedBad: [String: Int] = [:]
        var duplicates = 0
        for record in population {
            switch record.expectation {
            case .valid(let id): expectedValid.insert(id)
            case .bad(let code): expectedBad[code, default: 0] += 1
            case .duplicate: duplicates += 1
            }
        }
        let expectedBadTotal = expectedBad.values.reduce(0, +)
        Output.line("orbit demo: \(users) users, \(population.count) records (\(expectedValid.count) valid events, \(duplicates) re-sent duplicates, \(expectedBadTotal) bad records)")

        let (broker, services) = try LocalStack.start(partitions: partitions, configDirectory: configDirectory, quiet: !verbose)
        defer { LocalStack.stop(broker: broker, services: services) }
        let kafka = KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers])
        Output.line("orbit demo: local broker on \(broker.bootstrapServers); services started: \(ServiceProcesses.services.map(\.executable).joined(separator: ", "))")

        let producer = try KafkaProducer(configuration: kafka, name: "orbit-demo", logger: Logger(label: "orbit.demo"))
        let batch = DeliveryBatch()
        let publishStart = Date()
        for record in population {
            try producer.send(ProducerRecord(topic: OrbitTopics.userEvents, key: record.key, value: record.value), in: batch)
        }
        try batch.waitForAll()
        producer.close()
        Output.line(String(format: "orbit demo: published %d records in %.2f s", population.count, Date().timeIntervalSince(publishStart)))

        let collector = try TopicReader(kafka: kafka, topics: [OrbitTopics.validEvents, OrbitTopics.deadLetters])
        let complete = try collector.read(timeout: timeout) { records in
            if let failed = services.exited.first { printError("orbit demo: \(failed.name) exited with status \(failed.status)"); return true }
            return records[OrbitTopics.validEvents, default: []].count >= expectedValid.count
                && records[OrbitTopics.deadLetters, default: []].count >= expectedBadTotal
        }
        let elapsed = Date().timeIntervalSince(publishStart)
        let report = DemoReport(valid: collector.records[OrbitTopics.validEvents] ?? [], deadLetters: collector.records[OrbitTopics.deadLetters] ?? [])
        report.print(elapsed: elapsed)

        var problems: [String] = []
        if !complete { problems.append("timed out after \(Int(timeout)) s waiting for the services") }
        if report.validIDs != expectedValid {
            problems.append("valid events: expected \(expectedValid.count) distinct ids, got \(report.validIDs.count) (missing \(expectedValid.subtracting(report.validIDs).count), unexpected \(report.validIDs.subtracting(expectedValid).count))")
        }
        if report.duplicateValid > 0 { problems.append("\(report.duplicateValid) event ids appeared twice on \(OrbitTopics.validEvents)") }
        if report.rejectedByCode != expectedBad { problems.append("dead letters by code: expected \(expectedBad.sorted { $0.key < $1.key }), got \(report.rejectedByCode.sorted { $0.key < $1.key })") }
        Output.line(String(format: "orbit demo: finished in %.1f s", Date().timeIntervalSince(started)))
        if problems.isEmpty {
            Output.line("orbit demo: OK: every valid event reached \(OrbitTopics.validEvents) exactly once, every bad record is on \(OrbitTopics.deadLetters) with its reason, \(duplicates) duplicates dropped")
        } else {
            for problem in problems { printError("orbit demo: PROBLEM: \(problem)") }
            throw ExitCode(1)
        }
    }
}

/// What the services produced, summarised for people.
struct DemoReport {
    var validIDs = Set<String>()
    var duplicateValid = 0
    var byType: [String: Int] = [:]
    var netSpendUSD: [String: Int64] = [:]
    var rejectedByCode: [String: Int] = [:]
    var users = Set<String>()

    init(valid: [ConsumerRecord], deadLetters: [ConsumerRecord]) {
        for record in valid {
            guard let value = record.value, let event = try? UserEvent.decode(value) else { continue }
            if !validIDs.insert(event.id).inserted { duplicateValid += 1; continue }
            byType[event.type.name, default: 0] += 1
            users.insert(event.userID)
            if event.properties["currency"]?.stringValue == "USD", let minor = event.properties["amount_minor"]?.numberValue?.int64Value {
                if event.type == .purchase { netSpendUSD[event.userID, default: 0] += minor }
                if event.type == .refund { netSpendUSD[event.userID, default: 0] -= minor }
            }
        }
        for record in deadLetters {
            guard let value = record.value, let object = try? JSONParser.parse(value).objectValue,
                  let code = object["error"]?.objectValue?["code"]?.stringValue else { continue }
            rejectedByCode[code, default: 0] += 1
        }
    }

    func print(elapsed: TimeInterval) {
        Swift.print("\n== orbit-ingest: \(OrbitTopics.validEvents) ==")
        Swift.print("  \(validIDs.count) events from \(users.count) users (\(String(format: "%.0f", Double(validIDs.count) / max(elapsed, 0.001))) events/s end to end)")
        for (type, count) in byType.sorted(by: { $0.value > $1.value }) {
            Swift.print("  \(type.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        Swift.print("  top spenders (net USD):")
        for (user, minor) in netSpendUSD.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }).prefix(5) {
            Swift.print("    \(user)  $\(minor / 100).\(String(format: "%02d", minor % 100))")
        }
        Swift.print("\n== orbit-ingest: \(OrbitTopics.deadLetters) ==")
        for (code, count) in rejectedByCode.sorted(by: { $0.key < $1.key }) {
            Swift.print("  \(code.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        Swift.print("")
        fflush(nil)
    }
}
