import OrbitContract
import XCTest

/// What a valid `id`, `user_id`, `request_id` or `referred_user_id` is (docs/CONTRACT.md,
/// "Identifiers"): the same rules at ingestion and for membership commands.
final class IdentifierRulesTests: XCTestCase {
    func testOrdinaryIdsInAnyScriptPass() {
        for id in ["u-42", "order 2026/11/23 #7", "用户-一二三", "ユーザー", "müller", "Ωmega", "x", String(repeating: "a", count: 128), String(repeating: "界", count: 128), "🚀-1"] {
            XCTAssertNil(IdentifierRules.violation(id), id)
        }
    }

    func testBlankPaddedAndLongIdsAreRejected() {
        XCTAssertEqual(IdentifierRules.violation(""), .empty)
        XCTAssertEqual(IdentifierRules.violation("   "), .blank)
        XCTAssertEqual(IdentifierRules.violation(" u-1"), .surroundingWhiteSpace)
        XCTAssertEqual(IdentifierRules.violation("u-1 "), .surroundingWhiteSpace)
        XCTAssertEqual(IdentifierRules.violation("用户 "), .surroundingWhiteSpace)
        XCTAssertEqual(IdentifierRules.violation(String(repeating: "a", count: 129)), .tooLong)
        XCTAssertEqual(IdentifierRules.violation(String(repeating: "界", count: 129)), .tooLong)
    }

    func testLookAlikeSpacesInvisibleAndDirectionCharactersAreRejected() {
        XCTAssertEqual(IdentifierRules.violation("u\u{00A0}1"), .otherWhiteSpace(0xA0))          // no-break space
        XCTAssertEqual(IdentifierRules.violation("用户\u{3000}1"), .otherWhiteSpace(0x3000))     // ideographic space
        XCTAssertEqual(IdentifierRules.violation("\u{3000}"), .otherWhiteSpace(0x3000))
        XCTAssertEqual(IdentifierRules.violation("u\t1"), .invisibleOrControl(0x09))
        XCTAssertEqual(IdentifierRules.violation("u\u{0}1"), .invisibleOrControl(0))
        XCTAssertEqual(IdentifierRules.violation("u\u{2028}1"), .invisibleOrControl(0x2028))     // line separator
        XCTAssertEqual(IdentifierRules.violation("admin\u{200B}"), .invisibleOrControl(0x200B))  // zero-width space
        XCTAssertEqual(IdentifierRules.violation("u\u{202E}1gpj"), .invisibleOrControl(0x202E))  // right-to-left override
        XCTAssertEqual(IdentifierRules.violation("\u{FEFF}u-1"), .invisibleOrControl(0xFEFF))    // byte order mark
        // Joiners are format characters even inside an emoji sequence: invisible, so refused.
        XCTAssertEqual(IdentifierRules.violation("\u{1F469}\u{200D}\u{1F4BB}"), .invisibleOrControl(0x200D))
        XCTAssertEqual(IdentifierRules.violation("u\u{E000}"), .unassigned(0xE000))              // private use
        XCTAssertEqual(IdentifierRules.violation("u\u{FFFF}"), .unassigned(0xFFFF))              // noncharacter
    }

    func testOnlyTheComposedFormIsAccepted() {
        XCTAssertNil(IdentifierRules.violation("caf\u{E9}"))                 // é, composed (NFC)
        XCTAssertEqual(IdentifierRules.violation("cafe\u{301}"), .notNFC)     // e + combining acute
        XCTAssertNil(IdentifierRules.violation("\u{D55C}"))                  // 한, composed Hangul
        XCTAssertEqual(IdentifierRules.violation("\u{1112}\u{1161}\u{11AB}"), .notNFC)  // the same, as jamo
        XCTAssertEqual(IdentifierRules.violation("\u{212B}"), .notNFC)        // ANGSTROM SIGN becomes Å under NFC
    }

    func testReasonsNameTheCodePoint() {
        XCTAssertEqual(IdentifierRules.Violation.invisibleOrControl(0x202E).description, "contains a control, format or separator character (U+202E)")
        XCTAssertEqual(IdentifierRules.Violation.otherWhiteSpace(0xA0).description, "contains white space other than a plain space (U+00A0)")
    }

    func testTheValidatorAppliesTheRulesToEveryIdentifierField() {
        let validator = EventValidator(policy: ValidationPolicy())
        func rejection(_ json: String) -> EventRejection? {
            if case .failure(let r) = validator.validate(Array(json.utf8), referenceTimeMillis: 1_795_435_200_000) { return r }
            return nil
        }
        let time = "2026-11-23T10:00:00Z"
        XCTAssertNil(rejection(#"{"id":"e-1","user_id":"用户-1","type":"login","time":"\#(time)"}"#))
        let padded = rejection(#"{"id":"e-1","user_id":" u-1","type":"login","time":"\#(time)"}"#)
        XCTAssertEqual(padded?.code, .invalidValue)
        XCTAssertEqual(padded?.field, "user_id")
        XCTAssertEqual(padded?.message, "user_id must not start or end with white space")
        XCTAssertEqual(rejection(#"{"id":"e\u200b1","user_id":"u-1","type":"login","time":"\#(time)"}"#)?.field, "id")
        XCTAssertEqual(rejection(#"{"id":"e-1","user_id":"cafe\u0301","type":"login","time":"\#(time)"}"#)?.message,
                       "user_id is not in Unicode Normalization Form C (send the composed form)")
        let referral = rejection(#"{"id":"e-1","user_id":"u-1","type":"referral","time":"\#(time)","properties":{"referred_user_id":"u-2\u00a0"}}"#)
        XCTAssertEqual(referral?.field, "properties.referred_user_id")
        XCTAssertEqual(rejection(#"{"id":"  ","user_id":"u-1","type":"login","time":"\#(time)"}"#)?.message, "id must not be blank")
    }
}
