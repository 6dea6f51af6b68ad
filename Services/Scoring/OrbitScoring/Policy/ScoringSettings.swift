import Foundation
import OrbitContract
import OrbitRuntime

/// The `topics` and `scoring` sections of `scoring.yaml`, plus the fitted models of its
/// `model_file` (written by `orbit model fit`).
public struct ScoringSettings: Sendable {
    /// Group, evaluation interval and clock, shared with every stateful stage.
    public var processor = ProcessorSettings(groupID: "orbit-scorer")
    public var groupID: String { get { processor.groupID } set { processor.groupID = newValue } }
    public var evaluationInterval: Duration { get { processor.evaluationInterval } set { processor.evaluationInterval = newValue } }
    public var inputTopic = OrbitTopics.validEvents
    public var profilesTopic = OrbitTopics.userProfiles
    public var segmentChangesTopic = OrbitTopics.segmentChanges
    public var referralCreditsTopic = OrbitTopics.scorerReferralCredits
    public var sketchesTopic = OrbitTopics.scorerSketches
    /// Operators' segment definitions, read whole by every scorer (`orbit segments apply`).
    public var segmentDefinitionsTopic = OrbitTopics.segmentDefinitions
    /// The deployed churn models (`orbit model fit --apply`), read whole by every scorer; until a
    /// fit is applied, the model file's models are used.
    public var modelsTopic = OrbitTopics.models
    /// Each partition's segment sizes at each evaluation (sizes over time, for the report).
    public var segmentCensusTopic = OrbitTopics.segmentCensus
    public var stateChangelogTopic = OrbitTopics.scorerStateChangelog
    public var deadLettersTopic = OrbitTopics.scorerDeadLetters
    /// Where consents come from (`consents.profiling`).
    public var preferencesTopic = OrbitTopics.userPreferences
    /// Attributes other systems publish (declared in `attributes:`).
    public var attributesTopic = OrbitTopics.userAttributes
    /// Level changes and paid plans, from membership.
    public var memberEventsTopic = OrbitTopics.memberEvents
    public var policy = ScoringPolicy()
    public var modelFile: String?

    public init() {}

