import OrbitContract
import OrbitTestSupport
import XCTest

/// Ingestion reads the common event in one pass (`OnePassEventReader`) and leaves everything else
/// to the full validator. The one-pass reader must never change an answer: what it accepts is
/// exactly the full validator's record, byte for byte, and it accepts nothing the full validator
/// rejects. These tests hold the two paths equal on the kinds it reads, on shapes that test its
/// edges, and on tens of thousands of random mutations.
final class OnePassEventReaderTests: XCTestCase {
    static let reference: Int64 = 1_795_435_200_000  // 2026-11-23T12:00:00Z

    /// Events the one-pass reader is meant to read itself.
    static let common: [String] = [
        #"{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e2","user_id":"u2","type":"signup","time":"2026-06-01T10:00:00.5+02:00","properties":{"channel":"web","utm":{"source":"ad","n":[1,2.5,-3e2,true,false,null,{}]}}}"#,
        #"{"id":"e3","user_id":"u3","type":"check_in","time":"2026-06-01T10:00:00Z","properties":null,"schema_version":1}"#,
        #"{"id":"e4","user_id":"u4","type":"post","time":"2026-06-01T10:00:00Z","properties":{"channel":"forum","content_id":"c-1"}}"#,
        #"{"id":"e5","user_id":"u5","type":"like","time":"2026-06-01T10:00:00Z","properties":{"content_id":null,"extra":[],"channel":"x y"}}"#,
        #"{"id":"e6","user_id":"u6","type":"purchase","time":"2026-06-01T10:00:00Z","properties":{"order_id":"o-1","amount":"19.99","currency":"usd","items":[{"sku":"s-1","category":"books","quantity":2,"price":9.99e0},{"price":"5","quantity":1,"sku":"s-2","note":"gift","category":null}],"coupon":"X"}}"#,
        #"{"id":"e7","user_id":"u7","type":"purchase","time":"2026-06-01T10:00:00Z","properties":{"currency":"JPY","amount":1500,"order_id":"o-2"}}"#,
        #"{"id":"e8","user_id":"u8","type":"refund","time":"2026-06-01T10:00:00Z","properties":{"order_id":"o-1","amount":5.5,"currency":"EUR","items":[{"sku":"kept as given"}]}}"#,
        #"{"id":"e9","user_id":"u9","type":"referral","time":"2026-06-01T10:00:00Z","properties":{"referred_user_id":"u10","via":"link"}}"#,
        "{ \"properties\" : { \"content_id\" : \"c-2\" } ,\n\t\"type\" : \"comment\" , \"time\" : \"2026-06-01T10:00:00Z\" , \"user_id\" : \"u11\" , \"id\" : \"e10\" }\r\n",
        #"{"id":"e11","user_id":"u12","type":"share","time":"2026-06-01T10:00:00Z","properties":{}}"#,
        #"{"id":"e12","user_id":"u13","type":"game_played","time":"2026-06-01T10:00:00Z","properties":{"level":7}}"#,
        #"{"id":"e13","user_id":"u14","type":"login","time":"2026-06-01T10:00:00.123Z"}"#,
        #"{"id":"e14","user_id":"u15","type":"login","time":"2026-06-01t10:00:00.123z"}"#,
        #"{"id":"e15","user_id":"u16","type":"post","time":"2026-02-28T23:59:59.999Z","properties":{"content_id":"c","channel":"f"}}"#,
    ]

    /// Events it must leave to the full validator (which accepts or rejects them).
    static let leftToTheFullValidator: [String] = [
        #"{"id":"e\u0031","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"é","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e1","user_id":"u1","type":"LOGIN","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e1","user_id":"u1","type":"complaint","time":"2026-06-01T10:00:00Z","properties":{"ticket_id":"t","severity":"low"}}"#,
        #"{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z","user_id":"u2"}"#,
        #"{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z","extra":1}"#,
        #"{"id":"e1","user_id":"u1","type":"login","time":"2099-06-01T10:00:00Z"}"#,
        #"{"id":" e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e1","user_id":"u1","type":"purchase","time":"2026-06-01T10:00:00Z","properties":{"order_id":"o","amount":"1.999","currency":"USD"}}"#,
        #"{"id":"e1","user_id":"u1","type":"purchase","time":"2026-06-01T10:00:00Z","properties":{"order_id":"o","amount":1,"currency":"USD","amount_minor":100}}"#,
        #"{"id":"e1","user_id":"u1","type":"purchase","time":"2026-06-01T10:00:00Z","properties":{"order_id":"o","amount":1,"currency":"USD","items":null}}"#,
        #"{"id":"e1","user_id":"u1","type":"referral","time":"2026-06-01T10:00:00Z","properties":{"referred_user_id":"u1"}}"#,
        #"{"id":"e1","user_id":"u1","type":"signup","time":"2026-06-01T10:00:00Z","properties":{"a":1,"a":2}}"#,
        #"{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z","schema_version":2}"#,
        #"{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"} x"#,
        #"[{"id":"e1","user_id":"u1","type":"login","time":"2026-06-01T10:00:00Z"}]"#,
        // Kinds with required properties, sent without any.
        #"{"id":"e1","user_id":"u1","type":"purchase","time":"2026-06-01T10:00:00Z"}"#,
        #"{"id":"e1","user_id":"u1","type":"refund","time":"2026-06-01T10:00:00Z","properties":null}"#,
        #"{"id":"e1","user_id":"u1","type":"referral","time":"2026-06-01T10:00:00Z","properties":{}}"#,
        #"{"id":"e1","user_id":"u1","properties":null,"type":"purchase","time":"2026-06-01T10:00:00Z"}"#,
    ]

