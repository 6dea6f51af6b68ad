import Foundation
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// Operators' segments: predicates against a reference evaluation on random profiles, definitions
/// read from YAML (errors with file, line and field) and from the topic, and the scorer's live
/// membership: entries and exits, re-evaluation when a definition changes, retirement, and a bad
/// definition dead-lettered while the others keep working.
final class CustomSegmentTests: XCTestCase {
    let now = try! RFC3339.parse("2026-03-10T12:00:00Z")

    /// The attributes the random profiles carry and the predicates test.
    static let attributes = AttributeSchema([
        { var d = AttributeDeclaration(name: "gender", kind: .enum); d.values = ["female", "male", "undisclosed"]; return d }(),
        AttributeDeclaration(name: "region", kind: .string),
        AttributeDeclaration(name: "company_size", kind: .number),
        AttributeDeclaration(name: "birthday", kind: .date),
        AttributeDeclaration(name: "interests", kind: .list),
    ])
    static let texts = ["female", "male", "east", "west", "shoes", "bags", "books", "running", "gold", "silver", "wechat", "app",
                        "active", "at_risk", "churned", "new", "S", "A", "B", "general_develop", "important_value", "111", "u3", "saturday", "regular", "none"]

    /// Random users' profiles, made by the evaluator from random histories: purchases of named
    /// categories, logins at random hours, a first-touch channel, attributes and membership.
    func randomProfiles(_ count: Int, seed: UInt64) -> [UserProfile] {
        var random = SeededRandom(seed: seed)
        var policy = ScoringPolicy()
        policy.tags.favouriteTimeMinimum = 2
        let evaluator = ProfileEvaluator(policy: policy)
        let today = UserState.day(now)
        return (0..<count).map { i in
            var state = UserState()
            let user = "u\(i)"
            let channel: [(key: String, value: JSONValue)] = random.next(upTo: 3) == 0 ? [] : [(key: "channel", value: .string(["wechat", "app"][random.next(upTo: 2)]))]
            _ = state.apply(UserEvent(id: "\(user)-s", userID: user, type: .signup, timeMillis: now - Int64(random.next(upTo: 400)) * 86_400_000, properties: JSONObject(channel)), policy: policy)
            for n in 0..<random.next(upTo: 6) {
                let minor = Int64(100 + random.next(upTo: 50_000))
                let category = ["shoes", "bags", "books"][random.next(upTo: 3)]
                let items: JSONValue = .array([.object(JSONObject([(key: "sku", value: .string("k\(n)")), (key: "category", value: .string(category)),
                                                                   (key: "quantity", value: .number(JSONNumber(Int64(1 + random.next(upTo: 3))))), (key: "price_minor", value: .number(JSONNumber(minor)))]))])
                _ = state.apply(UserEvent(id: "\(user)-p\(n)", userID: user, type: .purchase, timeMillis: now - Int64(random.next(upTo: 300)) * 86_400_000,
                                          properties: JSONObject([(key: "order_id", value: .string("\(user)-o\(n)")), (key: "amount_minor", value: .number(JSONNumber(minor))),
                                                                  (key: "currency", value: .string("USD")), (key: "items", value: items)])), policy: policy)
            }
            for n in 0..<random.next(upTo: 8) {
                _ = state.apply(UserEvent(id: "\(user)-l\(n)", userID: user, type: .login, timeMillis: now - Int64(random.next(upTo: 40 * 24)) * 3_600_000, properties: JSONObject()), policy: policy)
            }
            for n in 0..<random.next(upTo: 12) {
                _ = state.apply(UserEvent(id: "\(user)-k\(n)", userID: user, type: .post, timeMillis: now - Int64(random.next(upTo: 30)) * 86_400_000, properties: JSONObject()), policy: policy)
            }
            var attributes: [UserAttribute] = []
            if random.next(upTo: 3) > 0 { attributes.append(UserAttribute(name: "gender", value: .text(["female", "male", "undisclosed"][random.next(upTo: 3)]))) }
            if random.next(upTo: 2) > 0 { attributes.append(UserAttribute(name: "region", value: .text(["east", "west"][random.next(upTo: 2)]))) }
            if random.next(upTo: 2) > 0 { attributes.append(UserAttribute(name: "company_size", value: .number(Double(random.next(upTo: 5)) * 10))) }
            if random.next(upTo: 2) > 0 { attributes.append(UserAttribute(name: "birthday", value: .date(Int32(random.next(upTo: 200))))) }
            if random.next(upTo: 2) > 0 { attributes.append(UserAttribute(name: "interests", value: .list(Array(["books", "running", "shoes"].prefix(random.next(upTo: 4))).sorted()))) }
            state.attributes = attributes.sorted { $0.name < $1.name }
            if random.next(upTo: 2) > 0 { _ = state.member.apply(level: ["gold", "silver"][random.next(upTo: 2)], paid: random.next(upTo: 2) == 0, timeMillis: now) }
            for n in 0..<random.next(upTo: 4) {
                _ = state.apply(UserEvent(id: "\(user)-c\(n)", userID: user, type: EventType("community_post"), timeMillis: now - Int64(random.next(upTo: 40)) * 86_400_000, properties: JSONObject()),
                                policy: ScoringPolicy())
            }
            return evaluator.evaluate(&state, userID: user, today: today,
                                      thresholds: PopulationThresholds(rfm: policy.rfmThresholds, superUserSpendMinor: nil)).0
        }
    }

