import Foundation
import OrbitContract
import OrbitCore
import OrbitKafka
import OrbitMembership
import OrbitNotify
import OrbitRuntime
import OrbitScoring
import OrbitTestKit
import XCTest

/// An operator's segment end to end, through the message contract: the scorer's `custom:<id>`
/// segment changes, piped as records into orbit-members (a segment-entry points rule) and
/// orbit-notify (a campaign whose audience is the segment). Each service runs its whole declared
/// topology under the test kit.
final class CustomSegmentFlowTests: XCTestCase {
    let now: Int64 = 1_795_435_200_000  // 2026-11-23T12:00:00Z, outside the default quiet hours
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func purchase(_ id: String, minor: Int64, user: String) -> [UInt8] {
        UserEvent(id: id, userID: user, type: .purchase, timeMillis: now - 2 * 86_400_000,
                  properties: JSONObject([(key: "order_id", value: .string(id)), (key: "amount_minor", value: .number(JSONNumber(minor))), (key: "currency", value: .string("USD"))])).encoded()
    }

    func testACustomSegmentEarnsPointsOnEntryAndIsACampaignsAudience() throws {
        // The scorer: two buyers, one big; the operator defines "big".
        var scoring = ScoringSettings()
        scoring.policy.rfmMode = .thresholds
        let scorerRuntime = try RuntimeSettings.testing(service: "orbit-scorer")
        let scorer = try TopologyTestDriver(ScorerService.topology(scoring, runtime: scorerRuntime), runtime: scorerRuntime, nowMillis: now)
        scorer.send(scoring.inputTopic, key: "ann", value: purchase("ann-1", minor: 90_000, user: "ann"))
        scorer.send(scoring.inputTopic, key: "bob", value: purchase("bob-1", minor: 3_000, user: "bob"))
        try scorer.run()
        let definition = try XCTUnwrap(SegmentFile.read(try ConfigDocument(yaml: """
            segments:
              - id: big
                name: Big spenders
                where: {field: rfm.monetary_minor, gte: 50000}
            """, file: "segments.yaml", environment: [:]), attributes: scoring.policy.attributes).first)
        scorer.send(scoring.segmentDefinitionsTopic, key: definition.id, value: definition.encoded())
        try scorer.punctuate()
        let changes = scorer.records(scoring.segmentChangesTopic).filter {
            (try? JSONParser.parse($0.value ?? []).objectValue?["dimension"]?.stringValue) == "custom:big"
        }
        XCTAssertEqual(changes.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }, ["ann"])

        // orbit-members: 250 points on entering custom:big.
        var members = MembershipSettings()
        members.policy.engine = EarningEngine(rules: [EarningRule(id: "big-welcome", kind: .segmentEntry(dimension: "custom:big", value: "true", points: 250))])
        members.policy.lotExpiry = .never
        let membersRuntime = try RuntimeSettings.testing(service: "orbit-members")
        let ledger = try TopologyTestDriver(MembershipService.topology(members, runtime: membersRuntime), runtime: membersRuntime, nowMillis: now)
        ledger.send(members.eventsTopic, key: "ann", value: UserEvent(id: "ann-signup", userID: "ann", type: .signup, timeMillis: now - 86_400_000, properties: JSONObject()).encoded())
        try ledger.run()
        for change in changes { ledger.send(members.segmentChangesTopic, key: "ann", value: change.value) }
        try ledger.run()
        let account = try XCTUnwrap(JSONParser.parse(try XCTUnwrap(ledger.latest(members.accountsTopic)["ann"])).objectValue)
        XCTAssertEqual(account["balance"]?.numberValue?.int64Value, 250)
        for change in changes { ledger.send(members.segmentChangesTopic, key: "ann", value: change.value) }  // a repeat earns nothing
        try ledger.run()
        XCTAssertEqual(try JSONParser.parse(ledger.latest(members.accountsTopic)["ann"]!).objectValue?["balance"]?.numberValue?.int64Value, 250)

        // orbit-notify: a campaign to custom:big reaches ann, not bob.
        let notifySettings = try NotifySettings(document: try ConfigDocument.load(path: Self.root.appendingPathComponent("deploy/config/notify.yaml").path))
        let notifyRuntime = try RuntimeSettings.testing(service: "orbit-notify")
        let notify = try TopologyTestDriver(NotifyService.topology(notifySettings, runtime: notifyRuntime, senders: ChannelSenders(senders: [:])),
                                            runtime: notifyRuntime, nowMillis: now)
        for user in ["ann", "bob"] {
            notify.send(notifySettings.contactsTopic, key: user, value: Array(#"{"name":"N","locale":"en","time_zone":"UTC"}"#.utf8))
            notify.send(notifySettings.preferencesTopic, key: user, value: Array(#"{"categories":{"marketing":true}}"#.utf8))
        }
        for change in changes { notify.send(notifySettings.segmentChangesTopic, key: "ann", value: change.value) }
        try notify.run()
        var audience = AudienceFilter()
        audience.customSegments = ["big"]
        let campaign = Campaign(id: "big-thanks", category: "marketing", channels: [.inApp], template: "loyal_winback",
                                startMillis: now, endMillis: now + 86_400_000, audience: audience)
        notify.send(notifySettings.commandsTopic, key: campaign.id, value: campaign.startCommand())
        try notify.run()
        let reached = notify.records(notifySettings.notificationsTopic).compactMap { try? OutboxNotification.decode($0.value ?? []) }.filter { $0.campaign == "big-thanks" }
        XCTAssertEqual(reached.map(\.userID), ["ann"])
    }
}
