import ArgumentParser
import Foundation
import OrbitContract
import OrbitKafka
import OrbitScoring

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The churn models (BG/NBD purchases, Gamma-Gamma spend).",
        subcommands: [Fit.self, Score.self]
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

        func validate() throws {
            try OptionChecks.require(timeUnitDays, "time-unit-days", above: 0)
        }

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

    struct Score: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score customer histories with the configured models: P(alive), expected purchases over a horizon, expected order value and CLV, as CSV.",
            discussion: """
            Reads the same CSV as `model fit` (frequency,recency,T[,monetary_value], an optional id column) in the model file's \
            time unit unless --time-unit-days says otherwise, and prints one CSV row per customer, in input order, so analysts can \
            check Orbit's numbers against their own tools (lifetimes' conditional_probability_alive, \
            conditional_expected_number_of_purchases_up_to_time, conditional_expected_average_profit, customer_lifetime_value).
            """
        )

        @Option(help: "CSV file of customer histories.") var csv: String
        @Option(help: "The model file (BG/NBD, Gamma-Gamma, time unit, CLV settings).") var model = "deploy/config/scoring-model.yaml"
        @Option(help: "Days per time unit of the CSV (default: the model file's unit).") var timeUnitDays: Double?
        @Option(help: "Horizon of the expected purchases, in days.") var horizonDays: Double = 90
        @Option(help: "CLV horizon in months (default: the model file's).") var months: Int?
        @Option(help: "Write the CSV here instead of standard output.") var output: String?

        func validate() throws {
            try OptionChecks.require(timeUnitDays, "time-unit-days", above: 0)
            try OptionChecks.require(horizonDays, "horizon-days", above: 0)
            try OptionChecks.require(months, "months", in: 1...1_200)
        }

        func run() async throws {
            var policy = ScoringPolicy()
            do { try ModelFile.load(path: model, into: &policy) } catch { throw ValidationError("\(error)") }
            guard let text = try? String(contentsOfFile: csv, encoding: .utf8) else { throw ValidationError("cannot read \(csv)") }
            let rows: [(id: String?, history: CustomerHistory)]
            do { rows = try CustomerHistoryCSV.parseRows(text) } catch { throw ValidationError("\(csv): \(error)") }
            let unit = policy.modelTimeUnitDays
            let scale = (timeUnitDays ?? unit) / unit  // CSV units -> model units
            let clv = LifetimeValue(purchases: policy.purchaseModel, spend: policy.spendModel, margin: policy.clvMargin, annualDiscountRate: policy.clvAnnualDiscountRate)
            let clvMonths = months ?? policy.clvMonths
            let horizon = Int(horizonDays.rounded())
            var out = "id,frequency,recency,T,monetary_value,p_alive,expected_purchases_\(horizon)d,expected_order_value,clv_\(clvMonths)m\n"
            func number(_ value: Double) -> String { String(format: "%.6f", value) }
            for (index, row) in rows.enumerated() {
                let h = row.history
                let c = CustomerHistory(frequency: h.frequency, recency: h.recency * scale, age: h.age * scale, monetaryValue: h.monetaryValue)
                let fields = [
                    row.id ?? String(index + 1),
                    String(format: "%g", h.frequency), String(format: "%g", h.recency), String(format: "%g", h.age), String(format: "%g", h.monetaryValue),
                    number(policy.purchaseModel.probabilityAlive(c)),
                    number(policy.purchaseModel.expectedPurchases(in: horizonDays / unit, c)),
                    number(policy.spendModel.expectedAverageValue(c)),
                    number(clv.value(c, months: clvMonths, unitsPerMonth: 30.4375 / unit)),
                ]
                out += fields.joined(separator: ",") + "\n"
            }
            if let output {
                try out.write(toFile: output, atomically: true, encoding: .utf8)
                printError("orbit model score: \(rows.count) customers written to \(output)")
            } else {
                FileHandle.standardOutput.write(Data(out.utf8))
            }
        }
    }
}