    static let fields: [SegmentField] = ProfileField.allCases.map(SegmentField.profile)
        + CustomSegmentTests.attributes.declarations.values.map { .attribute($0.name, $0.kind) }.sorted { $0.description < $1.description }
        + [.recentEvents(.login, .week), .recentEvents(.login, .month), .recentEvents(.post, .day), .recentEvents(.purchase, .month)]

    /// A random predicate over the fields, with values drawn from what profiles hold.
    func randomPredicate(_ random: inout SeededRandom, depth: Int = 0) -> SegmentPredicate {
        let field = Self.fields[random.next(upTo: Self.fields.count)]
        func value() -> FieldValue {
            switch field.kind {
            case .number: return .number(Double(random.next(upTo: 5)) * [1, 10, 1000, 0.1][random.next(upTo: 4)])
            case .date: return .number(Double(random.next(upTo: 200)))
            case .flag: return .flag(random.next(upTo: 2) == 0)
            case .text, .list: return .text(Self.texts[random.next(upTo: Self.texts.count)])
            }
        }
        switch depth < 3 ? random.next(upTo: 8) : 3 + random.next(upTo: 5) {
        case 0: return .all((0..<(1 + random.next(upTo: 3))).map { _ in randomPredicate(&random, depth: depth + 1) })
        case 1: return .any((0..<(1 + random.next(upTo: 3))).map { _ in randomPredicate(&random, depth: depth + 1) })
        case 2: return .not(randomPredicate(&random, depth: depth + 1))
        case 3: return .exists(field)
        case 4: return .oneOf(field, (0..<(1 + random.next(upTo: 3))).map { _ in value() })
        case 5 where field.kind == .number || field.kind == .date:
            let a = Double(random.next(upTo: 200)), b = Double(random.next(upTo: 200))
            return .between(field, min(a, b), max(a, b))
        default:
            let comparisons: [SegmentPredicate.Comparison] = field.kind == .number || field.kind == .date ? SegmentPredicate.Comparison.allCases : [.eq, .ne]
            return .compare(field, comparisons[random.next(upTo: comparisons.count)], value())
        }
    }

    /// The reference: the predicate evaluated on the published JSON, written out case by case.
    func reference(_ p: SegmentPredicate, _ profile: JSONValue) -> Bool {
        func lookup(_ field: SegmentField) -> JSONValue? {
            let name = field.description
            let path = name == "lifecycle" ? ["lifecycle", "stage"] : name.split(separator: ".").map(String.init)
            var node: JSONValue? = profile
            for key in path { node = node?.objectValue?[key] }
            if name.hasPrefix("recent_events."), node == nil { return .number(JSONNumber(0)) }
            if case .null? = node { return nil }
            if case .array(let items)? = node, items.isEmpty { return nil }
            // Dates as day numbers.
            if field.kind == .date, case .string(let s)? = node {
                let parts = s.split(separator: "-").compactMap { Int($0) }
                return .number(JSONNumber(Int64(RFC3339.daysFromCivil(year: parts[0], month: parts[1], day: parts[2]))))
            }
            return node
        }
        func number(_ value: JSONValue?) -> Double? { value?.numberValue.flatMap { Double($0.lexeme) } }
        func equal(_ actual: JSONValue?, _ value: FieldValue) -> Bool {
            switch (value, actual) {
            case (.text(let t), .array(let items)?): return items.contains { $0.stringValue == t }
            case (.number(let x), _): return number(actual) == x
            case (.text(let t), .string(let s)?): return s == t
            case (.flag(let b), .bool(let a)?): return a == b
            default: return false
            }
        }
        switch p {
        case .all(let parts): return parts.allSatisfy { reference($0, profile) }
        case .any(let parts): return parts.contains { reference($0, profile) }
        case .not(let part): return !reference(part, profile)
        case .exists(let field): return lookup(field) != nil
        case .oneOf(let field, let values): return lookup(field) != nil && values.contains { equal(lookup(field), $0) }
        case .between(let field, let low, let high): return number(lookup(field)).map { $0 >= low && $0 <= high } ?? false
        case .compare(let field, let comparison, let value):
            guard let actual = lookup(field) else { return false }
            if case .number(let x) = value, let a = number(actual) {
                switch comparison {
                case .eq: return a == x
                case .ne: return a != x
                case .lt: return a < x
                case .lte: return a <= x
                case .gt: return a > x
                case .gte: return a >= x
                }
            }
            switch comparison {
            case .eq: return equal(actual, value)
            case .ne: return !equal(actual, value)
            default: return false
            }
        }
    }

