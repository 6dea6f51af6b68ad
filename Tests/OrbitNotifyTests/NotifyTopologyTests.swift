import Foundation
import OrbitContract
import OrbitKafka
import OrbitNotify
import OrbitRuntime
import OrbitTestKit
import XCTest

/// orbit-notify's declared topology (router, notify, delivery) under the test kit: the recipient
/// store and the delivery stage's pending retries honour `state.store: disk`, and a restart finds
/// both.
final class NotifyTopologyTests: XCTestCase {
    var directory = ""

    override func setUp() { directory = NSTemporaryDirectory() + "orbit-notify-topology-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func driver(_ settings: NotifySettings, runtime: RuntimeSettings) throws -> TopologyTestDriver {
        let senders = try ChannelSenders(settings: settings.delivery, logger: .init(label: "test"))
        return try TopologyTestDriver(NotifyService.topology(settings, runtime: runtime, senders: senders), runtime: runtime, nowMillis: NotifyFixture.noon)
    }

    func testARedeemedRewardIsAnnouncedInTheMembersLanguage() throws {
        let settings = try NotifyFixture.settings()
        let driver = try driver(settings, runtime: try RuntimeSettings.testing(service: "orbit-notify"))
        driver.send(settings.contactsTopic, key: "mei", value: Array(#"{"name":"Mei","locale":"zh-CN","time_zone":"Asia/Shanghai"}"#.utf8))
        try driver.run()
        let time = RFC3339.format(millis: NotifyFixture.noon)
        driver.send(settings.memberEventsTopic, key: "mei", value: Array(("""
            {"schema_version":1,"id":"r1:redeemed","user_id":"mei","kind":"reward_redeemed","time":"\(time)","redemption_id":"r1","reward_id":"coffee",
            "quantity":1,"points":500,"reward_kind":"coupon","reward_name_en":"Coffee coupon","reward_name_zh_cn":"咖啡券"}
            """).utf8))
        try driver.run()
        let outbox = driver.records(settings.notificationsTopic).compactMap { try? OutboxNotification.decode($0.value ?? []) }
        let message = try XCTUnwrap(outbox.first { $0.trigger == "reward_redeemed" && $0.channel == .inApp })
        XCTAssertEqual(message.locale, "zh-CN")
        XCTAssertTrue(message.content.parts.contains { $0.1.contains("咖啡券") && $0.1.contains("500") }, "\(message.content.parts)")
    }

    /// `GET /v1/users/{id}/inbox`: the in-app messages' ids, newest first, read from the store's
    /// backend as other threads read it, on memory and on disk (after a restart too).
    func testTheInboxQueryListsTheInAppMessagesOnEitherBackend() throws {
        let settings = try NotifyFixture.settings()
        for runtime in [try RuntimeSettings.testing(service: "orbit-notify"), try RuntimeSettings.testing(service: "orbit-notify", diskStateIn: directory)] {
            let driver = try driver(settings, runtime: runtime)
            driver.send(settings.contactsTopic, key: "ada", value: Array(#"{"name":"Ada","email":"ada@example.com","locale":"en","time_zone":"UTC"}"#.utf8))
            driver.send(settings.eventsTopic, key: "ada", value: UserEvent(id: "signup-ada", userID: "ada", type: .signup, timeMillis: NotifyFixture.noon, properties: JSONObject()).encoded())
            try driver.run()
            let inbox = driver.records(settings.inboxTopic).compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }
            XCTAssertFalse(inbox.isEmpty, "the welcome message reached the inbox")
            for round in 0..<2 {
                let query = try XCTUnwrap(driver.processor(NotifyProcessor.self).queries.first)
                XCTAssertEqual(query.key(in: "/v1/users/ada/inbox"), "ada")
                guard case .found(let bytes)? = query.answer("ada") else { return XCTFail("round \(round): no answer for ada") }
                let answer = try XCTUnwrap(JSONParser.parse(bytes).objectValue)
                XCTAssertEqual(answer["inbox"]?.arrayValue?.compactMap(\.stringValue).map { "ada/\($0)" }, inbox.reversed(), "round \(round)")
                XCTAssertEqual(query.answer("nobody"), .notFound)
                try driver.restart()
            }
        }
    }

    func testRecipientsRestartOnTheDiskBackendAndAreFound() throws {
        let settings = try NotifyFixture.settings()
        let runtime = try RuntimeSettings.testing(service: "orbit-notify", diskStateIn: directory)
        let driver = try driver(settings, runtime: runtime)
        driver.send(settings.contactsTopic, key: "ada", value: Array(#"{"name":"Ada","email":"ada@example.com","locale":"en","time_zone":"UTC"}"#.utf8))
        try driver.run()
        let home = KeyPartitioner.partition(of: "ada", partitionCount: 4)
        XCTAssertEqual(try driver.processor(NotifyProcessor.self).recipients.get(home, "ada")?.contacts.email, "ada@example.com")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/\(settings.recipientsChangelogTopic)/\(home).sqlite"))

        let restored = driver.log.restoredRecords
        try driver.restart()
        XCTAssertEqual(driver.log.restoredRecords, restored, "from the files' checkpoint")
        XCTAssertEqual(try driver.processor(NotifyProcessor.self).recipients.get(home, "ada")?.contacts.email, "ada@example.com",
                       "found after the restart")
    }

    func testPendingRetriesRestartOnTheDiskBackendAndAreFound() throws {
        var settings = try NotifyFixture.settings()
        settings.delivery.email?.host = "127.0.0.1"
        settings.delivery.email?.port = 1  // nothing listens: a transient failure, retried later
        settings.delivery.timeoutMillis = 2000
        let runtime = try RuntimeSettings.testing(service: "orbit-notify", diskStateIn: directory)
        let driver = try driver(settings, runtime: runtime)
        let notification = OutboxNotification(id: "n1:email", userID: "ada", trigger: "welcome", category: "account", categoryKind: .transactional,
                                              channel: .email, locale: "en", to: "ada@example.com", createdMillis: NotifyFixture.noon,
                                              content: RenderedMessage(parts: [(.subject, "Hello"), (.text, "text")]))
        driver.send(settings.notificationsTopic, key: "ada", value: notification.encoded())
        try driver.run()
        let home = KeyPartitioner.partition(of: "ada", partitionCount: 4)
        XCTAssertNotNil(try driver.processor(DeliveryProcessor.self, stage: "-delivery").retries.get(home, "n1:email"), "the retry is scheduled")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/\(settings.retriesChangelogTopic)/\(home).sqlite"))

        let restored = driver.log.restoredRecords
        try driver.restart()
        XCTAssertEqual(driver.log.restoredRecords, restored, "from the files' checkpoint")
        XCTAssertNotNil(try driver.processor(DeliveryProcessor.self, stage: "-delivery").retries.get(home, "n1:email"),
                        "the pending retry is found after the restart")
    }
}