    static let policy = ValidationPolicy(extraEventTypes: [EventType("game_played")])

    func testTheCommonKindsAreReadInOnePassAsTheFullValidatorWritesThem() throws {
        let validator = EventValidator(policy: Self.policy)
        for text in Self.common {
            let bytes = Array(text.utf8)
            let fast = try XCTUnwrap(validator.validateRecordInOnePass(bytes, referenceTimeMillis: Self.reference), "read in one pass: \(text)")
            guard case .success(let full) = validator.validateRecordInFull(bytes, referenceTimeMillis: Self.reference) else {
                return XCTFail("the full validator rejects \(text)")
            }
            XCTAssertEqual(fast, full, "\(text)\n one pass: \(String(decoding: fast.value, as: UTF8.self))\n full:     \(String(decoding: full.value, as: UTF8.self))")
        }
    }

    func testAnythingUnusualOrInvalidIsLeftToTheFullValidator() {
        let validator = EventValidator(policy: Self.policy)
        for text in Self.leftToTheFullValidator {
            let bytes = Array(text.utf8)
            XCTAssertNil(validator.validateRecordInOnePass(bytes, referenceTimeMillis: Self.reference), text)
            // And the answer ingestion gets is the full validator's.
            let answer = validator.validateRecord(bytes, referenceTimeMillis: Self.reference)
            let full = validator.validateRecordInFull(bytes, referenceTimeMillis: Self.reference)
            switch (answer, full) {
            case (.success(let a), .success(let b)): XCTAssertEqual(a, b, text)
            case (.failure(let a), .failure(let b)): XCTAssertEqual(a, b, text)
            default: XCTFail("different answers for \(text)")
            }
        }
    }

    /// Random mutations of the common events: whatever the one-pass reader accepts, the full
    /// validator accepts too, as the same record.
    func testRandomMutationsNeverMakeTheTwoPathsDisagree() {
        let validator = EventValidator(policy: Self.policy)
        let fragments = ValidatorFuzzTests.fragments + [
            "\"amount_minor\":1,", "\"price_minor\":1,", "\"items\":[],", "null", "[1,{\"a\":[]}]", " ", "\n", "\"usd\"", "\"u1\"",
            "\"schema_version\":1,", ",\"x\":{}", "\"content_id\":", "\"channel\":", "5e-1", "0", "\"\"", ".123Z", "T", "z", "9",
        ]
        var random = SeededRandom(seed: 20_261_203)
        var readInOnePass = 0
        for iteration in 0..<40_000 {
            var bytes = Array(Self.common[iteration % Self.common.count].utf8)
            // Half the time, first change the event's shape: a member dropped, nulled, or given the
            // value of another event's member (what byte mutations rarely produce).
            if iteration % 2 == 1 {
                bytes = Self.reshaped(bytes, &random)
            }
            for _ in 0..<random.int(3) {
                let position = random.int(bytes.count + 1)
                switch random.int(5) {
                case 0 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] = UInt8(truncatingIfNeeded: 0x20 + random.int(0x60))
                case 1 where !bytes.isEmpty: bytes.remove(at: min(position, bytes.count - 1))
                case 2: bytes.insert(contentsOf: Array(fragments[random.int(fragments.count)].utf8), at: position)
                case 3 where bytes.count > 2:
                    let start = random.int(bytes.count - 1), length = random.int(min(24, bytes.count - start))
                    bytes.insert(contentsOf: bytes[start..<(start + length)], at: position)
                default: bytes.insert(UInt8(ascii: "0") + UInt8(random.int(10)), at: position)
                }
            }
            guard let fast = validator.validateRecordInOnePass(bytes, referenceTimeMillis: Self.reference) else { continue }
            readInOnePass += 1
            switch validator.validateRecordInFull(bytes, referenceTimeMillis: Self.reference) {
            case .success(let full):
                if fast != full {
                    XCTFail("the paths disagree on \(String(decoding: bytes, as: UTF8.self))\n one pass: \(String(decoding: fast.value, as: UTF8.self))\n full:     \(String(decoding: full.value, as: UTF8.self))")
                    return
                }
            case .failure(let rejection):
                XCTFail("read in one pass, rejected in full (\(rejection)): \(String(decoding: bytes, as: UTF8.self))")
                return
            }
        }
        XCTAssertGreaterThan(readInOnePass, 1_000, "many mutations stay on the one-pass path")
    }

    /// Drops, nulls or replaces one member of the event or of its properties (or of an item).
    static func reshaped(_ bytes: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        guard case .object(let event)? = try? JSONParser.parse(bytes) else { return bytes }
        let donors = common.compactMap { (try? JSONParser.parse(Array($0.utf8)))?.objectValue }
        let donated = donors[random.int(donors.count)]
        let values = donated.members.map(\.value) + (donated["properties"]?.objectValue?.members.map(\.value) ?? [])
        func change(_ object: JSONObject) -> JSONObject {
            guard !object.members.isEmpty else { return object }
            var members = object.members
            let index = random.int(members.count)
            switch random.int(4) {
            case 0: members.remove(at: index)
            case 1: members[index].value = .null
            case 2: members[index].value = values[random.int(values.count)]
            default:
                if case .object(let inner) = members[index].value { members[index].value = .object(change(inner)) }
                else if case .array(let elements) = members[index].value, let first = elements.first?.objectValue {
                    members[index].value = .array([.object(change(first))] + elements.dropFirst())
                } else { members.remove(at: index) }
            }
            return JSONObject(members)
        }
        return JSONWriter.encode(.object(change(event)))
    }
}