    func testPredicatesAgreeWithAReferenceEvaluationOnRandomProfiles() throws {
        let profiles = randomProfiles(300, seed: 7)
        let json = try profiles.map { try JSONParser.parse($0.encoded()) }
        let parsed = try json.map { try XCTUnwrap($0.objectValue) }
        var random = SeededRandom(seed: 11)
        var matched = 0, total = 0
        for _ in 0..<300 {
            let predicate = randomPredicate(&random)
            // Through the topic's JSON and back: the predicate a scorer reads is the one written.
            let definition = SegmentDefinition(id: "s", name: "S", predicate: predicate)
            XCTAssertEqual(try SegmentDefinition.decode(key: "s", definition.encoded(), attributes: Self.attributes), definition)
            for (index, profile) in profiles.enumerated() {
                let expected = reference(predicate, json[index])
                XCTAssertEqual(predicate.matches(profile), expected, "typed profile \(profile.userID): \(String(decoding: definition.encoded(), as: UTF8.self))")
                XCTAssertEqual(predicate.matches(ProfileJSON(parsed[index])), expected, "published profile \(profile.userID)")
                matched += expected ? 1 : 0
                total += 1
            }
        }
        XCTAssertGreaterThan(matched, total / 10, "the random predicates match some profiles")
        XCTAssertLessThan(matched, total * 9 / 10, "and miss others")
    }

    func document(_ yaml: String) throws -> ConfigDocument { try ConfigDocument(yaml: yaml, file: "segments.yaml", environment: [:]) }

