import OrbitContract
import OrbitTestSupport
import XCTest

/// Hostile input must never crash the validator (a crash would be a poison pill: the service would
/// restart, replay the same record and crash again). Mutates valid events at random, many times,
/// and checks every answer is a result, and the same result the second time.
final class ValidatorFuzzTests: XCTestCase {

    static let seeds: [String] = [
        #"{"id":"e1","user_id":"u1","type":"purchase","time":"2026-06-01T10:00:00.123456+02:00","properties":{"order_id":"o1","amount":"19.99","currency":"USD","items":[{"sku":"s","category":"c","quantity":2,"price":9.995e0}]}}"#,
        #"{"id":"e2","user_id":"u2","type":"subscription_started","time":"2026-06-01T10:00:00Z","properties":{"plan":"plus","amount":9.99,"currency":"eur","period_end":"2026-07-01T00:00:00.5-05:30"}}"#,
        #"{"id":"e3","user_id":"u3","type":"payment_overdue","time":"2026-06-01T10:00:00Z","properties":{"invoice_id":"i","amount":"1e2","days_overdue":3}}"#,
        #"{"id":"e4","user_id":"\u00e9\ud83d\ude00","type":"Complaint","time":"2026-02-28T23:59:59.999Z","properties":{"ticket_id":"t","severity":"HIGH"},"schema_version":1}"#,
        #"{"id":"e5","user_id":"u5","type":"referral","time":"2024-02-29T00:00:00Z","properties":{"referred_user_id":"u6"}}"#,
    ]

    static let fragments: [String] = [
        "\"", "\\", "\\u", "\\ud800", "{", "}", "[", "]", ",", ":", "-", "1e999", "0.0000000001", "99999999999999999999",
        "null", "true", "\u{0}", "\u{7f}", "é", "😀", "T", "Z", "+99:99", ".", "e", "-0", "NaN", "\"amount\":", "\"id\":",
    ]

    func testRandomMutationsNeverCrashAndAreDeterministic() {
        let validator = EventValidator(policy: ValidationPolicy())
        var random = SeededRandom(seed: 20_261_123)
        var accepted = 0
        var rejected: [RejectionCode: Int] = [:]
        for iteration in 0..<30_000 {
            var bytes = Array(Self.seeds[iteration % Self.seeds.count].utf8)
            for _ in 0..<(1 + random.int(4)) {
                let position = random.int(bytes.count + 1)
                switch random.int(6) {
                case 0 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] = UInt8(truncatingIfNeeded: random.next())
                case 1 where !bytes.isEmpty: bytes.remove(at: min(position, bytes.count - 1))
                case 2: bytes.insert(contentsOf: Array(Self.fragments[random.int(Self.fragments.count)].utf8), at: position)
                case 3 where bytes.count > 2:
                    let start = random.int(bytes.count - 1), length = random.int(min(40, bytes.count - start))
                    bytes.insert(contentsOf: bytes[start..<(start + length)], at: position)
                case 4: bytes = Array(bytes.prefix(position))
                default:
                    let digit = UInt8(ascii: "0") + UInt8(random.int(10))
                    bytes.insert(digit, at: position)
                }
            }
            let first = validator.validate(bytes, referenceTimeMillis: 1_780_000_000_000)
            let second = validator.validate(bytes, referenceTimeMillis: 1_780_000_000_000)
            switch (first, second) {
            case (.success(let a), .success(let b)):
                XCTAssertEqual(a.encoded(), b.encoded())
                XCTAssertNoThrow(try UserEvent.decode(a.encoded()), "accepted events encode to decodable JSON")
                accepted += 1
            case (.failure(let a), .failure(let b)):
                XCTAssertEqual(a, b)
                rejected[a.code, default: 0] += 1
            default:
                XCTFail("different answers for the same bytes")
            }
        }
        XCTAssertGreaterThan(accepted, 100, "some mutations stay valid")
        XCTAssertGreaterThan(rejected.count, 8, "mutations reach many rejection codes: \(rejected)")
    }
}
