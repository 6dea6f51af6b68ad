import OrbitRuntime
import XCTest

/// The binary format of the state stores: values round-trip, and lengths and counts read from
/// hostile bytes are checked against the bytes left before anything is allocated or converted.
final class CompactCodingTests: XCTestCase {
    func testEveryKindOfValueRoundTrips() throws {
        var w = CompactWriter()
        w.unsigned(.max); w.signed(.min); w.signed(-1); w.int(42); w.int32(.min)
        w.string(nil); w.string(""); w.string("Zoë ✓")
        w.bool(true); w.bool(false); w.optionalSigned(nil); w.optionalSigned(-7)
        w.blob([]); w.blob([0, 255, 10]); w.count(3); w.double(-0.5); w.fixed64(0x0102_0304_0506_0708)
        var r = CompactReader(w.bytes)
        XCTAssertEqual(try r.unsigned(), .max); XCTAssertEqual(try r.signed(), .min); XCTAssertEqual(try r.signed(), -1)
        XCTAssertEqual(try r.int(), 42); XCTAssertEqual(try r.int32(), .min)
        XCTAssertNil(try r.string()); XCTAssertEqual(try r.requiredString(), ""); XCTAssertEqual(try r.string(), "Zoë ✓")
        XCTAssertTrue(try r.bool()); XCTAssertFalse(try r.bool()); XCTAssertNil(try r.optionalSigned()); XCTAssertEqual(try r.optionalSigned(), -7)
        XCTAssertEqual(try r.blob(), []); XCTAssertEqual(try r.blob(), [0, 255, 10])
        // A count is checked against the bytes left (9 here: the double and the fixed64 follow).
        XCTAssertEqual(try r.count(), 3)
        XCTAssertEqual(try r.double(), -0.5); XCTAssertEqual(try r.fixed64(), 0x0102_0304_0506_0708)
        XCTAssertTrue(r.atEnd)
    }

    func testLengthsAndCountsBeyondTheBytesThrowInsteadOfTrapping() {
        func reader(_ body: (inout CompactWriter) -> Void) -> CompactReader {
            var w = CompactWriter()
            body(&w)
            return CompactReader(w.bytes + [1, 2, 3])
        }
        // A string length beyond Int.max once trapped converting it to Int.
        var r = reader { $0.unsigned(.max) }
        XCTAssertThrowsError(try r.string())
        r = reader { $0.unsigned(UInt64(Int.max) + 2) }
        XCTAssertThrowsError(try r.string())
        r = reader { $0.unsigned(.max) }
        XCTAssertThrowsError(try r.blob())
        r = reader { $0.unsigned(4) }
        XCTAssertThrowsError(try r.blob(), "four bytes announced, three left")
        r = reader { $0.count(1_000_000_000) }
        XCTAssertThrowsError(try r.count())
        r = reader { $0.unsigned(2) }
        XCTAssertThrowsError(try r.bool(), "a flag is 0 or 1")
        r = reader { $0.string(nil) }
        XCTAssertThrowsError(try r.requiredString())
        var overlong = CompactReader(Array(repeating: 0xFF, count: 11))
        XCTAssertThrowsError(try overlong.unsigned())
    }
}
