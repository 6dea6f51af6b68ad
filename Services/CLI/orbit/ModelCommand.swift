import ArgumentParser
import Foundation
import Logging
import OrbitContract
import OrbitKafka
import OrbitReport
import OrbitRuntime
import OrbitScoring

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The churn models (BG/NBD purchases, Gamma-Gamma spend).",
        subcommands: [Fit.self, Show.self, Calibration.self, Score.self]
    )

    struct Fit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit BG/NBD and Gamma-Gamma by maximum likelihood; deploy the fit to every scorer (--apply) or write it into a model file (--write).",
            discussion: """
            From a CSV of frequency,recency,T[,monetary_value] (repeat purchases; first to last purchase; first purchase to the end \
            of observation; mean value of the repeat purchases), or from the scorer's current state (--from-state: the deployment's \
            own customers). A fit with too few customers, or one that does not converge, is refused with the reason, and nothing \
            changes. --apply publishes the fit to orbit.models, which every scorer reads as a global table: profiles are \
            re-evaluated with it, without a restart; the attempt, applied or refused, is recorded there too (`orbit model show`). \
            --every-hours repeats the refit on a schedule (a refused one leaves the deployed model and waits for the next). \
            --write FILE replaces a model file (deploy/config/scoring-model.yaml).
            """
        )

        @Option(help: "CSV file of customer histories.") var csv: String?
        @Flag(help: "Use the scorer's current state (read from its changelog topic) instead of a CSV.") var fromState = false
        @Option(help: "Days per time unit of the CSV, and of the fit (7: weeks, as the shipped CDNOW model).") var timeUnitDays: Double = 7
        @Option(help: "Write the fitted models to this model file.") var write: String?
        @Flag(help: "Deploy the fit to every scorer through orbit.models.") var apply = false
        @Option(help: "Refuse a fit from fewer customers with a purchase.") var minCustomers = 200
        @Option(help: "Refuse a fit from fewer customers with a repeat purchase.") var minRepeatCustomers = 50
        @Option(help: "With --apply: refit every this many hours, until stopped.") var everyHours: Double?
        @Option(help: "The scorer's configuration (its configured models stay in use until a fit is deployed).") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            guard (0.001...3650).contains(timeUnitDays) else { throw ValidationError("--time-unit-days must be from 0.001 to 3650 (the model file's range), not \(timeUnitDays)") }
            try OptionChecks.require(minCustomers, "min-customers", in: 1...100_000_000)
            try OptionChecks.require(minRepeatCustomers, "min-repeat-customers", in: 1...100_000_000)
            try OptionChecks.require(everyHours, "every-hours", above: 0)
            if everyHours != nil && !apply { throw ValidationError("--every-hours schedules a refit that deploys: give --apply too") }
            if csv != nil && fromState { throw ValidationError("give --csv FILE or --from-state, not both") }
        }

        func run() async throws {
            guard let everyHours else { return try fitOnce() }
            while true {
                do { try fitOnce() } catch { printError("orbit model fit: \(error); the next refit in \(everyHours) h") }
                try await Task.sleep(for: .seconds(everyHours * 3600))
            }
        }

        func fitOnce() throws {
            let customers: [CustomerHistory]
            let source: String
            if let csv {
                guard let text = try? String(contentsOfFile: csv, encoding: .utf8) else { throw ValidationError("cannot read \(csv)") }
                do { customers = try CustomerHistoryCSV.parse(text) } catch { throw ValidationError("\(csv): \(error)") }
                source = csv
            } else if fromState {
                var policy = try ModelCommand.configuredPolicy(scoringConfig)
                policy.modelTimeUnitDays = timeUnitDays
                customers = try Self.historiesFromState(try connection.configuration(), policy: policy)
                source = "state of orbit-scorer (\(OrbitTopics.scorerStateChangelog))"
            } else {
                throw ValidationError("give --csv FILE or --from-state")
            }
            let started = Date()
            let outcome = ChurnModelFit.fit(customers, timeUnitDays: timeUnitDays,
                                            requirements: ChurnModelFit.Requirements(minCustomers: minCustomers, minRepeatCustomers: minRepeatCustomers))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if apply { try ModelCommand.deploy(outcome, source: source, atMillis: now, configured: try ModelCommand.configuredPolicy(scoringConfig), kafka: try connection.configuration()) }
            let fit: ChurnModelFit
            switch outcome {
            case .success(let fitted): fit = fitted
            case .failure(let refusal):
                throw CLIError("refused (\(refusal.code)): \(refusal); \(apply ? "the deployed model stays" : "nothing written")")
            }
            Output.line("customers: \(fit.customers) (\(fit.repeatCustomers) with repeat purchases), fitted in \(String(format: "%.2f", Date().timeIntervalSince(started))) s (\(fit.iterations) iterations)")
            let purchases = fit.purchases
            Output.line(String(format: "BG/NBD:      r = %.4f  alpha = %.4f  a = %.4f  b = %.4f   log-likelihood = %.4f", purchases.r, purchases.alpha, purchases.a, purchases.b, fit.logLikelihood))
            if let spend = fit.spend {
                Output.line(String(format: "Gamma-Gamma: p = %.4f  q = %.4f  v = %.4f   log-likelihood = %.4f (%d customers)", spend.p, spend.q, spend.v, fit.spendLogLikelihood ?? 0, fit.spendCustomers))
            } else {
                Output.line("Gamma-Gamma: not fitted (too few customers with a valued repeat purchase); the spend model in use stays")
            }
            if apply { Output.line("deployed to \(OrbitTopics.models) (key \(ModelRecord.deployedKey)): every scorer re-evaluates its users with it") }
            if let write {
                var current = ScoringPolicy()
                if FileManager.default.fileExists(atPath: write) { try? ModelFile.load(path: write, into: &current) }
                let text = ModelFile.render(timeUnitDays: timeUnitDays, purchases: purchases, spend: fit.spend, previousSpend: current.spendModel,
                                            source: source, customers: customers.count, logLikelihood: fit.logLikelihood,
                                            fittedAt: String(RFC3339.format(millis: now).prefix(10)))
                try text.write(toFile: write, atomically: true, encoding: .utf8)
                var check = ScoringPolicy()
                try ModelFile.load(path: write, into: &check)  // what the scorer will read must read back
                Output.line("wrote \(write)")
            }
        }

        /// Every user's history from the scorer's state changelog (latest value per user), in the
        /// policy's model time unit and reporting currency (the scorer's own), observed until today.
        static func historiesFromState(_ kafka: KafkaConfiguration, policy: ScoringPolicy) throws -> [CustomerHistory] {
            let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.scorerStateChangelog])
            try reader.readToEnd(timeout: 120)
            let latest = reader.latest(OrbitTopics.scorerStateChangelog)
            let evaluator = ProfileEvaluator(policy: policy)
            let today = UserState.day(Int64(Date().timeIntervalSince1970 * 1000))
            return latest.values.compactMap { bytes in
                guard !bytes.isEmpty, let state = try? UserState(decoding: bytes) else { return nil }
                return evaluator.history(state, today: today)
            }
        }
    }

    /// Publishes a fit attempt to orbit.models: the attempt whatever its outcome, and the models
    /// when it was not refused (before the attempt, so a reader of both sees them agree).
    static func deploy(_ outcome: Result<ChurnModelFit, ChurnModelFit.Refusal>, source: String, atMillis: Int64, configured: ScoringPolicy, kafka: KafkaConfiguration) throws {
        var records = [ProducerRecord(topic: OrbitTopics.models, key: Array(ModelRecord.attemptKey.utf8), value: ModelRecord.attempt(outcome, source: source, atMillis: atMillis))]
        if case .success(let fit) = outcome {
            let kept = deployedPolicy(configured, latest: try latestModels(kafka)).policy.spendModel
            let bytes = ModelRecord.deployed(fit, keptSpend: kept, source: source, fittedAtMillis: atMillis)
            // What every scorer will read must read: a record they would refuse is not published.
            var check = configured
            do { try ModelRecord.read(bytes, into: &check) } catch { throw CLIError("the fit would not be usable by the scorers, so it is not deployed: \(error)") }
            records.insert(ProducerRecord(topic: OrbitTopics.models, key: Array(ModelRecord.deployedKey.utf8), value: bytes), at: 0)
        }
        try publishAll(records, kafka: kafka, name: "orbit-model-cli")
    }

    /// The scorer's configured models (its configuration and model file), or the defaults.
    static func configuredPolicy(_ scoringConfig: String) throws -> ScoringPolicy {
        guard FileManager.default.fileExists(atPath: scoringConfig) else { return ScoringPolicy() }
        do { return try ScoringSettings(document: ConfigDocument.load(path: scoringConfig)).policy } catch { throw CLIError("\(error)") }
    }

    /// The latest record of each key on orbit.models.
    static func latestModels(_ connection: ConnectionOptions) throws -> [String: [UInt8]] { try latestModels(try connection.configuration()) }

    /// A deployment that has not created the topic yet has no refit: read as empty, as scorers do.
    static func latestModels(_ kafka: KafkaConfiguration) throws -> [String: [UInt8]] {
        let reader: TopicReader
        do {
            reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.models])
        } catch let error as KafkaError where error.name.contains("UNKNOWN_TOPIC") {
            return [:]
        }
        try reader.readToEnd()
        return reader.latest(OrbitTopics.models)
    }

    /// The models scorers use: the deployed record over the configured ones, as the scorer reads
    /// it (a record it cannot use leaves the configured models), and where they came from.
    static func deployedPolicy(_ configured: ScoringPolicy, latest: [String: [UInt8]]) -> (policy: ScoringPolicy, source: String) {
        guard let bytes = latest[ModelRecord.deployedKey], !bytes.isEmpty else { return (configured, "the model file (no refit deployed)") }
        var policy = configured
        do { try ModelRecord.read(bytes, into: &policy) } catch { return (configured, "the model file (the deployed record is unusable: \(error))") }
        let fitted = (try? JSONParser.parse(bytes).objectValue?["fitted"]?.objectValue) ?? nil
        let at = fitted?["at"]?.stringValue ?? "?"
        let customers = fitted?["customers"]?.numberValue?.int64Value.map { " from \($0) customers" } ?? ""
        return (policy, "the refit deployed on \(OrbitTopics.models) at \(at)\(customers)")
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The churn models every scorer uses now, and how the latest fit attempt went.")
        @Option(help: "The scorer's configuration (its configured models).") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let latest = try ModelCommand.latestModels(connection)
            let (policy, source) = ModelCommand.deployedPolicy(try ModelCommand.configuredPolicy(scoringConfig), latest: latest)
            let m = policy.purchaseModel, g = policy.spendModel
            Output.line("in use: \(source)")
            Output.line(String(format: "  BG/NBD:      r = %.4f  alpha = %.4f  a = %.4f  b = %.4f  (%g days per unit)", m.r, m.alpha, m.a, m.b, policy.modelTimeUnitDays))
            Output.line(String(format: "  Gamma-Gamma: p = %.4f  q = %.4f  v = %.4f", g.p, g.q, g.v))
            guard let attempt = latest[ModelRecord.attemptKey], let o = try? JSONParser.parse(attempt).objectValue else {
                return Output.line("last fit: none on \(OrbitTopics.models)")
            }
            if o["status"]?.stringValue == "refused" {
                let reason = o["reason"]?.objectValue
                Output.line("last fit: refused at \(o["at"]?.stringValue ?? "?") (\(reason?["code"]?.stringValue ?? "?")): \(reason?["message"]?.stringValue ?? "?")")
            } else {
                let f = o["fitted"]?.objectValue
                Output.line("last fit: applied at \(f?["at"]?.stringValue ?? "?") from \(f?["customers"]?.numberValue?.lexeme ?? "?") customers (\(f?["repeat_customers"]?.numberValue?.lexeme ?? "?") repeat), log-likelihood \(f?["log_likelihood"]?.numberValue?.lexeme ?? "?")")
            }
        }
    }

    struct Calibration: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per number of repeat purchases before a holdout period: purchases in it predicted by the configured model, by the deployed one, and by one fitted on the calibration period alone, against what happened.")
        @Option(help: "Days of the holdout period (the last days of purchases).") var holdoutDays = 90.0
        @Option(help: "The scorer's configuration (its configured models).") var scoringConfig = "deploy/config/scoring.yaml"
        @OptionGroup var connection: ConnectionOptions

        func validate() throws { try OptionChecks.require(holdoutDays, "holdout-days", above: 0) }

        func run() async throws {
            try Self.print(kafka: try connection.configuration(), configured: try ModelCommand.configuredPolicy(scoringConfig), holdoutDays: holdoutDays)
        }

        /// Prints the calibration table (the demo prints it after its refit too).
        static func print(kafka: KafkaConfiguration, configured: ScoringPolicy, holdoutDays: Double, indent: String = "") throws {
            let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.validEvents])
            try reader.readToEnd(timeout: 300)
            let days = ReportData.purchaseDays((reader.records[OrbitTopics.validEvents] ?? []).compactMap(\.value))
            let (deployed, source) = ModelCommand.deployedPolicy(configured, latest: try ModelCommand.latestModels(kafka))
            let today = Date().timeIntervalSince1970 / 86_400
            func calibration(_ policy: ScoringPolicy, fit: Bool) -> ModelCalibration {
                ModelCalibration(purchaseDays: days, cutOffDay: today - holdoutDays, endDay: today, model: policy.purchaseModel,
                                 unitDays: policy.modelTimeUnitDays, fitCalibrationPeriod: fit)
            }
            let before = calibration(configured, fit: false)
            let after = calibration(deployed, fit: true)
            Output.line(indent + "calibration: \(after.customers) customers, holdout of the last \(Int(holdoutDays)) days; deployed: \(source)")
            if let m = after.calibrationFit {
                Output.line(indent + String(format: "calibration-period fit: r = %.4f  alpha = %.4f  a = %.4f  b = %.4f", m.r, m.alpha, m.a, m.b))
            } else if let refusal = after.calibrationFitRefusal {
                Output.line(indent + "calibration-period fit: refused: \(refusal)")
            }
            Output.line(indent + "repeat  customers  model-file  deployed  calibration-fit  actual")
            for (b, a) in zip(before.buckets, after.buckets) {
                Output.line(indent + after.label(a).leftPadded(6) + String(a.customers).leftPadded(11) + String(format: "%.2f", b.predicted).leftPadded(12)
                            + String(format: "%.2f", a.predicted).leftPadded(10) + (a.predictedByCalibrationFit.map { String(format: "%.2f", $0) } ?? "-").leftPadded(17)
                            + String(format: "%.2f", a.actual).leftPadded(8))
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
