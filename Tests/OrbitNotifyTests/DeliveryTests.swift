import Foundation
import OrbitContract
import OrbitKafka
import OrbitLocalPeers
import OrbitNotify
import OrbitRuntime
import OrbitTestSupport
import OrbitTestKit
import XCTest

/// The delivery stage against real servers: aiosmtpd for e-mail, an HTTP receiver that checks
/// the HMAC signature for webhooks (both in Tests/Peers, installed by scripts/install-deps.sh).
final class DeliveryTests: XCTestCase {
    let secret = "test-secret"
    let now = NotifyFixture.noon

    func processor(smtpPort: Int? = nil, webhookPort: Int? = nil, configure: (inout NotifySettings) -> Void = { _ in }) throws -> (DeliveryProcessor, ProcessorTestDriver, NotifySettings) {
        var settings = try NotifyFixture.settings()
        settings.delivery.email?.port = smtpPort ?? 1
        settings.delivery.sms = webhookPort.map { DeliverySettings.Webhook(url: "http://127.0.0.1:\($0)/sms", secret: secret) }
        settings.delivery.timeoutMillis = 3000
        settings.delivery.backoffInitialMillis = 1000
        settings.delivery.breakerFailures = 2
        settings.delivery.breakerOpenMillis = 10_000
        configure(&settings)
        let senders = try ChannelSenders(settings: settings.delivery, logger: .init(label: "test"))
        let driver = ProcessorTestDriver(nowMillis: now) { stores in
            DeliveryProcessor(settings: settings, senders: senders, deadLetters: DeadLetters(topic: settings.deadLettersTopic, service: "orbit-notify"),
                              stores: stores)
        }
        return (driver.processor(as: DeliveryProcessor.self), driver, settings)
    }

    func notification(_ id: String, channel: Channel, to: String, locale: String = "en", subject: String = "Hello") -> OutboxNotification {
        let parts: [(MessagePart, String)] = channel == .email ? [(.subject, subject), (.text, "plain text"), (.html, "<p>html &amp; more</p>")]
            : channel == .sms ? [(.body, "sms body")] : [(.title, "t"), (.body, "b")]
        return OutboxNotification(id: id, userID: "u1", trigger: "welcome", category: "account", categoryKind: .transactional, channel: channel,
                                  locale: locale, to: to, createdMillis: now, content: RenderedMessage(parts: parts))
    }

    /// Pipes notifications and ends the batch: the delivery records written.
    func deliver(_ driver: ProcessorTestDriver, _ settings: NotifySettings, _ notifications: [OutboxNotification]) throws -> [DeliveryRecord] {
        var outputs: [ProducerRecord] = []
        for n in notifications {
            outputs += try driver.pipe(driver.record(topic: settings.notificationsTopic, key: n.userID, value: n.encoded()))
        }
        outputs += try driver.endBatch().outputs
        return outputs.filter { $0.topic == settings.deliveriesTopic }.compactMap { DeliveryRecord.decode($0.value!) }
    }

    func retry(_ driver: ProcessorTestDriver, _ settings: NotifySettings, after millis: Int64) throws -> [DeliveryRecord] {
        driver.nowMillis += millis
        let outputs = try driver.punctuate() + driver.endBatch().outputs
        return outputs.filter { $0.topic == settings.deliveriesTopic }.compactMap { DeliveryRecord.decode($0.value!) }
    }

    func testEmailReachesTheSMTPServerWithTheNotificationIDAsMessageID() throws {
        let smtp = try PeerServer.smtp()
        let (_, driver, settings) = try processor(smtpPort: smtp.port)
        let records = try deliver(driver, settings, [notification("welcome:e1:email", channel: .email, to: "ada@example.com", locale: "zh-CN", subject: "欢迎您，小明")])
        XCTAssertEqual(records.map(\.status), [.sent])
        let mail = try XCTUnwrap(smtp.received().first)
        XCTAssertEqual(mail["message_id"] as? String, "<welcome.e1.email@orbit.local>")
        XCTAssertEqual(mail["subject"] as? String, "欢迎您，小明")
        XCTAssertEqual(mail["to"] as? [String], ["ada@example.com"])
        XCTAssertEqual((mail["text"] as? String)?.trimmingCharacters(in: .newlines), "plain text")
        XCTAssertEqual((mail["html"] as? String)?.trimmingCharacters(in: .newlines), "<p>html &amp; more</p>")
    }

