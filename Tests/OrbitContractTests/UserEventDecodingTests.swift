import OrbitContract
import OrbitTestSupport
import XCTest

/// `UserEvent.decode` reads records as ingestion writes them in one pass and everything else with
/// the full parser: the two must give the same event, or the same error, for any bytes.
final class UserEventDecodingTests: XCTestCase {
    static let records: [String] = [
        #"{"schema_version":1,"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00.000Z","properties":{}}"#,
        #"{"schema_version":1,"id":"e2","user_id":"u2","type":"purchase","time":"2026-06-01T10:00:00.000Z","properties":{"order_id":"o","amount_minor":1999,"currency":"USD","items":[{"sku":"s","quantity":1,"price_minor":1999}],"note":"caf\u00e9"}}"#,
        #"{"id":"e3","user_id":"u3","type":"referral","time":"2026-06-01T10:00:00+02:00","properties":{"referred_user_id":"u4"},"extra":[1,{"a":null}]}"#,
        #"{"id":"e4","user_id":"u4","type":"post","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e5","user_id":"u5","type":"post","time":"2026-06-01T10:00:00Z","properties":null}"#,
        " { \"time\" : \"2026-06-01T10:00:00Z\" , \"type\" : \"like\" , \"user_id\" : \"u6\" , \"id\" : \"e6\" , \"properties\" : { \"x\" : [ ] } } ",
    ]

    func testTheOnePassAndTheFullDecodingAgreeOnRecordsAndTheirMutations() {
        let fragments = ["\"", "\\", "\\u0041", "{", "}", "[", "]", ",", ":", "null", "1", "-0.5e3", " ", "é", "\"id\":\"x\",",
                         "\"properties\":", "\"properties\":[],", "\"time\":", "Z", "\"x\":1,", "\"type\":\"login\","]
        var random = SeededRandom(seed: 20_261_203)
        var decoded = 0
        for iteration in 0..<40_000 {
            var bytes = Array(Self.records[iteration % Self.records.count].utf8)
            if iteration >= Self.records.count {
                if iteration % 2 == 1 { bytes = OnePassEventReaderTests.reshaped(bytes, &random) }
                for _ in 0..<random.int(3) {
                    let position = random.int(bytes.count + 1)
                    switch random.int(4) {
                    case 0 where !bytes.isEmpty: bytes.remove(at: min(position, bytes.count - 1))
                    case 1: bytes.insert(contentsOf: Array(fragments[random.int(fragments.count)].utf8), at: position)
                    case 2 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] = UInt8(truncatingIfNeeded: 0x20 + random.int(0x60))
                    default: bytes.insert(UInt8(ascii: "0") + UInt8(random.int(10)), at: position)
                    }
                }
            }
            let onePass = Result { try UserEvent.decode(bytes) }
            let full = Result { try UserEvent.decode(bytes[...]) }
            switch (onePass, full) {
            case (.success(let a), .success(let b)):
                decoded += 1
                guard a == b else { return XCTFail("different events from \(String(decoding: bytes, as: UTF8.self))") }
            case (.failure(let a), .failure(let b)):
                guard "\(a)" == "\(b)" else { return XCTFail("different errors (\(a), \(b)) from \(String(decoding: bytes, as: UTF8.self))") }
            default:
                return XCTFail("one decoding failed, the other did not: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        XCTAssertGreaterThan(decoded, 2_000)
    }
}