    public init(document: ConfigDocument) throws(ConfigError) {
        let topics = document.section("topics")
        try topics.rejectUnknownKeys(["input", "profiles", "segment_changes", "referral_credits", "sketches", "state_changelog", "dead_letters", "preferences",
                                      "segment_definitions", "segment_census", "attributes", "member_events", "models"])
        inputTopic = try topics.string("input", default: inputTopic)
        profilesTopic = try topics.string("profiles", default: profilesTopic)
        segmentChangesTopic = try topics.string("segment_changes", default: segmentChangesTopic)
        referralCreditsTopic = try topics.string("referral_credits", default: referralCreditsTopic)
        sketchesTopic = try topics.string("sketches", default: sketchesTopic)
        segmentDefinitionsTopic = try topics.string("segment_definitions", default: segmentDefinitionsTopic)
        segmentCensusTopic = try topics.string("segment_census", default: segmentCensusTopic)
        modelsTopic = try topics.string("models", default: modelsTopic)
        stateChangelogTopic = try topics.string("state_changelog", default: stateChangelogTopic)
        deadLettersTopic = try topics.string("dead_letters", default: deadLettersTopic)
        preferencesTopic = try topics.string("preferences", default: preferencesTopic)
        attributesTopic = try topics.string("attributes", default: attributesTopic)
        memberEventsTopic = try topics.string("member_events", default: memberEventsTopic)

        let scoring = document.section("scoring")
        try scoring.rejectUnknownKeys([
            "config_version", "group_id", "reporting_currency", "currencies_file", "evaluation_interval_seconds",
            "fixed_now", "rfm", "lifecycle", "model_file", "clv", "tier", "super_user", "engagement_window_days",
        ])
        var p = ScoringPolicy()
        p.configVersion = try scoring.string("config_version", default: "unversioned")
        processor = try ProcessorSettings(section: scoring, defaultGroupID: processor.groupID)
        p.reportingCurrency = try scoring.string("reporting_currency", default: "USD")
        // The one currency table (deploy/config/currencies.yaml), converted to the reporting currency.
        let table = try CurrencyTable.load(from: scoring, configFile: document.file)
        p.currencyDigits = table.digits
        guard let reportingRate = table.rates[p.reportingCurrency], p.currencyDigits[p.reportingCurrency] != nil else {
            throw scoring.invalid("reporting_currency", "\(p.reportingCurrency) has no rate in the currency table")
        }
        p.exchangeRates = table.rates.mapValues { $0 / reportingRate }
        p.engagementWindowDays = try scoring.int("engagement_window_days", default: 30, range: 1...365)
        p.attributes = try PortraitSettings.attributes(document.section("attributes"))
        p.tags = try PortraitSettings.tags(document.section("tags"))

        let rfm = scoring.section("rfm")
        try rfm.rejectUnknownKeys(["window_days", "mode", "high_from", "thresholds"])
        // The state keeps UserState.monthsKept months of 30 days: a longer window would count
        // only what is kept.
        p.rfmWindowDays = try rfm.int("window_days", default: 365, range: 1...(UserState.monthsKept * 30))
        p.rfmMode = try rfm.choice("mode", default: .quantiles)
        p.rfmHighFrom = try rfm.int("high_from", default: 3, range: 2...5)
        let thresholds = rfm.section("thresholds")
        if thresholds.exists {
            try thresholds.rejectUnknownKeys(["recency_days", "frequency", "monetary"])
            func cuts(_ key: String, scale: Double) throws(ConfigError) -> [Double] {
                let values = try thresholds.stringList(key).map { Double($0) }
                guard values.count == 4, values.allSatisfy({ $0 != nil && $0! >= 0 }),
                      zip(values, values.dropFirst()).allSatisfy({ $0! < $1! }) else {
                    throw thresholds.invalid(key, "needs four ascending numbers >= 0")
                }
                return values.map { $0! * scale }
            }
            let digits = p.currencyDigits[p.reportingCurrency]!
            p.rfmThresholds = RFMThresholds(
                recencyDays: try cuts("recency_days", scale: 1), frequency: try cuts("frequency", scale: 1),
                monetaryMinor: try cuts("monetary", scale: (0..<digits).reduce(1.0) { v, _ in v * 10 }))
        }

        let lifecycle = scoring.section("lifecycle")
        try lifecycle.rejectUnknownKeys(["new_days", "at_risk_days", "churned_days", "reactivated_days", "at_risk_probability_alive"])
        p.lifecycle.newDays = try lifecycle.int("new_days", default: 30, range: 1...3650)
        p.lifecycle.atRiskDays = try lifecycle.int("at_risk_days", default: 60, range: 1...3650)
        p.lifecycle.churnedDays = try lifecycle.int("churned_days", default: 180, range: 1...3650)
        p.lifecycle.reactivatedDays = try lifecycle.int("reactivated_days", default: 30, range: 1...3650)
        p.lifecycle.atRiskProbabilityAlive = try lifecycle.double("at_risk_probability_alive", default: 0.3, range: 0...1)
        guard p.lifecycle.atRiskDays < p.lifecycle.churnedDays else {
            throw lifecycle.invalid("churned_days", "must be more than at_risk_days (\(p.lifecycle.atRiskDays))")
        }

        let clv = scoring.section("clv")
        try clv.rejectUnknownKeys(["months", "margin", "annual_discount_rate"])
        p.clvMonths = try clv.int("months", default: 12, range: 1...120)
        p.clvMargin = try clv.double("margin", default: 1, range: 0...1)
        p.clvAnnualDiscountRate = try clv.double("annual_discount_rate", default: 0.1, range: 0...1)

        let tier = scoring.section("tier")
        try tier.rejectUnknownKeys(["weights", "s_cutoff", "a_cutoff"])
        let weights = tier.section("weights")
        // A margin weight was once accepted, and counted nothing: events carry no cost, so no
        // margin is known per user. Said plainly rather than as an unknown key.
        if weights.section("margin").exists {
            throw weights.invalid("margin", "events carry no cost or margin, so the score has no margin variable: remove it (CLV's profit share is clv.margin)")
        }
        try weights.rejectUnknownKeys(Set(TierVariable.allCases.map(\.rawValue)))
        let named = try weights.scalars()
        for variable in TierVariable.allCases where named[variable.rawValue] != nil {
            p.tier.weights[variable] = try weights.double(variable.rawValue, range: 0...1000)
        }
        p.tier.sCutoff = try tier.double("s_cutoff", default: p.tier.sCutoff, range: -1e6...1e6)
        p.tier.aCutoff = try tier.double("a_cutoff", default: p.tier.aCutoff, range: -1e6...1e6)
        guard p.tier.aCutoff < p.tier.sCutoff else { throw tier.invalid("a_cutoff", "must be below s_cutoff (\(p.tier.sCutoff))") }

        let mvp = scoring.section("super_user")
        try mvp.rejectUnknownKeys(["min_paid_purchases", "min_spend_quantile", "min_tenure_days", "min_community_actions_30d", "min_converted_referrals"])
        func optionalInt(_ key: String, _ current: Int?) throws(ConfigError) -> Int? {
            guard mvp.exists, try mvp.scalarsIfMapping().keys.contains(key) else { return current }
            guard try mvp.optionalString(key) != nil else { return nil }
            return try mvp.int(key, range: 0...1_000_000)
        }
        p.superUser.minPaidPurchases = try optionalInt("min_paid_purchases", p.superUser.minPaidPurchases)
        p.superUser.minTenureDays = try optionalInt("min_tenure_days", p.superUser.minTenureDays)
        p.superUser.minCommunityActions30d = try optionalInt("min_community_actions_30d", p.superUser.minCommunityActions30d)
        p.superUser.minConvertedReferrals = try optionalInt("min_converted_referrals", p.superUser.minConvertedReferrals)
        if mvp.exists, try mvp.scalarsIfMapping().keys.contains("min_spend_quantile") {
            p.superUser.minSpendQuantile = try mvp.optionalString("min_spend_quantile") == nil ? nil : try mvp.double("min_spend_quantile", range: 0...1)
        }

        if let file = try scoring.optionalString("model_file") {
            let base = URL(fileURLWithPath: document.file).deletingLastPathComponent()
            let path = file.hasPrefix("/") ? file : base.appendingPathComponent(file).path
            modelFile = path
            try ModelFile.load(path: path, into: &p)
        }
        policy = p
    }
}

