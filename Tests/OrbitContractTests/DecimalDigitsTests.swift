import OrbitContract
import OrbitTestSupport
import XCTest

/// Integers written as text without `String`s must read exactly as `String(value)` does, for
/// every value an offset, a time or an amount can take.
final class DecimalDigitsTests: XCTestCase {
    func testDigitsReadAsStringDoes() {
        var values: [Int64] = [0, 1, 9, 10, 11, 99, 100, 101, 999_999, 1_000_000, 4_294_967_296, -1, -9, -10, -1001, .max, .min, .max - 1, .min + 1]
        for exponent in 1...18 {
            let power = (0..<exponent).reduce(Int64(1)) { power, _ in power * 10 }
            values += [power - 1, power, power + 1, -power]
        }
        var random = SeededRandom(seed: 11)
        for _ in 0..<1_000 { values.append(Int64(bitPattern: random.next()) >> Int64(random.int(63))) }
        for value in values {
            var bytes: [UInt8] = [UInt8(ascii: "x")]
            DecimalDigits.append(value, to: &bytes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "x" + String(value), "value \(value)")
        }
        var bytes: [UInt8] = []
        DecimalDigits.append(magnitude: .max, to: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), String(UInt64.max))
    }

    func testTheJSONWriterWritesNumbersWithThem() {
        var w = JSONWriter()
        w.beginArray(); w.int(Int64.min); w.int(0); w.fixed6(-12.5); w.fixed6(1234567.000001)
        w.beginString(); w.stringPart(-42); w.stringPart(ascii: "/"); w.stringPart(7); w.endString(); w.endArray()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), #"[-9223372036854775808,0,-12.500000,1234567.000001,"-42/7"]"#)
    }
}
