import OrbitContract
import XCTest

final class MinorUnitsTests: XCTestCase {
    private func minor(_ lexeme: String, digits: Int = 2, file: StaticString = #filePath, line: UInt = #line) -> Int64? {
        do throws(MinorUnits.ParseError) {
            return try MinorUnits.parse(lexeme, digits: digits)
        } catch {
            XCTFail("\(lexeme.debugDescription) (digits \(digits)) failed: \(error)", file: file, line: line)
            return nil
        }
    }

    private func assertError(_ lexeme: String, digits: Int = 2, _ expected: MinorUnits.ParseError, file: StaticString = #filePath, line: UInt = #line) {
        do throws(MinorUnits.ParseError) {
            let value = try MinorUnits.parse(lexeme, digits: digits)
            XCTFail("\(lexeme.debugDescription) (digits \(digits)) gave \(value), expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error, expected, "\(lexeme.debugDescription) (digits \(digits))", file: file, line: line)
        }
    }

    // MARK: Accepted

    func testTwoDigitCurrency() {
        XCTAssertEqual(minor("19.99"), 1999)
        XCTAssertEqual(minor("0.01"), 1)
        XCTAssertEqual(minor("5"), 500)
        XCTAssertEqual(minor("5.5"), 550)
        XCTAssertEqual(minor("100.00"), 10_000)
    }

    func testTrailingZerosBeyondTheCurrencyDigitsAreExact() {
        XCTAssertEqual(minor("20.500"), 2050)
        XCTAssertEqual(minor("20.5000000"), 2050)
        XCTAssertEqual(minor("0.000"), 0)
        XCTAssertEqual(minor("7.10"), 710)
    }

    func testExponents() {
        XCTAssertEqual(minor("1e3"), 100_000)
        XCTAssertEqual(minor("1E3"), 100_000)
        XCTAssertEqual(minor("1e+3"), 100_000)
        XCTAssertEqual(minor("1.5e1", digits: 0), 15)
        XCTAssertEqual(minor("1e-2"), 1)
        XCTAssertEqual(minor("1999e-2"), 1999)
        XCTAssertEqual(minor("0.1999e2"), 1999)
        XCTAssertEqual(minor("2.50e-1"), 25)
    }

    func testZero() {
        XCTAssertEqual(minor("0"), 0)
        XCTAssertEqual(minor("0.0"), 0)
        XCTAssertEqual(minor("0e5"), 0)
        XCTAssertEqual(minor("0e-50"), 0)
        XCTAssertEqual(minor("-0"), 0)
        XCTAssertEqual(minor("-0.00"), 0)
        // Hostile lengths stay linear: 60,000 leading zeros.
        XCTAssertEqual(minor(String(repeating: "0", count: 60_000) + "1"), 100)
        XCTAssertEqual(minor(String(repeating: "0", count: 60_000)), 0)
    }

    func testLeadingZerosInStringsAreAccepted() {
        XCTAssertEqual(minor("007.50"), 750)
        XCTAssertEqual(minor("00.01"), 1)
    }

    func testZeroDigitCurrency() {
        XCTAssertEqual(minor("1500", digits: 0), 1500)
        XCTAssertEqual(minor("1500.0", digits: 0), 1500)
        XCTAssertEqual(minor("1.5e3", digits: 0), 1500)
        assertError("1500.5", digits: 0, .tooManyDecimals(allowed: 0))
    }

    func testThreeDigitCurrency() {
        XCTAssertEqual(minor("1.234", digits: 3), 1234)
        XCTAssertEqual(minor("1.2", digits: 3), 1200)
        XCTAssertEqual(minor("0.001", digits: 3), 1)
        assertError("1.2345", digits: 3, .tooManyDecimals(allowed: 3))
    }

    func testCatalogDigitsDriveTheConversion() throws {
        let catalog = CurrencyCatalog.standard
        XCTAssertEqual(catalog.digits(for: "USD"), 2)
        XCTAssertEqual(catalog.digits(for: "JPY"), 0)
        XCTAssertEqual(catalog.digits(for: "KWD"), 3)
        XCTAssertNil(catalog.digits(for: "usd"))
        XCTAssertNil(catalog.digits(for: "XXX"))
        XCTAssertEqual(minor("1500", digits: try XCTUnwrap(catalog.digits(for: "JPY"))), 1500)
        XCTAssertEqual(minor("1.234", digits: try XCTUnwrap(catalog.digits(for: "KWD"))), 1234)
        XCTAssertEqual(minor("19.99", digits: try XCTUnwrap(catalog.digits(for: "EUR"))), 1999)
        XCTAssertEqual(CurrencyCatalog(["ABC": 1]).digits(for: "ABC"), 1)
    }

    // MARK: Rejected

    func testTooManyDecimals() {
        assertError("20.505", .tooManyDecimals(allowed: 2))
        assertError("1.999", .tooManyDecimals(allowed: 2))
        assertError("0.001", .tooManyDecimals(allowed: 2))
        assertError("1e-3", .tooManyDecimals(allowed: 2))
        assertError("0.0000001", .tooManyDecimals(allowed: 2))
        assertError("1.5", digits: 0, .tooManyDecimals(allowed: 0))
    }

    func testNegative() {
        assertError("-1", .negative)
        assertError("-0.01", .negative)
        assertError("-19.99", .negative)
        assertError("-1e3", .negative)
        // One sign at most: a run of signs is not a number (it was once parsed recursively, a
        // level per sign, and "--0" passed as zero).
        assertError("--0", .notADecimal)
        assertError("-+1", .notADecimal)
        assertError("-", .notADecimal)
        assertError(String(repeating: "-", count: 60_000) + "0", .notADecimal)
    }

    func testNotADecimal() {
        for lexeme in ["abc", "", "1.", ".5", "+1", "1e", "1e+", "e5", "1.2.3", "1,00", " 1", "1 ", "0x10", "1_000", "NaN", "Infinity", "１"] {
            assertError(lexeme, .notADecimal)
        }
    }

    func testTooLarge() {
        assertError("1e400", .tooLarge)
        assertError("1e10000", .tooLarge)
        assertError("1e99999999999999999999", .tooLarge)
        assertError("99999999999999999999", .tooLarge)
        assertError("123456789012345678901234567890", digits: 0, .tooLarge)
    }

    func testMaximumBoundary() {
        XCTAssertEqual(MinorUnits.maximum, 1_000_000_000_000_000)
        // digits 0: the maximum itself, written out, is accepted; one more is not.
        XCTAssertEqual(minor(String(MinorUnits.maximum), digits: 0), MinorUnits.maximum)
        assertError(String(MinorUnits.maximum + 1), digits: 0, .tooLarge)
        // digits 2: 10^13 units of the currency is exactly the maximum.
        XCTAssertEqual(minor("10000000000000", digits: 2), MinorUnits.maximum)
        XCTAssertEqual(minor("1e13", digits: 2), MinorUnits.maximum)
        XCTAssertEqual(minor("9999999999999.99", digits: 2), MinorUnits.maximum - 1)
        assertError("10000000000000.01", digits: 2, .tooLarge)
        assertError("1.0000000000001e13", digits: 2, .tooLarge)
        assertError("1e14", digits: 2, .tooLarge)
        // digits 3.
        XCTAssertEqual(minor("1000000000000", digits: 3), MinorUnits.maximum)
        assertError("1000000000000.001", digits: 3, .tooLarge)
    }
}
