import OrbitContract
import OrbitNotify
import XCTest

/// The outbox record read in one pass (`JSONMembers`) against the full parser: the same
/// notification for every record the notify stage writes, and the same verdict for the rest.
final class OutboxCodingTests: XCTestCase {
    let created: Int64 = 1_795_435_200_123

    func notification(channel: Channel, parts: [(MessagePart, String)], campaign: String? = nil, experiment: String? = nil) -> OutboxNotification {
        OutboxNotification(id: "welcome:signup-1:\(channel.rawValue)", userID: "user-1", trigger: campaign.map { "campaign:\($0)" } ?? "welcome",
                           campaign: campaign, category: "account", categoryKind: .transactional, channel: channel, locale: "zh-CN", to: "ada@example.com",
                           experiment: experiment, variant: experiment == nil ? nil : "b", configVersion: "2026-12-06.2", createdMillis: created,
                           content: RenderedMessage(parts: parts))
    }

    func testEveryRecordTheStageWritesReadsBackTheSame() throws {
        let written = [
            notification(channel: .inApp, parts: [(.title, "Welcome"), (.body, "Hello, Ada")]),
            notification(channel: .email, parts: [(.subject, "欢迎 \"Ada\""), (.text, "line one\nline two\t\\ end"), (.html, "<p>a &amp; b</p>\u{1F600}")],
                         campaign: "spring", experiment: "exp-1"),
            notification(channel: .sms, parts: [(.body, "control \u{01} and é")]),
        ]
        for n in written {
            XCTAssertEqual(try OutboxNotification.decode(n.encoded()), n)
        }
    }

    func testRecordsTheOnePassReaderDoesNotTakeAreDecodedByTheFullParser() throws {
        let n = notification(channel: .inApp, parts: [(.title, "t"), (.body, "b")])
        let text = String(decoding: n.encoded(), as: UTF8.self)
        // An escaped member name, white space, members in another order and one unknown member:
        // all JSON the full parser reads as the same notification.
        let variants = [
            text.replacingOccurrences(of: "\"user_id\"", with: "\"user\\u005fid\""),
            text.replacingOccurrences(of: ",", with: " ,\n "),
            "{\"extra\":[1,{\"x\":null}]," + text.dropFirst(),
        ]
        for variant in variants {
            XCTAssertEqual(try OutboxNotification.decode(Array(variant.utf8)), n, variant)
        }
    }

    func testBrokenRecordsAreRefusedEitherWay() {
        let n = notification(channel: .inApp, parts: [(.title, "t"), (.body, "b")])
        let text = String(decoding: n.encoded(), as: UTF8.self)
        let broken = [
            text.replacingOccurrences(of: "\"user_id\"", with: "\"id\""),  // a repeated name
            text.replacingOccurrences(of: "\"in_app\"", with: "\"fax\""),  // an unknown channel
            text.replacingOccurrences(of: "\"title\"", with: "\"footer\""),  // an unknown part
            text.replacingOccurrences(of: ",\"to\":\"ada@example.com\"", with: ""),  // a missing member
            String(text.dropLast()),  // truncated
            text + "x",  // trailing bytes
            "[]",
        ]
        for record in broken {
            XCTAssertThrowsError(try OutboxNotification.decode(Array(record.utf8)), record)
        }
    }

    func testTheMemberReaderGivesEachMemberInOrderAndRefusesWhatItDoesNotTake() throws {
        var seen: [String] = []
        try JSONMembers.forEach(in: Array(#"{"a": 1, "b":{"c":"d"} ,"e":"\u00e9"}"#.utf8)) { name, value in
            if name.is("a") { seen.append("a=\(value.numberValue!.lexeme)") }
            if name.is("b") { seen.append("b=\(value.objectValue!["c"]!.stringValue!)") }
            if name.is("e") { seen.append("e=\(value.stringValue!)") }
        }
        XCTAssertEqual(seen, ["a=1", "b=d", "e=é"])
        try JSONMembers.forEach(in: Array("{}".utf8)) { _, _ in XCTFail("no members") }
        let refused = [#"{"a":1,"a":2}"#, #"{"\u0061":1}"#, "[1]", #"{"a":1"#, #"{"a":1}x"#, #"{"a":01}"#,
                       "{" + (0..<17).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"]
        for text in refused {
            XCTAssertThrowsError(try JSONMembers.forEach(in: Array(text.utf8)) { _, _ in }, text)
        }
    }
}
