import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitScoring

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The churn models (BG/NBD purchases, Gamma-Gamma spend).",
        subcommands: [Fit.self]
    )

    struct Fit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit BG/NBD and Gamma-Gamma by maximum likelihood and write them into the scoring configuration's model file.",
            discussion: """
            From a CSV of frequency,recency,T[,monetary_value] (repeat purchases; first to last purchase; first purchase to the end \
            of observation; mean value of the repeat purchases), or from the scorer's current state (--from-state). Prints the \
            parameters and the log-likelihood; --write FILE replaces the model file (deploy/config/scoring-model.yaml).
            """
        )

        @Option(help: "CSV file of customer histories.") var csv: String?
        @Flag(help: "Use the scorer's current state (read from its changelog topic) instead of a CSV.") var fromState = false
        @Option(help: "Days per time unit of the CSV (7 when T is in weeks).") var timeUnitDays: Double = 7
        @Option(help: "Write the fitted models to this model file.") var write: String?
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let customers: [CustomerHistory]
            let source: String
            if let csv {
                guard let text = try? String(contentsOfFile: csv, encoding: .utf8) else { throw ValidationError("cannot read \(csv)") }
                do { customers = try CustomerHistoryCSV.parse(text) } catch { throw ValidationError("\(csv): \(error)") }
                source = csv
            } else if fromState {
                customers = try Self.historiesFromState(try connection.configuration(), timeUnitDays: timeUnitDays)
                source = "state of orbit-scorer (\(OrbitTopics.scorerStateChangelog))"
            } else {
                throw ValidationError("give --csv FILE or --from-state")
            }
            guard customers.contains(where: { $0.frequency > 0 }) else { throw ValidationError("no customer has a repeat purchase: nothing to fit") }
            let started = Date()
            let (purchases, logLikelihood) = BGNBDModel.fit(customers)
            let spendFit = customers.contains { $0.frequency > 0 && $0.monetaryValue > 0 } ? GammaGammaModel.fit(customers) : nil
            Output.line("customers: \(customers.count) (\(customers.filter { $0.frequency > 0 }.count) with repeat purchases), fitted in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
            Output.line(String(format: "BG/NBD:      r = %.4f  alpha = %.4f  a = %.4f  b = %.4f   log-likelihood = %.4f", purchases.r, purchases.alpha, purchases.a, purchases.b, logLikelihood))
            if let spendFit {
                Output.line(String(format: "Gamma-Gamma: p = %.4f  q = %.4f  v = %.4f   log-likelihood = %.4f (%d customers)", spendFit.model.p, spendFit.model.q, spendFit.model.v, spendFit.logLikelihood, spendFit.customers))
            } else {
                Output.line("Gamma-Gamma: not fitted (no monetary values); the model file keeps its current spend model")
            }
            if let write {
                var current = ScoringPolicy()
                if FileManager.default.fileExists(atPath: write) { try? ModelFile.load(path: write, into: &current) }
                let text = ModelFile.render(timeUnitDays: timeUnitDays, purchases: purchases, spend: spendFit?.model, previousSpend: current.spendModel,
                                            source: source, customers: customers.count, logLikelihood: logLikelihood,
                                            fittedAt: String(RFC3339.format(millis: Int64(Date().timeIntervalSince1970 * 1000)).prefix(10)))
                try text.write(toFile: write, atomically: true, encoding: .utf8)
                var check = ScoringPolicy()
                try ModelFile.load(path: write, into: &check)  // what the scorer will read must read back
                Output.line("wrote \(write)")
            }
        }

        /// Every user's history from the scorer's state changelog (latest value per user), in
        /// `timeUnitDays` units, observed until today.
        static func historiesFromState(_ kafka: KafkaConfiguration, timeUnitDays: Double) throws -> [CustomerHistory] {
            let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.scorerStateChangelog])
            try reader.readToEnd(timeout: 120)
            var latest: [String: [UInt8]] = [:]
            for record in reader.records[OrbitTopics.scorerStateChangelog]! {
                guard let key = record.key else { continue }
                latest[String(decoding: key, as: UTF8.self)] = record.value
            }
            var policy = ScoringPolicy()
            policy.modelTimeUnitDays = timeUnitDays
            let evaluator = ProfileEvaluator(policy: policy)
            let today = UserState.day(Int64(Date().timeIntervalSince1970 * 1000))
            return latest.values.compactMap { bytes in
                guard !bytes.isEmpty, let state = try? UserState(decoding: bytes) else { return nil }
                return evaluator.history(state, today: today)
            }
        }
    }
}
