import OrbitContract
import OrbitIngest
import OrbitMembership
import OrbitNotifyRules
import OrbitRuntime
import OrbitScoring

/// The parsers that read what someone else wrote, each as a function of one byte string that
/// libFuzzer drives (`scripts/fuzz.sh`) and the regression tests replay (`OrbitFuzzTests`).
///
/// A target does more than "not crash": it checks what must hold for any input, and throws
/// ``FuzzFinding`` when that breaks. Under the fuzzer a finding is a crash with the input saved;
/// in the tests it is a failure naming the file.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `JSONParser`: anything it accepts writes back to bytes that parse to the same value, and
    /// writing is deterministic.
    case json
    /// `EventValidator`: an accepted event reads back from its `.valid` bytes unchanged, with ids
    /// that follow the identifier rules; a rejected one makes a dead letter that is valid JSON.
    case validator
    /// `MemberCommand.parse`: what it accepts has valid ids and points in range.
    case command
    /// `ConfigDocument` and every service's settings: an error names a file and a field.
    case config
    /// `TemplateCatalog`: a template file that loads renders every template, and one-line parts
    /// (subjects, titles) never carry a line break.
    case template

    /// Inputs larger than this are not interesting and only slow the fuzzer down.
    public static let maxInputBytes = 64 * 1024

    public func run(_ input: [UInt8]) throws(FuzzFinding) {
        guard input.count <= Self.maxInputBytes else { return }
        switch self {
        case .json: try Self.json(input)
        case .validator: try Self.validator(input)
        case .command: try Self.command(input)
        case .config: try Self.config(input)
        case .template: try Self.template(input)
        }
    }

    static func json(_ input: [UInt8]) throws(FuzzFinding) {
        guard let value = try? JSONParser.parse(input) else { return }
        let written = JSONWriter.encode(value)
        let reparsed: JSONValue
        do { reparsed = try JSONParser.parse(written) } catch {
            throw FuzzFinding("written JSON does not parse: \(error.message)")
        }
        guard reparsed == value else { throw FuzzFinding("written JSON parses to a different value") }
        guard JSONWriter.encode(reparsed) == written else { throw FuzzFinding("writing is not deterministic") }
    }

    static let reference: Int64 = 1_795_435_200_000  // 2026-11-23T12:00:00Z

    static func validator(_ input: [UInt8]) throws(FuzzFinding) {
        let validator = EventValidator(policy: ValidationPolicy())
        // Ingestion's one-pass reader never changes an answer: what it accepts, the full
        // validator accepts as the same record.
        if let fast = validator.validateRecordInOnePass(input, referenceTimeMillis: reference) {
            guard case .success(let full) = validator.validateRecordInFull(input, referenceTimeMillis: reference) else {
                throw FuzzFinding("read in one pass, rejected by the full validator")
            }
            guard fast == full else { throw FuzzFinding("the one-pass reader writes a different .valid record") }
        }
        // Downstream services read `.valid` records in one pass too: the same event or the same error.
        switch (Result { try UserEvent.decode(input) }, Result { try UserEvent.decode(input[...]) }) {
        case (.success(let a), .success(let b)) where a == b: break
        case (.failure(let a), .failure(let b)) where "\(a)" == "\(b)": break
        default: throw FuzzFinding("UserEvent.decode in one pass and in full disagree")
        }
        switch validator.validate(input, referenceTimeMillis: reference) {
        case .success(let event):
            for (field, id) in [("id", event.id), ("user_id", event.userID)] {
                if let violation = IdentifierRules.violation(id) { throw FuzzFinding("accepted \(field) that \(violation)") }
            }
            let decoded: UserEvent
            do { decoded = try UserEvent.decode(event.encoded()) } catch {
                throw FuzzFinding("the .valid record does not read back: \(error)")
            }
            guard decoded == event else { throw FuzzFinding("the .valid record reads back different") }
        case .failure(let rejection):
            guard !rejection.message.isEmpty else { throw FuzzFinding("a rejection without a message (\(rejection.code))") }
            let letter = DeadLetter(rejection: rejection, source: .init(topic: "fuzz", partition: 0, offset: 0, timestampMillis: reference),
                                    key: Array(input.prefix(64)), payload: input)
            guard case .object? = try? JSONParser.parse(letter.encoded()) else { throw FuzzFinding("the dead letter is not a JSON object") }
        }
    }

    static func command(_ input: [UInt8]) throws(FuzzFinding) {
        let command: MemberCommand
        do throws(MemberCommand.ParseError) { command = try MemberCommand.parse(input) } catch { return }
        var ids = [command.requestID]
        var points: Int64?
        switch command {
        case .redeem(_, let user, let p, let reward): ids += [user, reward]; points = p
        case .holdPoints(_, let user, let order, let p, let amount, _): ids += [user, order]; points = p; if amount <= 0 { throw FuzzFinding("an order of \(amount)") }
        case .capturePoints(_, let user, let order), .releasePoints(_, let user, let order), .cancelRedemption(_, let user, let order): ids += [user, order]
        case .redeemReward(_, let user, let reward, let quantity, let address): ids += [user, reward] + (address.map { [$0] } ?? []); if !(1...100).contains(quantity) { throw FuzzFinding("redeem_reward of \(quantity)") }
        case .adjust(_, let user, let p, _, let op): ids += [user, op]; if p == 0 || abs(p) > 1_000_000_000 { throw FuzzFinding("adjust by \(p)") }
        case .transfer(_, let from, let to, let p): ids += [from, to]; points = p
        case .bulkGrant(_, let campaign, let p, let users): ids += [campaign] + users; points = p
        case .join(_, let user, let plan, let months): ids += [user, plan]; if !(1...120).contains(months) { throw FuzzFinding("join for \(months) months") }
        case .renew(_, let user, let months): ids += [user]; if !(1...120).contains(months) { throw FuzzFinding("renew for \(months) months") }
        case .cancel(_, let user), .setStatus(_, let user, _): ids += [user]
        }
        for id in ids { if let violation = IdentifierRules.violation(id) { throw FuzzFinding("accepted an id that \(violation)") } }
        if let points, !(1...1_000_000_000).contains(points) { throw FuzzFinding("accepted \(points) points") }
    }

    static func config(_ input: [UInt8]) throws(FuzzFinding) {
        let file = "fuzz.yaml"
        func check(_ body: () throws(ConfigError) -> Void) throws(FuzzFinding) {
            do throws(ConfigError) { try body() } catch {
                // Settings may name other files (a currency table, a model); their errors name those.
                guard !error.file.isEmpty else { throw FuzzFinding("a configuration error without a file: \(error)") }
                guard !error.field.isEmpty, !error.message.isEmpty else { throw FuzzFinding("a configuration error without a field or message: \(error)") }
            }
        }
        var document: ConfigDocument?
        try check { () throws(ConfigError) in document = try ConfigDocument(yaml: String(decoding: input, as: UTF8.self), file: file, environment: [:]) }
        guard let document else { return }
        try check { () throws(ConfigError) in _ = try RuntimeSettings(document: document, defaultServiceName: "fuzz", defaultHTTPPort: 0) }
        try check { () throws(ConfigError) in _ = try IngestSettings(document: document) }
        try check { () throws(ConfigError) in _ = try ScoringSettings(document: document) }
        try check { () throws(ConfigError) in _ = try MembershipSettings(document: document) }
    }

    /// Variables as the notify stage builds them, with markup and a header injection to escape.
    static var sampleVariables: [String: Any] { [
        "user": ["id": "u-1", "name": "Ada <b>&amp;</b>\r\nBcc: x", "locale": "en"],
        "profile": ["segment": "at_risk", "lifecycle": "active", "tier": "S", "super_user": true, "monetary_minor": "12000", "rfm": "555"],
        "account": ["level": "gold", "balance": 120, "available": 100, "expiring_next": 20, "next_expiry": "2026-12-31"],
        "event": ["to": "gold", "from": "silver", "points": "10", "items": [["sku": "a", "name": "x"], ["sku": "b"]]],
        "digest": ["count": 2, "sum": 30],
        "trigger": "welcome", "campaign": "c-1", "variant": "a",
        "notification": ["id": "n-1", "channel": "email"],
    ] }

    static func template(_ input: [UInt8]) throws(FuzzFinding) {
        let file = "fuzz.yaml"
        let catalog: TemplateCatalog
        do throws(ConfigError) { catalog = try TemplateCatalog.catalog(yaml: String(decoding: input, as: UTF8.self), file: file, locale: "en") } catch {
            guard error.file == file, !error.field.isEmpty else { throw FuzzFinding("a template error without its file or field: \(error)") }
            return
        }
        let variables = sampleVariables
        for entry in catalog.entries {
            guard let message = catalog.render(entry.template, channel: entry.channel, locale: entry.locale, variables: variables) else {
                throw FuzzFinding("\(entry.template).\(entry.channel.rawValue) loaded but does not render")
            }
            for (part, text) in message.parts where part == .subject || part == .title {
                if text.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) { throw FuzzFinding("a \(part.rawValue) carries a line break") }
            }
        }
    }
}

/// Something that must hold for every input did not.
public struct FuzzFinding: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