    func testSTARTTLSAndAUTH() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = (directory.appendingPathComponent("cert.pem").path, directory.appendingPathComponent("key.pem").path)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let smtp = try PeerServer.smtp(["--starttls", cert, key, "--auth", "orbit:s3cret"])
        // Without STARTTLS the server refuses MAIL: a 5xx reply, permanent.
        var (_, driver, settings) = try processor(smtpPort: smtp.port)
        XCTAssertEqual(try deliver(driver, settings, [notification("plain:email", channel: .email, to: "ada@example.com")]).map(\.status), [.failed])
        (_, driver, settings) = try processor(smtpPort: smtp.port) { s in
            s.delivery.email?.startTLS = .required
            s.delivery.email?.verifyCertificate = false  // a self-signed test certificate
            s.delivery.email?.username = "orbit"
            s.delivery.email?.password = "s3cret"
        }
        XCTAssertEqual(try deliver(driver, settings, [notification("tls:email", channel: .email, to: "ada@example.com")]).map(\.status), [.sent])
        let mail = try XCTUnwrap(smtp.received().first)
        XCTAssertEqual(mail["tls"] as? Bool, true)
        XCTAssertEqual(mail["notification"] as? String, "tls:email")
        // A wrong password is refused (aiosmtpd answers 535, or drops the TLS session): never sent.
        (_, driver, settings) = try processor(smtpPort: smtp.port) { s in
            s.delivery.email?.startTLS = .required
            s.delivery.email?.verifyCertificate = false
            s.delivery.email?.username = "orbit"
            s.delivery.email?.password = "wrong"
        }
        let refused = try deliver(driver, settings, [notification("auth:email", channel: .email, to: "ada@example.com")])
        XCTAssertEqual(refused.count, 1)
        XCTAssertNotEqual(refused.first?.status, .sent, "\(refused)")
        XCTAssertFalse(smtp.received().contains { ($0["notification"] as? String) == "auth:email" })
    }

    func testTransientSMTPFailureIsRetriedAndDeliveredOnce() throws {
        let smtp = try PeerServer.smtp(["--fail-first", "1"])
        let (processor, driver, settings) = try processor(smtpPort: smtp.port)
        let first = try deliver(driver, settings, [notification("n1:email", channel: .email, to: "ada@example.com")])
        XCTAssertEqual(first.map(\.status), [.retrying])
        XCTAssertTrue(first[0].detail?.contains("451") ?? false, "\(first)")
        XCTAssertNotNil(try processor.retries.get(0, "n1:email"), "the retry is scheduled in the store")
        XCTAssertTrue(try retry(driver, settings, after: 100).isEmpty, "not due yet")
        let second = try retry(driver, settings, after: 2000)
        XCTAssertEqual(second.map(\.status), [.sent])
        XCTAssertEqual(second[0].attempt, 2)
        XCTAssertNil(try processor.retries.get(0, "n1:email"))
        XCTAssertEqual(smtp.received().count, 1)
    }

    func testRejectedRecipientIsDeadAtOnce() throws {
        let smtp = try PeerServer.smtp(["--reject", "nobody"])
        let (_, driver, settings) = try processor(smtpPort: smtp.port)
        let records = try deliver(driver, settings, [notification("n2:email", channel: .email, to: "nobody@example.com")])
        XCTAssertEqual(records.map(\.status), [.failed])
        XCTAssertEqual(records[0].reason, "permanent")
        XCTAssertTrue(records[0].detail?.contains("550") ?? false)
    }

    func testWebhookIsSignedRetriedOn500AndCarriesTheIdempotencyKey() throws {
        let hook = try PeerServer.webhook(secret: secret, ["--fail-first", "1"])
        let (_, driver, settings) = try processor(webhookPort: hook.port)
        XCTAssertEqual(try deliver(driver, settings, [notification("n3:sms", channel: .sms, to: "+8613800000000")]).map(\.status), [.retrying])
        XCTAssertEqual(try retry(driver, settings, after: 2000).map(\.status), [.sent])
        let received = hook.received()
        XCTAssertEqual(received.count, 1, "the receiver recorded one signed request")
        XCTAssertEqual(received[0]["idempotency_key"] as? String, "n3:sms")
        XCTAssertEqual((received[0]["body"] as? [String: Any])?["to"] as? String, "+8613800000000")
    }

    /// WeCom: WeCom's own message shape and signature (the receiver checks it), its frequency
    /// limit retried, and its own rate limit spacing the sends.
    func testWeComPrivateMessagesAreSignedShapedRetriedAndRateLimited() throws {
        let hook = try PeerServer.webhook(secret: secret, ["--fail-first", "1"])
        let (_, driver, settings) = try processor { s in
            s.delivery.wecom = DeliverySettings.WeCom(url: "http://127.0.0.1:\(hook.port)/wecom", token: self.secret, agentID: 1_000_002, ratePerSecond: 5)
        }
        let first = try deliver(driver, settings, [notification("j1:wecom", channel: .wecom, to: "zhangsan")])
        XCTAssertEqual(first.map(\.status), [.retrying], "errcode 45009 (frequency limit) is retried")
        XCTAssertTrue(first[0].detail?.contains("45009") == true, "\(first)")
        XCTAssertEqual(try retry(driver, settings, after: 2000).map(\.status), [.sent])
        let many = try deliver(driver, settings, (0..<10).map { notification("j\($0 + 2):wecom", channel: .wecom, to: "user\($0)") })
        XCTAssertEqual(many.map(\.status), Array(repeating: .sent, count: 10))
        let received = hook.received()
        XCTAssertEqual(received.count, 11)
        let body = try XCTUnwrap(received[0]["body"] as? [String: Any])
        XCTAssertEqual(body["touser"] as? String, "zhangsan")
        XCTAssertEqual(body["msgtype"] as? String, "markdown")
        XCTAssertEqual(body["agentid"] as? Int, 1_000_002)
        XCTAssertEqual((body["markdown"] as? [String: Any])?["content"] as? String, "**t**\nb")
        XCTAssertEqual((body["orbit"] as? [String: Any])?["notification_id"] as? String, "j1:wecom")
        XCTAssertEqual(received[0]["idempotency_key"] as? String, "j1:wecom")
        // 5 a second: the 10 sends after the first take at least a second and a half.
        let times = received.dropFirst().compactMap { $0["at"] as? Double }
        XCTAssertGreaterThan(try XCTUnwrap(times.max()) - XCTUnwrap(times.min()), 1.3, "\(times)")
        // A bad token is refused by the receiver: final.
        let (_, badDriver, badSettings) = try processor { s in
            s.delivery.wecom = DeliverySettings.WeCom(url: "http://127.0.0.1:\(hook.port)/wecom", token: "wrong", agentID: 1)
        }
        XCTAssertEqual(try deliver(badDriver, badSettings, [notification("j99:wecom", channel: .wecom, to: "lisi")]).map(\.status), [.failed])
    }

    /// WeCom's scheme: SHA-1 over the token, timestamp, nonce and body sorted and joined
    /// ("1700000000noncetoken{}"); the expected value is Python's hashlib.
    func testTheWeComSignatureIsWeComsScheme() {
        XCTAssertEqual(WeComSender.signature(token: "token", timestamp: 1_700_000_000, nonce: "nonce", body: Array("{}".utf8)), "88295b2dbf2d2f629ffb960f24aa984e291974d2")
    }

    func testWebhookWithABadSecretOr4xxIsDead() throws {
        let hook = try PeerServer.webhook(secret: "another-secret")
        let (_, driver, settings) = try processor(webhookPort: hook.port)
        let records = try deliver(driver, settings, [notification("n4:sms", channel: .sms, to: "+8613800000000")])
        XCTAssertEqual(records.map(\.status), [.failed])
        XCTAssertTrue(records[0].detail?.contains("HTTP 401") ?? false, "\(records)")
        XCTAssertTrue(hook.received().isEmpty)
    }

    func testEndpointDownOpensTheBreakerThenRecovers() throws {
        // A port nothing listens on, then a receiver started on it.
        let probe = try PeerServer.webhook(secret: secret)
        let port = probe.port
        probe.stop()
        let (_, driver, settings) = try processor(webhookPort: port)
        let firstBatch = try deliver(driver, settings, [notification("a:sms", channel: .sms, to: "+8613800000001"), notification("b:sms", channel: .sms, to: "+8613800000002")])
        XCTAssertEqual(firstBatch.map(\.status), [.retrying, .retrying])
        // Two failures opened the breaker: the next message is not even tried.
        let third = try deliver(driver, settings, [notification("c:sms", channel: .sms, to: "+8613800000003")])
        XCTAssertEqual(third.map(\.status), [.retrying])
        XCTAssertTrue(third[0].detail?.hasPrefix("breaker_open") ?? false, "\(third)")
        let hook = try PeerServer.webhook(secret: secret, ["--port", "\(port)"])
        // After the open period: one probe goes out, succeeds, and the breaker closes for the rest.
        var statuses: [String: DeliveryRecord.Status] = [:]
        for _ in 0..<6 {
            for record in try retry(driver, settings, after: 11_000) { statuses[record.notificationID] = record.status }
            if statuses.values.filter({ $0 == .sent }).count == 3 { break }
        }
        XCTAssertEqual(statuses, ["a:sms": .sent, "b:sms": .sent, "c:sms": .sent])
        XCTAssertEqual(Set(hook.received().compactMap { $0["idempotency_key"] as? String }), ["a:sms", "b:sms", "c:sms"])
    }

    func testInAppGoesToTheInboxTopic() throws {
        let (_, driver, settings) = try processor()
        let n = notification("n5:in_app", channel: .inApp, to: "inbox")
        let outputs = try driver.pipe(driver.record(topic: settings.notificationsTopic, key: "u1", value: n.encoded())) + driver.endBatch().outputs
        XCTAssertEqual(outputs.filter { $0.topic == settings.inboxTopic }.map { String(decoding: $0.key!, as: UTF8.self) }, ["u1/n5:in_app"])
        XCTAssertEqual(outputs.filter { $0.topic == settings.deliveriesTopic }.compactMap { DeliveryRecord.decode($0.value!)?.status }, [.sent])
    }
}
