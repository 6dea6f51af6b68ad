import OrbitContract
@testable import OrbitNotify
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// The recipients' changelog format: binary (version 2) written and read, the JSON of version 1
/// (written by orbit-notify before 2026-12-02) still read, and hostile bytes refused, never a crash.
final class RecipientCodingTests: XCTestCase {
    /// Every field set, with text that JSON would have to escape.
    static func everything() -> Recipient {
        var r = Recipient()
        r.profile.segment = "important_value"; r.profile.lifecycle = "active"; r.profile.tier = "S"
        r.profile.superUser = true; r.profile.monetaryMinor = -1_250; r.profile.rfmScore = "555"; r.profile.lastEventMillis = 1_795_000_000_123
        r.account.level = "gold"; r.account.balance = 1_200; r.account.available = 900; r.account.expiringNext = 300; r.account.nextExpiry = "2027-01-31"
        r.contacts.name = "Zoë \"Z\" Müller\n"; r.contacts.email = "zoe@example.com"; r.contacts.phone = "+4915100000"
        r.contacts.pushToken = "tok\\en"; r.contacts.locale = "zh-CN"; r.contacts.timeZone = "Asia/Shanghai"
        r.preferences.channels = ["email": false, "push": true, "sms": true]
        r.preferences.categories = ["marketing": true, "lifecycle": false]
        r.preferences.quietHours = QuietHours(startMinute: 22 * 60, endMinute: 7 * 60 + 30)
        r.preferences.consents = Consents(withdrawn: [.profiling, .marketing])
        r.tags = ["beta", "vip", "日本"]
        r.purchases = 17
        r.sent = [.init(category: "loyalty", atMillis: 1_795_000_000_000), .init(category: "marketing", atMillis: 1_795_000_100_000)]
        r.fired = [.init(trigger: "vip_care", atMillis: 1_795_000_000_000)]
        r.deferred = [.init(notificationID: "n-1", dueMillis: 1_795_003_600_000, record: Array(#"{"id":"n-1","body":"\u0000bytes"}"#.utf8) + [0, 255, 10])]
        r.digests = [.init(trigger: "points_digest", windowEndMillis: 1_795_086_400_000, count: 3, sum: -40, firstID: "e-1", lastRecord: Array("{}".utf8))]
        r.enrolments = [.init(experiment: "win_back_offer", variant: "discount", atMillis: 1, conversionEvent: "purchase", untilMillis: 2, convertedAtMillis: nil),
                        .init(experiment: "welcome_copy", variant: "holdout", atMillis: 3, conversionEvent: "login", untilMillis: 4, convertedAtMillis: 3)]
        r.campaigns = ["spring", "autumn"]
        r.inbox = ["n-1", "n-2"]
        r.replay.appliedOffsets = [4_711]
        r.replay.recentIDs = [0, 1, .max, 0xdead_beef]
        return r
    }

    func testEveryFieldSurvivesTheBinaryFormat() throws {
        let state = Self.everything()
        let bytes = state.stateBytes()
        XCTAssertEqual(bytes.first, 2, "version 2 leads")
        XCTAssertEqual(try Recipient(stateBytes: bytes), state)
        XCTAssertEqual(try Recipient(stateBytes: Recipient().stateBytes()), Recipient())
    }

    func testEqualStatesGiveEqualBytes() {
        // Dictionaries iterate in a per-process order; the bytes must not.
        var reordered = Self.everything()
        reordered.preferences.channels = Dictionary(uniqueKeysWithValues: reordered.preferences.channels.reversed())
        XCTAssertEqual(reordered.stateBytes(), Self.everything().stateBytes())
    }

    /// A value as orbit-notify wrote it before version 2 (its JSON encoder's output for
    /// `everything()`), so a changelog from an older release restores.
    static func versionOneJSON() -> [UInt8] {
        let deferredRecord = Base64.encode(Self.everything().deferred[0].record)
        let json = #"{"v":1,"profile":{"segment":"important_value","lifecycle":"active","tier":"S","super_user":true,"monetary_minor":-1250,"rfm":"555","last_event":1795000000123},"#
            + #""account":{"level":"gold","balance":1200,"available":900,"expiring_next":300,"next_expiry":"2027-01-31"},"#
            + #""contacts":{"name":"Zoë \"Z\" Müller\n","email":"zoe@example.com","phone":"+4915100000","push_token":"tok\\en","locale":"zh-CN","time_zone":"Asia/Shanghai"},"#
            + #""preferences":{"channels":{"email":false,"push":true,"sms":true},"categories":{"lifecycle":false,"marketing":true},"quiet_hours":"22:00-07:30","withdrawn":["marketing","profiling"]},"#
            + #""tags":["beta","vip","日本"],"purchases":17,"sent":[["loyalty",1795000000000],["marketing",1795000100000]],"fired":[["vip_care",1795000000000]],"#
            + #""deferred":[["n-1",1795003600000,""# + deferredRecord + #""]],"digests":[["points_digest",1795086400000,3,-40,"e-1","e30="]],"#
            + #""enrolments":[["win_back_offer","discount",1,"purchase",2,null],["welcome_copy","holdout",3,"login",4,3]],"#
            + #""campaigns":["spring","autumn"],"inbox":["n-1","n-2"],"offsets":[4711],"recent":["0","1","ffffffffffffffff","deadbeef"]}"#
        return Array(json.utf8)
    }

    func testTheJSONOfVersionOneStillReads() throws {
        XCTAssertEqual(try Recipient(stateBytes: Self.versionOneJSON()), Self.everything())
        XCTAssertThrowsError(try Recipient(stateBytes: Array(#"{"v":99}"#.utf8)))
    }

    func testHostileBytesAreRefusedNeverTrusted() {
        var r = Self.everything()
        r.customSegments = ["big", "vip-drift"]
        let bytes = r.stateBytes()
        // Every truncation throws (a count or length beyond the bytes left is caught before use),
        // but at the end of the layout before the operators' segments were appended: an older
        // value, read with none.
        var older = r
        older.customSegments = []
        let olderEnd = older.stateBytes().count - 1
        for length in 0..<bytes.count where length != olderEnd {
            XCTAssertThrowsError(try Recipient(stateBytes: Array(bytes[..<length])), "truncated to \(length) bytes")
        }
        XCTAssertEqual(try Recipient(stateBytes: Array(bytes[..<olderEnd])), older, "an older value reads with no operators' segments")
        XCTAssertEqual(try Recipient(stateBytes: bytes), r)
        XCTAssertThrowsError(try Recipient(stateBytes: [3]), "unknown version")
        XCTAssertThrowsError(try Recipient(stateBytes: [0x02] + Array(repeating: 0xFF, count: 12)), "an overlong number")
        // A tag count of a billion with a few bytes behind it: refused, not reserved.
        var w = CompactWriter()
        w.unsigned(2)
        for _ in 0..<3 { w.string(nil) }
        w.bool(false); w.signed(0); w.string(nil); w.optionalSigned(nil)
        w.string(nil); w.signed(0); w.signed(0); w.signed(0); w.string(nil)
        for _ in 0..<6 { w.string(nil) }
        w.count(0); w.count(0); w.string(nil); w.count(0)
        w.count(1_000_000_000)
        XCTAssertThrowsError(try Recipient(stateBytes: w.bytes))
        // Random bytes after a valid version: a clean error or a value, never a trap.
        var random = SeededRandom(seed: 7)
        for _ in 0..<2_000 {
            var noise: [UInt8] = [2]
            for _ in 0..<random.int(65) { noise.append(UInt8(truncatingIfNeeded: random.next())) }
            _ = try? Recipient(stateBytes: noise)
        }
    }

    func testTheBinaryFormatIsAtMostHalfTheJSON() {
        let binary = Self.everything().stateBytes().count, json = Self.versionOneJSON().count
        XCTAssertLessThanOrEqual(binary * 2, json, "binary \(binary) bytes, JSON \(json)")
    }
}