    func testAFileIsReadWithErrorsNamingTheFileLineAndField() throws {
        let definitions = try SegmentFile.read(try document("""
            segments:
              - id: big-spenders-drifting
                name: Big spenders drifting away
                where:
                  all:
                    - {field: rfm.monetary_minor, gte: 50000}
                    - {field: lifecycle, in: [at_risk, churned]}
                    - not: {field: super_user, eq: true}
                    - exists: churn.probability_alive
                    - {field: rfm.recency_days, between: [30, 90]}
            """))
        XCTAssertEqual(definitions.first?.predicate, .all([
            .compare(.profile(.monetaryMinor), .gte, .number(50_000)), .oneOf(.profile(.lifecycle), [.text("at_risk"), .text("churned")]),
            .not(.compare(.profile(.superUser), .eq, .flag(true))), .exists(.profile(.probabilityAlive)), .between(.profile(.recencyDays), 30, 90),
        ]))
        // The portrait's fields: attributes (dates as dates), derived tags, membership, recent events.
        let portrait = try SegmentFile.read(try document("""
            segments:
              - id: b2b-decision-makers
                name: Decision makers who buy shoes
                where:
                  all:
                    - {field: attributes.gender, in: [female, undisclosed]}
                    - {field: attributes.birthday, between: [1980-01-01, "1999-12-31"]}
                    - {field: attributes.interests, eq: running}
                    - {field: tags.top_categories, in: [shoes, bags]}
                    - {field: tags.community, ne: none}
                    - {field: membership.paid, eq: true}
                    - {field: membership.level, in: [gold]}
                    - {field: recent_events.login.7d, gte: 3}
            """))
        let written = try XCTUnwrap(portrait.first)
        XCTAssertEqual(try SegmentDefinition.decode(key: written.id, written.encoded(), attributes: Self.attributes), written)
        XCTAssertTrue(String(decoding: written.encoded(), as: UTF8.self).contains(#""between":["1980-01-01","1999-12-31"]"#))
        let bad: [(String, String, String)] = [
            ("{field: rfm.spend, gte: 5}", "not a profile field", "segments.yaml:4:"),
            ("{field: rfm.frequency, gte: \"5\"}", "is a number", "segments.yaml:4:"),
            ("{field: tier, gt: S}", "gt is for numbers", "segments.yaml:4:"),
            ("{field: tier, eq: S, ne: A}", "exactly one test", "segments.yaml:4:"),
            ("{field: tier, like: S}", "unknown test", "segments.yaml:4:"),
            ("{exists: tier, field: tier}", "exactly one of", "segments.yaml:4:"),
            ("{field: rfm.frequency, between: [9, 1]}", "low <= high", "segments.yaml:4:"),
            ("{all: []}", "at least one condition", "segments.yaml:4:"),
            ("{field: attributes.shoe_size, eq: 9}", "shoe_size is not a declared attribute", "segments.yaml:4:"),
            ("{field: attributes.birthday, gt: 1990-02-30}", "is a date", "segments.yaml:4:"),
            ("{field: tags.top_categories, gt: shoes}", "gt is for numbers and dates", "segments.yaml:4:"),
            ("{field: recent_events.login.5d, gte: 1}", "one of 1d, 7d, 14d, 30d", "segments.yaml:4:"),
            ("{field: recent_events.teleport.7d, gte: 1}", "a built-in event type", "segments.yaml:4:"),
        ]
        for (condition, message, line) in bad {
            XCTAssertThrowsError(try SegmentFile.read(try document("segments:\n  - id: s\n    name: S\n    where: \(condition)\n"))) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(message) && text.contains(line) && text.contains("segments[0].where"), "\(condition): \(text)")
            }
        }
        let nested = String(repeating: "not: {", count: 10) + "exists: tier" + String(repeating: "}", count: 10)
        XCTAssertThrowsError(try SegmentFile.read(try document("segments:\n  - id: s\n    name: S\n    where: {\(nested)}\n")))
        XCTAssertThrowsError(try SegmentFile.read(try document("segments:\n  - id: Bad Id\n    name: S\n    where: {exists: tier}\n"))) { error in
            XCTAssertTrue("\(error)".contains("segments[0].id"), "\(error)")
        }
        XCTAssertThrowsError(try SegmentFile.read(try document("segments:\n  - id: s\n    name: S\n"))) { error in XCTAssertTrue("\(error)".contains("where"), "\(error)") }
        XCTAssertThrowsError(try SegmentFile.read(try document("segments:\n  - {id: s, name: S, where: {exists: tier}}\n  - {id: s, name: T, where: {exists: tier}}\n"))) { error in
            XCTAssertTrue("\(error)".contains("defined twice"), "\(error)")
        }
    }

