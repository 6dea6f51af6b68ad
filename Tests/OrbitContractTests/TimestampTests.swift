import OrbitContract
import XCTest

final class TimestampTests: XCTestCase {
    private func millis(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Int64? {
        do throws(RFC3339.ParseError) {
            return try RFC3339.parse(text)
        } catch {
            XCTFail("\(text) did not parse: \(error.message)", file: file, line: line)
            return nil
        }
    }

    private func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> RFC3339.ParseError? {
        do throws(RFC3339.ParseError) {
            let value = try RFC3339.parse(text)
            XCTFail("\(text) parsed as \(value), expected an error", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    private func assertSyntaxError(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let error = parseError(text, file: file, line: line) else { return }
        guard case .syntax = error else { return XCTFail("\(text): expected a syntax error, got \(error)", file: file, line: line) }
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
    }

    private func assertOutOfRange(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let error = parseError(text, file: file, line: line) else { return }
        guard case .outOfRange = error else { return XCTFail("\(text): expected out of range, got \(error)", file: file, line: line) }
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
    }

    // MARK: Parsing

    func testEpoch() {
        XCTAssertEqual(millis("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(millis("1970-01-01T00:00:01Z"), 1000)
        XCTAssertEqual(millis("1970-01-02T00:00:00Z"), 86_400_000)
    }

    func testKnownInstants() {
        XCTAssertEqual(millis("2026-01-31T09:30:00Z"), 1_769_851_800_000)
        XCTAssertEqual(millis("2026-03-01T12:00:00Z"), 1_772_366_400_000)
        XCTAssertEqual(millis("2038-01-19T03:14:07Z"), 2_147_483_647_000)
        XCTAssertEqual(millis("1999-12-31T23:59:59Z"), 946_684_799_000)
        XCTAssertEqual(millis("2100-03-01T00:00:00Z"), 4_107_542_400_000)
    }

    func testPositiveOffsetIsSubtracted() {
        XCTAssertEqual(millis("1970-01-01T02:00:00+02:00"), 0)
        XCTAssertEqual(millis("2026-03-01T14:00:00+02:00"), millis("2026-03-01T12:00:00Z"))
        XCTAssertEqual(millis("2026-06-15T08:45:30.250+02:00"), 1_781_505_930_250)
    }

    func testNegativeOffsetIsAdded() {
        XCTAssertEqual(millis("1970-01-01T00:00:00-05:30"), 19_800_000)
        XCTAssertEqual(millis("2026-03-01T06:30:00-05:30"), millis("2026-03-01T12:00:00Z"))
        XCTAssertEqual(millis("2026-03-01T12:00:00+00:00"), millis("2026-03-01T12:00:00Z"))
        XCTAssertEqual(millis("2026-03-01T12:00:00-00:00"), millis("2026-03-01T12:00:00Z"))
    }

    func testOffsetCanCrossMidnightAndYear() {
        XCTAssertEqual(millis("2026-01-01T01:00:00+02:00"), millis("2025-12-31T23:00:00Z"))
        XCTAssertEqual(millis("2025-12-31T22:00:00-03:00"), millis("2026-01-01T01:00:00Z"))
    }

    func testFractions() {
        XCTAssertEqual(millis("1970-01-01T00:00:00.5Z"), 500)
        XCTAssertEqual(millis("1970-01-01T00:00:00.05Z"), 50)
        XCTAssertEqual(millis("1970-01-01T00:00:00.123Z"), 123)
        XCTAssertEqual(millis("1970-01-01T00:00:00.007Z"), 7)
        XCTAssertEqual(millis("1970-01-01T00:00:00.123456789Z"), 123)
        XCTAssertEqual(millis("1970-01-01T00:00:01.000000000Z"), 1000)
    }

    func testFractionsBeyondMillisecondsAreTruncatedNotRounded() {
        XCTAssertEqual(millis("1970-01-01T00:00:00.1239Z"), 123)
        XCTAssertEqual(millis("1970-01-01T00:00:00.999999999Z"), 999)
        XCTAssertEqual(millis("2026-01-31T09:30:00.0009+00:00"), 1_769_851_800_000)
    }

    func testFractionRules() {
        assertSyntaxError("1970-01-01T00:00:00.Z")
        assertSyntaxError("1970-01-01T00:00:00.1234567890Z")
    }

    func testLowercaseSeparatorAndZulu() {
        XCTAssertEqual(millis("1970-01-01t00:00:01z"), 1000)
        XCTAssertEqual(millis("2026-01-31t09:30:00Z"), 1_769_851_800_000)
        XCTAssertEqual(millis("2026-01-31T09:30:00z"), 1_769_851_800_000)
    }

    func testLeapDays() {
        XCTAssertEqual(millis("2024-02-29T00:00:00Z"), 1_709_164_800_000)
        XCTAssertEqual(millis("2024-02-29T23:59:59.999Z"), 1_709_251_199_999)
        XCTAssertEqual(millis("2000-02-29T12:34:56.789Z"), 951_827_696_789)
        assertOutOfRange("2023-02-29T00:00:00Z")
        assertOutOfRange("2100-02-29T00:00:00Z")  // divisible by 100, not by 400
        assertOutOfRange("2024-02-30T00:00:00Z")
    }

    func testDaysPerMonth() {
        XCTAssertNotNil(millis("2026-01-31T00:00:00Z"))
        XCTAssertNotNil(millis("2026-12-31T00:00:00Z"))
        assertOutOfRange("2026-04-31T00:00:00Z")
        assertOutOfRange("2026-06-31T00:00:00Z")
        assertOutOfRange("2026-09-31T00:00:00Z")
        assertOutOfRange("2026-11-31T00:00:00Z")
        assertOutOfRange("2026-01-32T00:00:00Z")
        assertOutOfRange("2026-01-00T00:00:00Z")
    }

    func testMissingOffsetIsRejected() {
        assertSyntaxError("2026-01-31T09:30:00")
        assertSyntaxError("2026-01-31T09:30:00.123")
        assertSyntaxError("2026-01-31T09:30:00 UTC")
        assertSyntaxError("2026-01-31T09:30:00+0200")
        assertSyntaxError("2026-01-31T09:30:00+02")
    }

    func testOtherSyntaxErrors() {
        for text in [
            "", "yesterday", "2026-01-31", "2026-01-31 09:30:00Z", "2026/01/31T09:30:00Z", "26-01-31T09:30:00Z",
            "2026-1-31T09:30:00Z", "2026-01-31T9:30:00Z", "2026-01-31T09:30Z", "2026-01-31T09:30:00ZZ",
            "2026-01-31T09:30:00Z ", " 2026-01-31T09:30:00Z", "2026-01-31T09:30:00+02:00x", "２０２６-01-31T09:30:00Z",
        ] {
            assertSyntaxError(text)
        }
    }

    func testSecondSixtyIsRejected() {
        assertOutOfRange("2016-12-31T23:59:60Z")
        assertOutOfRange("2026-01-31T09:30:60+02:00")
    }

    func testTimeOfDayAndOffsetRanges() {
        assertOutOfRange("2026-01-31T24:00:00Z")
        assertOutOfRange("2026-01-31T09:60:00Z")
        assertOutOfRange("2026-13-01T00:00:00Z")
        assertOutOfRange("2026-00-01T00:00:00Z")
        assertOutOfRange("2026-01-31T09:30:00+24:00")
        assertOutOfRange("2026-01-31T09:30:00+02:60")
        XCTAssertNotNil(millis("2026-01-31T23:59:59+23:59"))
    }

    func testYearBefore1970IsRejected() {
        assertOutOfRange("1969-12-31T23:59:59Z")
        assertOutOfRange("0000-01-01T00:00:00Z")
        assertOutOfRange("1900-06-15T12:00:00+01:00")
    }

    // MARK: Formatting

    func testFormatEpoch() {
        XCTAssertEqual(RFC3339.format(millis: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(millis: 1), "1970-01-01T00:00:00.001Z")
        XCTAssertEqual(RFC3339.format(millis: 86_399_999), "1970-01-01T23:59:59.999Z")
    }

    func testFormatKnownInstants() {
        XCTAssertEqual(RFC3339.format(millis: 1_769_851_800_123), "2026-01-31T09:30:00.123Z")
        XCTAssertEqual(RFC3339.format(millis: 1_772_366_400_000), "2026-03-01T12:00:00.000Z")
        XCTAssertEqual(RFC3339.format(millis: 1_798_761_599_999), "2026-12-31T23:59:59.999Z")
        XCTAssertEqual(RFC3339.format(millis: 1_709_164_800_000), "2024-02-29T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(millis: 951_827_696_789), "2000-02-29T12:34:56.789Z")
        XCTAssertEqual(RFC3339.format(millis: 2_147_483_647_000), "2038-01-19T03:14:07.000Z")
        XCTAssertEqual(RFC3339.format(millis: 4_107_542_400_000), "2100-03-01T00:00:00.000Z")
    }

    func testFormatShape() {
        let text = RFC3339.format(millis: 1_781_505_930_250)
        XCTAssertEqual(text, "2026-06-15T06:45:30.250Z")
        XCTAssertEqual(text.utf8.count, 24)
        XCTAssertTrue(text.hasSuffix("Z"))
    }

    func testAppendMatchesFormat() {
        var bytes: [UInt8] = Array("t=".utf8)
        RFC3339.append(millis: 1_769_851_800_123, to: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "t=2026-01-31T09:30:00.123Z")
    }

    func testFormatThenParseRoundTrips() {
        var values: [Int64] = [0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999,
                               1_709_164_800_000, 1_767_225_600_000, 1_769_851_800_123, 1_772_366_400_000,
                               1_781_505_930_250, 1_798_761_599_999, 1_798_761_600_000, 2_147_483_647_999,
                               4_102_444_800_000, 4_107_542_399_999, 253_402_300_799_999]
        // Every day of 2026 at an awkward time of day.
        let startOf2026: Int64 = 1_767_225_600_000
        for day in 0..<365 {
            values.append(startOf2026 + Int64(day) * 86_400_000 + 45_296_789)
        }
        // A pseudo-random walk across 1970...2200 (deterministic).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Int64(state >> 16) % 7_258_118_400_000)
        }
        for value in values {
            let text = RFC3339.format(millis: value)
            XCTAssertEqual(text.utf8.count, 24, text)
            XCTAssertEqual(millis(text), value, text)
        }
    }

    func testParseThenFormatNormalisesToUTC() {
        let parsed = millis("2026-03-01T13:00:00.5+02:00")
        XCTAssertEqual(parsed.map { RFC3339.format(millis: $0) }, "2026-03-01T11:00:00.500Z")
    }
}
