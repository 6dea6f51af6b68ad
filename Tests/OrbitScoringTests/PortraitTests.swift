import Foundation
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// The user portrait: attributes other systems publish (declared, checked per property), tags the
/// scorer derives (first touch, top categories by name, purchase interval, favourite weekday and
/// hour, community), recent-event counts and membership, in the state, the profile and segments.
final class PortraitTests: XCTestCase {
    let now = try! RFC3339.parse("2026-03-10T12:00:00Z")  // a Tuesday

    func config(_ yaml: String) throws -> ConfigDocument {
        try ConfigDocument(yaml: "scoring:\n  currencies_file: \(Self.currencies)\n" + yaml, file: "scoring.yaml", environment: [:])
    }
    static let currencies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/config/currencies.yaml").path

    func shippedSchema() throws -> AttributeSchema {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try ScoringSettings(document: ConfigDocument.load(path: root.appendingPathComponent("deploy/config/scoring.yaml").path, environment: [:])).policy.attributes
    }

    // MARK: Attributes

    func testAttributesAreCheckedPropertyByProperty() throws {
        let schema = try shippedSchema()
        let record = #"""
            {"gender":"female","age_band":"90+","region":"east-china","company_size":250,"birthday":"1990-02-30",
             "interests":["running","books","running"],"shoe_size":9,"role":null,"industry":7}
            """#
        guard case .success(let (accepted, rejected)) = schema.read(Array(record.utf8)) else { return XCTFail("the record is an object") }
        XCTAssertEqual(accepted, [
            UserAttribute(name: "company_size", value: .number(250)),
            UserAttribute(name: "gender", value: .text("female")),
            UserAttribute(name: "interests", value: .list(["books", "running"])),
            UserAttribute(name: "region", value: .text("east-china")),
        ])
        let reasons = Dictionary(uniqueKeysWithValues: rejected.map { ($0.field, $0.message) })
        XCTAssertEqual(Set(reasons.keys), ["age_band", "birthday", "shoe_size", "industry"])
        XCTAssertTrue(reasons["age_band"]!.contains("is not one of 18-24"), reasons["age_band"]!)
        XCTAssertTrue(reasons["birthday"]!.contains("YYYY-MM-DD"))
        XCTAssertTrue(reasons["shoe_size"]!.contains("not a declared attribute"))
        XCTAssertTrue(reasons["industry"]!.contains("a string, not number"))
        for bad in [#"{"company_size":0}"#, #"{"company_size":1e12}"#, #"{"interests":"running"}"#, #"{"interests":["a","b","c","d","e","f","g","h","i","j","k"]}"#,
                    #"{"region":""}"#, #"{"gender":["female"]}"#] {
            guard case .success(let (kept, refused)) = schema.read(Array(bad.utf8)) else { return XCTFail(bad) }
            XCTAssertTrue(kept.isEmpty && refused.count == 1, "\(bad): \(refused)")
        }
        for whole in ["[1,2]", "not json", "{" + String(repeating: #""a":1,"#, count: 4000) + #""b":2}"#] {
            guard case .failure = schema.read(Array(whole.utf8)) else { return XCTFail("refused whole: \(whole.prefix(20))") }
        }
        // What the scorer forwards reads back the same.
        guard case .success(let (again, none)) = schema.read(UserAttribute.encoded(accepted + [UserAttribute(name: "birthday", value: .date(7000))])) else { return XCTFail() }
        XCTAssertEqual(again.count, 5)
        XCTAssertTrue(none.isEmpty)
    }

    func testDeclarationsAreValidatedWithTheFileLineAndField() throws {
        let bad: [(String, String)] = [
            ("attributes:\n  Gender: {type: string}\n", "attributes.Gender"),
            ("attributes:\n  gender: {type: text}\n", "attributes.gender.type"),
            ("attributes:\n  gender: {type: enum}\n", "attributes.gender.values"),
            ("attributes:\n  region: {type: string, min: 3}\n", "attributes.region.min"),
            ("attributes:\n  size: {type: number, min: 10, max: 1}\n", "attributes.size.max"),
            ("tags:\n  time_zone: Mars/Olympus\n", "tags.time_zone"),
            ("tags:\n  categories_tracked: 4\n  top_categories: 5\n", "tags.top_categories"),
            ("tags:\n  community_levels: {none: 1}\n", "tags.community_levels"),
            ("tags:\n  favourite_hours: 3\n", "tags.favourite_hours"),
        ]
        for (yaml, field) in bad {
            XCTAssertThrowsError(try ScoringSettings(document: config(yaml))) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("scoring.yaml:") && text.contains(field), "\(yaml): \(text)")
            }
        }
        let settings = try ScoringSettings(document: config("tags:\n  time_zone: America/New_York\n  community_levels: {fan: 3, lurker: 1}\n"))
        XCTAssertEqual(settings.policy.tags.communityLevels.map(\.name), ["lurker", "fan"])
        XCTAssertEqual(settings.policy.tags.communityLevel(actions: 2), "lurker")
        XCTAssertEqual(settings.policy.tags.communityLevel(actions: 0), "none")
    }

    // MARK: Derived tags

    func event(_ id: String, _ type: EventType, _ time: Int64, _ properties: [(key: String, value: JSONValue)] = []) -> UserEvent {
        UserEvent(id: id, userID: "ann", type: type, timeMillis: time, properties: JSONObject(properties))
    }

    func purchase(_ id: String, _ time: Int64, _ items: [(category: String, priceMinor: Int64, quantity: Int64)], currency: String = "USD") -> UserEvent {
        let total = items.reduce(0) { $0 + $1.priceMinor * $1.quantity }
        let list: [JSONValue] = items.enumerated().map { index, item in
            .object(JSONObject([(key: "sku", value: .string("\(id)-\(index)")), (key: "category", value: .string(item.category)),
                                (key: "quantity", value: .number(JSONNumber(item.quantity))), (key: "price_minor", value: .number(JSONNumber(item.priceMinor)))]))
        }
        return event(id, .purchase, time, [(key: "order_id", value: .string(id)), (key: "amount_minor", value: .number(JSONNumber(total))),
                                           (key: "currency", value: .string(currency)), (key: "items", value: .array(list))])
    }

    func testTagsAreDerivedFromEventsInAnyOrder() {
        var policy = ScoringPolicy()
        policy.tags.categoriesTracked = 3
        policy.tags.topCategories = 2
        let day: Int64 = 86_400_000
        let events = [
            event("s2", .signup, now - 10 * day, [(key: "channel", value: .string("app"))]),
            event("s1", .signup, now - 20 * day, [(key: "channel", value: .string("wechat"))]),  // earlier: wins
            purchase("p1", now - 30 * day, [("shoes", 5_000, 2), ("books", 1_000, 1)]),
            purchase("p2", now - 20 * day, [("bags", 4_000, 1)]),
            purchase("p3", now - 10 * day, [("shoes", 1_000, 1), ("toys", 500, 1)]),  // toys takes over books (the smallest)
        ]
        var forward = UserState(), backward = UserState()
        for e in events { _ = forward.apply(e, policy: policy) }
        for e in events.reversed() { _ = backward.apply(e, policy: policy) }
        XCTAssertEqual(forward.firstTouch, backward.firstTouch)
        XCTAssertEqual(forward.firstTouch?.channel, "wechat")
        XCTAssertEqual(forward.categorySpend.count, 3, "bounded")
        let tags = DerivedTags(forward, policy: policy.tags, communityActions: 0)
        XCTAssertEqual(tags.topCategories, ["shoes", "bags"])
        XCTAssertEqual(tags.purchaseIntervalDays, 10)
        XCTAssertEqual(tags.community, "none")
        XCTAssertEqual(forward.categoryVariety, 3)
    }

    func testTheFavouriteWeekdayAndHourAreLocalAcrossDaylightSaving() throws {
        var policy = ScoringPolicy()
        policy.tags.timeZone = try XCTUnwrap(TimeZone(identifier: "America/New_York"))
        policy.tags.favouriteTimeMinimum = 3
        // 20:30 in New York on Saturdays either side of the March 2026 change (EST, then EDT):
        // 01:30 and 00:30 UTC on Sundays.
        let times = ["2026-03-01T01:30:00Z", "2026-03-08T01:30:00Z", "2026-03-15T00:30:00Z", "2026-03-22T00:30:00Z"].map { try! RFC3339.parse($0) }
        var state = UserState()
        for (i, time) in times.enumerated() { _ = state.apply(event("l\(i)", .login, time), policy: policy) }
        let tags = DerivedTags(state, policy: policy.tags, communityActions: 12)
        XCTAssertEqual(tags.favouriteWeekday, .saturday)
        XCTAssertEqual(tags.favouriteHour, 20)
        XCTAssertEqual(tags.community, "regular")
        // In UTC the same logins fall on Sundays.
        var utc = UserState()
        for (i, time) in times.enumerated() { _ = utc.apply(event("l\(i)", .login, time), policy: ScoringPolicy()) }
        XCTAssertNil(DerivedTags(utc, policy: ScoringPolicy().tags, communityActions: 0).favouriteWeekday, "fewer than five")
        var fewer = ScoringPolicy().tags
        fewer.favouriteTimeMinimum = 1
        XCTAssertEqual(DerivedTags(utc, policy: fewer, communityActions: 0).favouriteWeekday, .sunday)
    }

    func testRecentEventsAreCountedInEachWindow() {
        var state = UserState()
        let day: Int64 = 86_400_000
        for (i, daysAgo) in [0, 0, 3, 6, 7, 13, 29, 30, 45].enumerated() { _ = state.apply(event("l\(i)", .login, now - Int64(daysAgo) * day), policy: ScoringPolicy()) }
        _ = state.apply(event("x", EventType("webinar_attended"), now), policy: ScoringPolicy())  // configured kinds are not counted
        let counts = RecentEvents.counts(state.recentEvents, today: UserState.day(now))
        XCTAssertEqual(counts.map(\.type), [.login])
        XCTAssertEqual(counts.first?.counts, [2, 4, 6, 7])
        XCTAssertFalse(state.recentEvents.contains { $0.day <= UserState.day(now) - 30 }, "older days are dropped")
    }

    func testThePortraitSurvivesTheStateCodecAndOlderValuesStillRead() throws {
        var state = UserState()
        _ = state.apply(event("s", .signup, now, [(key: "channel", value: .string("wechat"))]), policy: ScoringPolicy())
        _ = state.apply(purchase("p", now, [("shoes", 5_000, 1)]), policy: ScoringPolicy())
        state.attributes = [UserAttribute(name: "birthday", value: .date(7000)), UserAttribute(name: "interests", value: .list(["a", "b"])),
                            UserAttribute(name: "region", value: .text("east")), UserAttribute(name: "size", value: .number(2.5))]
        _ = state.member.apply(level: "gold", paid: nil, timeMillis: now)
        _ = state.member.apply(level: nil, paid: true, timeMillis: now - 1)
        XCTAssertEqual(try UserState(decoding: state.encoded()), state)
        // A value written before the portrait (every field up to the custom segments) reads as no portrait.
        var old = state
        old.attributes = []; old.firstTouch = nil; old.categorySpend = []; old.activityClock = []; old.recentEvents = []; old.member = MemberFacts()
        let bytes = old.encoded()
        let legacy = Array(bytes.prefix(bytes.count - Self.emptyPortraitBytes))
        XCTAssertEqual(try UserState(decoding: legacy), old)
    }
    /// An empty portrait: five zero counts, a nil channel and level, two times, a flag.
    static let emptyPortraitBytes = {
        var w = CompactWriter(capacity: 32)
        w.unsigned(0); w.string(nil); w.signed(.max); w.unsigned(0); w.unsigned(0); w.unsigned(0)
        w.string(nil); w.signed(.min); w.unsigned(0); w.signed(.min)
        return w.bytes.count
    }()

    func testMembershipFactsKeepTheLatestOfEach() {
        var facts = MemberFacts()
        XCTAssertTrue(facts.apply(level: "gold", paid: nil, timeMillis: 20))
        XCTAssertFalse(facts.apply(level: "silver", paid: nil, timeMillis: 10), "older")
        XCTAssertTrue(facts.apply(level: nil, paid: true, timeMillis: 5), "a different fact has its own time")
        XCTAssertEqual(facts.level, "gold")
        XCTAssertTrue(facts.paid)
        let expired = #"{"kind":"paid_membership","change":"expired","time":"2026-03-10T12:00:00Z","user_id":"ann"}"#
        let change = MemberFacts.change(try! JSONParser.parse(Array(expired.utf8)).objectValue!)
        XCTAssertEqual(change?.paid, false)
        XCTAssertNil(MemberFacts.change(try! JSONParser.parse(Array(#"{"kind":"command_result","time":"2026-03-10T12:00:00Z"}"#.utf8)).objectValue!))
    }

    // MARK: The scorer

    func testTheScorerJoinsAttributesAndMembershipIntoProfilesAndSegments() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-scorer")
        var settings = ScoringSettings()
        settings.policy.rfmMode = .thresholds
        settings.policy.attributes = try shippedSchema()
        let driver = try TopologyTestDriver(ScorerService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        // Attributes may come before the user's first event: kept, no profile yet.
        driver.send(settings.attributesTopic, key: "ann", value: Array(#"{"gender":"female","company_size":-4,"shoe_size":9,"birthday":"1990-04-01"}"#.utf8))
        driver.send(settings.attributesTopic, key: "bob", value: Array(#"["not","an","object"]"#.utf8))
        try driver.run()
        XCTAssertNil(driver.latest(settings.profilesTopic)["ann"], "no profile before an event")
        let letters = driver.records(settings.deadLettersTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
        let fields = letters.compactMap { $0["error"]?.objectValue?["field"]?.stringValue }.sorted()
        XCTAssertEqual(fields, ["(record)", "attributes.company_size", "attributes.shoe_size"])
        XCTAssertEqual(Set(letters.compactMap { $0["source"]?.objectValue?["topic"]?.stringValue }), [settings.attributesTopic], "named where they came in")

        for user in ["ann", "bob"] {
            driver.send(settings.inputTopic, key: user, value: event("\(user)-s", .signup, now - 86_400_000, [(key: "channel", value: .string("wechat"))]).encodedFor(user))
        }
        driver.send(settings.memberEventsTopic, key: "ann", value: Array(#"{"schema_version":1,"id":"x","user_id":"ann","kind":"level_changed","time":"2026-03-10T11:00:00Z","from":"silver","to":"gold","reason":"r"}"#.utf8))
        driver.send(settings.memberEventsTopic, key: "ann", value: Array(#"{"schema_version":1,"id":"y","user_id":"ann","kind":"command_result","time":"2026-03-10T11:00:00Z"}"#.utf8))
        driver.send(settings.segmentDefinitionsTopic, key: "gold-women", value: SegmentDefinition(id: "gold-women", name: "Gold women", predicate: .all([
            .compare(.attribute("gender", .enum), .eq, .text("female")), .compare(.profile(.level), .eq, .text("gold")),
            .compare(.recentEvents(.signup, .week), .gte, .number(1)), .compare(.profile(.firstTouchChannel), .eq, .text("wechat")),
        ])).encoded())
        try driver.run()
        try driver.punctuate()
        let profile = try XCTUnwrap(JSONParser.parse(try XCTUnwrap(driver.latest(settings.profilesTopic)["ann"])).objectValue)
        XCTAssertEqual(profile["attributes"]?.objectValue?["gender"]?.stringValue, "female")
        XCTAssertEqual(profile["attributes"]?.objectValue?["birthday"]?.stringValue, "1990-04-01")
        XCTAssertNil(profile["attributes"]?.objectValue?["company_size"], "refused on its own")
        XCTAssertEqual(profile["membership"]?.objectValue?["level"]?.stringValue, "gold")
        XCTAssertEqual(profile["tags"]?.objectValue?["first_touch_channel"]?.stringValue, "wechat")
        XCTAssertEqual(profile["recent_events"]?.objectValue?["signup"]?.objectValue?["7d"]?.numberValue?.int64Value, 1)
        XCTAssertEqual(profile["custom_segments"]?.arrayValue?.compactMap(\.stringValue), ["gold-women"])
        XCTAssertEqual(driver.latest(settings.profilesTopic)["bob"].flatMap { try? JSONParser.parse($0).objectValue?["custom_segments"]?.arrayValue?.count }, 0)

        // New attributes replace the old; the user leaves the segment.
        driver.send(settings.attributesTopic, key: "ann", value: Array(#"{"gender":"undisclosed"}"#.utf8))
        try driver.run()
        let exits = driver.records(settings.segmentChangesTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
            .filter { $0["dimension"]?.stringValue == "custom:gold-women" }.map { "\($0["user_id"]?.stringValue ?? "") \($0["to"]?.stringValue ?? "")" }
        XCTAssertEqual(exits, ["ann true", "ann false"])

        // The state holds the accepted attributes.
        let home = KeyPartitioner.partition(of: "ann", partitionCount: 4)
        XCTAssertEqual(try driver.processor(ScoringProcessor.self).store.get(home, "ann")?.attributes.map(\.name), ["gender"])
    }
}

extension UserEvent {
    /// The record for another user.
    func encodedFor(_ user: String) -> [UInt8] {
        UserEvent(id: id, userID: user, type: type, timeMillis: timeMillis, properties: properties).encoded()
    }
}
