import OrbitContract
import OrbitRuntime

/// The churn models on `orbit.models` (compacted): what `orbit model fit --apply` publishes and
/// every scorer reads as a global table, so a refit reaches running scorers without a restart.
///
/// The record under ``deployedKey`` is the model file's document as JSON (`version`,
/// `time_unit_days`, `bgnbd`, `gamma_gamma`, `fitted`), read by the same reader as the file, so a
/// record means exactly what the file would. The record under ``attemptKey`` says how the latest
/// fit went (applied, or refused with a reason); scorers do not read it.
public enum ModelRecord {
    public static let deployedKey = "churn"
    public static let attemptKey = "churn.last-fit"
    public static let version = 1

    /// The deployed models: the fit's, with `keptSpend` when the fit left the spend model alone
    /// (too few customers with a valued repeat purchase).
    public static func deployed(_ fit: ChurnModelFit, keptSpend: GammaGammaModel, source: String, fittedAtMillis: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("version"); w.int(version)
        w.key("time_unit_days"); number(fit.timeUnitDays, &w)
        writeModels(purchases: fit.purchases, spend: fit.spend ?? keptSpend, &w)
        w.key("fitted"); writeStatistics(fit, source: source, fittedAtMillis: fittedAtMillis, &w)
        w.endObject()
        return w.bytes
    }

    /// How the latest attempt went: `applied` with the fit, or `refused` with the reason.
    public static func attempt(_ outcome: Result<ChurnModelFit, ChurnModelFit.Refusal>, source: String, atMillis: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("version"); w.int(version)
        switch outcome {
        case .success(let fit):
            w.key("status"); w.string("applied")
            w.key("time_unit_days"); number(fit.timeUnitDays, &w)
            writeModels(purchases: fit.purchases, spend: fit.spend, &w)
            w.key("fitted"); writeStatistics(fit, source: source, fittedAtMillis: atMillis, &w)
        case .failure(let refusal):
            w.key("status"); w.string("refused")
            w.key("reason"); w.beginObject()
            w.key("code"); w.string(refusal.code)
            w.key("message"); w.string(refusal.description)
            w.endObject()
            w.key("source"); w.string(source)
            w.key("at"); w.timestamp(millis: atMillis)
        }
        w.endObject()
        return w.bytes
    }

    /// Reads a deployed-models record over `policy` (the scorer's configured models), with errors
    /// that name the field, as a model file's would.
    public static func read(_ bytes: [UInt8], into policy: inout ScoringPolicy) throws(ConfigError) {
        let document = try ConfigDocument(yaml: String(decoding: bytes, as: UTF8.self), file: "\(OrbitTopics.models)/\(deployedKey)")
        guard try document.top.optionalString("version") != nil else {
            throw ConfigError(file: document.file, line: nil, field: "version", message: "a model record names its version")
        }
        try ModelFile.read(document, into: &policy)
    }

    private static func writeModels(purchases: BGNBDModel, spend: GammaGammaModel?, _ w: inout JSONWriter) {
        w.key("bgnbd"); w.beginObject()
        w.key("r"); number(purchases.r, &w)
        w.key("alpha"); number(purchases.alpha, &w)
        w.key("a"); number(purchases.a, &w)
        w.key("b"); number(purchases.b, &w)
        w.endObject()
        guard let spend else { return }
        w.key("gamma_gamma"); w.beginObject()
        w.key("p"); number(spend.p, &w)
        w.key("q"); number(spend.q, &w)
        w.key("v"); number(spend.v, &w)
        w.endObject()
    }

    private static func writeStatistics(_ fit: ChurnModelFit, source: String, fittedAtMillis: Int64, _ w: inout JSONWriter) {
        w.beginObject()
        w.key("source"); w.string(source)
        w.key("at"); w.timestamp(millis: fittedAtMillis)
        w.key("customers"); w.int(fit.customers)
        w.key("repeat_customers"); w.int(fit.repeatCustomers)
        w.key("log_likelihood"); number(fit.logLikelihood, &w)
        w.key("iterations"); w.int(fit.iterations)
        w.key("spend_fitted"); w.bool(fit.spend != nil)
        w.key("spend_customers"); w.int(fit.spendCustomers)
        if let ll = fit.spendLogLikelihood { w.key("spend_log_likelihood"); number(ll, &w) }
        w.endObject()
    }

    /// Shortest text that reads back to the same double (the fit's parameters exactly).
    private static func number(_ value: Double, _ w: inout JSONWriter) {
        w.raw(Array((value.isFinite ? "\(value)" : "null").utf8))
    }
}