    func testARecordThatReachedTheTopicAnywayIsRefusedWithItsField() {
        let cases: [(String, String, String)] = [
            ("s", #"{"schema_version":1,"id":"s","name":"S","where":{"field":"tier","eq":"S"},"owner":"x"}"#, "owner"),
            ("t", #"{"schema_version":1,"id":"s","name":"S","where":{"field":"tier","eq":"S"}}"#, "id"),
            ("s", #"{"schema_version":2,"id":"s","name":"S","where":{"field":"tier","eq":"S"}}"#, "schema_version"),
            ("s", #"{"schema_version":1,"id":"s","name":"S","where":{"field":"rfm.frequency","eq":"3"}}"#, "where.eq"),
            ("s", #"{"schema_version":1,"id":"s","name":"S","where":{"any":[{"field":"tier"}]}}"#, "where.any[0].field"),
            ("s", "not json", "(record)"),
            // An attribute the scorer does not declare: the definition is not used.
            ("s", #"{"schema_version":1,"id":"s","name":"S","where":{"field":"attributes.shoe_size","eq":9}}"#, "where.field"),
        ]
        for (key, record, field) in cases {
            XCTAssertThrowsError(try SegmentDefinition.decode(key: key, Array(record.utf8), attributes: Self.attributes)) { error in
                XCTAssertEqual((error as? SegmentDefinition.Unusable)?.field, field, "\(record): \(error)")
            }
        }
    }

    // MARK: The scorer

    func purchase(_ id: String, minor: Int64, user: String, daysAgo: Int64 = 2) -> [UInt8] {
        UserEvent(id: id, userID: user, type: .purchase, timeMillis: now - daysAgo * 86_400_000,
                  properties: JSONObject([(key: "order_id", value: .string(id)), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))])).encoded()
    }

    func changes(_ driver: TopologyTestDriver, _ settings: ScoringSettings) -> [(user: String, dimension: String, to: String)] {
        driver.records(settings.segmentChangesTopic).compactMap { record in
            guard let o = try? JSONParser.parse(record.value ?? []).objectValue, let dimension = o["dimension"]?.stringValue, dimension.hasPrefix("custom:") else { return nil }
            return (o["user_id"]?.stringValue ?? "", dimension, o["to"]?.stringValue ?? "")
        }
    }

    func define(_ driver: TopologyTestDriver, _ settings: ScoringSettings, _ id: String, _ predicate: SegmentPredicate) {
        driver.send(settings.segmentDefinitionsTopic, key: id, value: SegmentDefinition(id: id, name: id.capitalized, predicate: predicate).encoded())
    }

    func testTheScorerKeepsLiveMembershipThroughChangesRedefinitionsRetirementAndABadRecord() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer")
        var settings = ScoringSettings()
        settings.policy.rfmMode = .thresholds
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        for (user, minor) in [("ann", 80_000), ("bob", 20_000), ("cid", 500)] {
            driver.send(settings.inputTopic, key: user, value: purchase("\(user)-1", minor: Int64(minor), user: user))
        }
        try driver.run()
        XCTAssertTrue(changes(driver, settings).isEmpty, "no segment defined yet")

        // A definition arrives: everyone is re-evaluated at the next punctuation.
        define(driver, settings, "big", .compare(.profile(.monetaryMinor), .gte, .number(50_000)))
        define(driver, settings, "small", .compare(.profile(.monetaryMinor), .lt, .number(1_000)))
        try driver.punctuate()
        XCTAssertEqual(changes(driver, settings).map { "\($0.user) \($0.dimension) \($0.to)" }.sorted(),
                       ["ann custom:big true", "cid custom:small true"])

        // A purchase takes bob in: the change comes with his profile, not at a punctuation.
        driver.send(settings.inputTopic, key: "bob", value: purchase("bob-2", minor: 40_000, user: "bob"))
        try driver.run()
        XCTAssertEqual(changes(driver, settings).last.map { "\($0.user) \($0.dimension) \($0.to)" }, "bob custom:big true")

        // Redefined: who no longer matches leaves, who now matches enters.
        let before = changes(driver, settings).count
        define(driver, settings, "big", .compare(.profile(.monetaryMinor), .gte, .number(70_000)))
        try driver.punctuate()
        XCTAssertEqual(changes(driver, settings).dropFirst(before).map { "\($0.user) \($0.dimension) \($0.to)" }, ["bob custom:big false"])

        // A bad record for "small" is dead-lettered once; "small" keeps its last good definition
        // and "big" keeps working.
        let dead = driver.records(settings.deadLettersTopic).count
        driver.send(settings.segmentDefinitionsTopic, key: "small", value: Array(#"{"schema_version":1,"id":"small","name":"S","where":{"field":"nope","eq":1}}"#.utf8))
        try driver.punctuate()
        try driver.punctuate()
        let letters = driver.records(settings.deadLettersTopic).dropFirst(dead)
        XCTAssertEqual(letters.count, 1, "dead-lettered once")
        XCTAssertTrue(String(decoding: letters.first?.value ?? [], as: UTF8.self).contains("segment small is not used (its previous definition stays)"))
        XCTAssertEqual(driver.processor(ScoringProcessor.self).segments.map(\.id), ["big", "small"])
        XCTAssertEqual(changes(driver, settings).filter { $0.dimension == "custom:small" }.count, 1, "cid stays in small")

        // Retired: its members leave.
        driver.send(settings.segmentDefinitionsTopic, key: "big", value: nil)
        try driver.punctuate()
        XCTAssertEqual(changes(driver, settings).last.map { "\($0.user) \($0.dimension) \($0.to)" }, "ann custom:big false")
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        XCTAssertEqual(try driver.processor(ScoringProcessor.self).store.get(home, "ann")?.customSegments, [])

        // Membership survives a restart (it is in the state's changelog): nothing is entered twice.
        let count = changes(driver, settings).count
        try driver.restart()
        try driver.punctuate()
        XCTAssertEqual(changes(driver, settings).count, count)
    }
}

extension SegmentFile {
    /// A file read with the attributes these tests declare.
    static func read(_ document: ConfigDocument) throws -> [SegmentDefinition] { try read(document, attributes: CustomSegmentTests.attributes) }
}

/// A small deterministic generator (SplitMix64) for property tests.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