/// The fitted churn models, in their own YAML file so `orbit model fit` can rewrite it whole
/// without touching the hand-written scoring rules and their comments.
public enum ModelFile {
    public static func load(path: String, into policy: inout ScoringPolicy) throws(ConfigError) {
        try read(ConfigDocument.load(path: path, environment: [:]), into: &policy)
    }

    /// Reads a model file, or a record of the model topic (the same document as JSON).
    static func read(_ document: ConfigDocument, into policy: inout ScoringPolicy) throws(ConfigError) {
        let top = document.top
        try top.rejectUnknownKeys(["version", "time_unit_days", "bgnbd", "gamma_gamma", "fitted"])
        if let version = try top.optionalString("version"), version != "1" {
            throw ConfigError(file: document.file, line: nil, field: "version", message: "version \(version) is not known to this scorer (it reads 1)")
        }
        policy.modelTimeUnitDays = try top.double("time_unit_days", default: 7, range: 0.001...3650)
        let bg = document.section("bgnbd")
        try bg.rejectUnknownKeys(["r", "alpha", "a", "b"])
        policy.purchaseModel = BGNBDModel(r: try bg.double("r", range: 1e-9...1e9), alpha: try bg.double("alpha", range: 1e-9...1e9),
                                          a: try bg.double("a", range: 1e-9...1e9), b: try bg.double("b", range: 1e-9...1e9))
        let gg = document.section("gamma_gamma")
        try gg.rejectUnknownKeys(["p", "q", "v"])
        policy.spendModel = GammaGammaModel(p: try gg.double("p", range: 1e-9...1e9), q: try gg.double("q", range: 1.000001...1e9), v: try gg.double("v", range: 1e-9...1e9))
    }

    /// The YAML `orbit model fit` writes.
    public static func render(timeUnitDays: Double, purchases: BGNBDModel, spend: GammaGammaModel?, previousSpend: GammaGammaModel,
                              source: String, customers: Int, logLikelihood: Double, fittedAt: String) -> String {
        let s = spend ?? previousSpend
        return """
        # Written by `orbit model fit` on \(fittedAt): do not edit by hand, fit again.
        # Source: \(source) (\(customers) customers). BG/NBD log-likelihood: \(String(format: "%.4f", logLikelihood)).
        time_unit_days: \(timeUnitDays)
        bgnbd:
          r: \(purchases.r)
          alpha: \(purchases.alpha)
          a: \(purchases.a)
          b: \(purchases.b)
        gamma_gamma:\(spend == nil ? "  # kept: the source had no monetary values" : "")
          p: \(s.p)
          q: \(s.q)
          v: \(s.v)
        fitted:
          source: "\(source.replacingOccurrences(of: "\"", with: "'"))"
          customers: \(customers)
          log_likelihood: \(logLikelihood)

        """
    }
}
