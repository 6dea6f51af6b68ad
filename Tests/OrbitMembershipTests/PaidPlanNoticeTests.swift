import Foundation
import OrbitContract
import OrbitKafka
import OrbitMembership
import OrbitRuntime
import OrbitTestKit
import XCTest

/// A paid plan's end is announced once, `paid_expiring_notice_days` before it (the event renewal
/// reminders start from); a renewal moves the end and the next one is announced; a cancelled plan
/// is not; the announcement survives a restart.
final class PaidPlanNoticeTests: XCTestCase {
    let now: Int64 = 1_781_092_800_000
    let day: Int64 = 86_400_000
    let settings: MembershipSettings = {
        var s = MembershipSettings.spendAndSignup
        s.policy.paidExpiringNoticeDays = 14
        return s
    }()

    func notices(_ driver: TopologyTestDriver) -> [String] {
        driver.records(settings.memberEventsTopic).compactMap { try? JSONParser.parse($0.value ?? []).objectValue }
            .filter { $0["kind"]?.stringValue == "paid_membership" && $0["change"]?.stringValue == "expiring" }
            .compactMap { $0["expires"]?.stringValue }
    }

    func testAPlanEndIsAnnouncedOnceBeforeItAndAgainAfterARenewal() throws {
        let runtime = try RuntimeSettings.testing(service: "orbit-members")
        let driver = try TopologyTestDriver(MembershipService.topology(settings, runtime: runtime), runtime: runtime, nowMillis: now)
        driver.send(settings.eventsTopic, key: "ann", value: UserEvent(id: "s1", userID: "ann", type: .signup, timeMillis: now, properties: JSONObject()).encoded())
        try driver.run()
        driver.send(settings.commandsTopic, key: "ann", value: Array(#"{"type":"join","request_id":"j","user_id":"ann","plan":"plus","months":1}"#.utf8))
        try driver.run()
        let end = now + 30 * day
        driver.nowMillis = end - 15 * day
        try driver.punctuate()
        try driver.run()
        XCTAssertEqual(notices(driver), [], "15 days before: not yet")
        driver.nowMillis = end - 14 * day
        try driver.punctuate()
        try driver.run()
        XCTAssertEqual(notices(driver), [RFC3339.format(millis: end)])
        driver.nowMillis = end - 13 * day
        try driver.punctuate()
        try driver.run()
        try driver.restart()
        driver.nowMillis = end - 12 * day
        try driver.punctuate()
        try driver.run()
        XCTAssertEqual(notices(driver).count, 1, "once, restart included")

        driver.send(settings.commandsTopic, key: "ann", value: Array(#"{"type":"renew","request_id":"r","user_id":"ann","months":1}"#.utf8))
        try driver.run()
        let renewedEnd = end + 30 * day
        driver.nowMillis = renewedEnd - 14 * day
        try driver.punctuate()
        try driver.run()
        XCTAssertEqual(notices(driver), [RFC3339.format(millis: end), RFC3339.format(millis: renewedEnd)])

        // Cancelled: it ends without a reminder to renew.
        driver.nowMillis = renewedEnd - 13 * day
        driver.send(settings.commandsTopic, key: "ann", value: Array(#"{"type":"renew","request_id":"r2","user_id":"ann","months":1}"#.utf8))
        driver.send(settings.commandsTopic, key: "ann", value: Array(#"{"type":"cancel","request_id":"c","user_id":"ann"}"#.utf8))
        try driver.run()
        driver.nowMillis = renewedEnd + 20 * day
        try driver.punctuate()
        try driver.run()
        XCTAssertEqual(notices(driver).count, 2)
    }

    /// The announcement is kept in the state's bytes for a paid member with nothing else (no
    /// points, no mall), so a restore does not announce the same end again.
    func testTheAnnouncementSurvivesTheStateBytesOfAMemberWithNothingElse() throws {
        var state = MemberState(userID: "bob", policy: settings.policy)
        state.paid = .init(plan: "plus", startedAtMillis: now, expiresAtMillis: now + 30 * day, cancelled: false)
        state.paid?.expiringAnnouncedFor = now + 30 * day
        XCTAssertEqual(try MemberState.decode(state.encoded()).paid?.expiringAnnouncedFor, now + 30 * day)
        state.paid?.expiringAnnouncedFor = nil
        XCTAssertNil(try MemberState.decode(state.encoded()).paid?.expiringAnnouncedFor)
        XCTAssertEqual(try MemberState.decode(state.encoded()), state)
    }
}
