import OrbitMembership
import XCTest

/// Parsing `orbit.member-commands`: identifiers follow the contract's rules, numbers are checked,
/// nothing bad becomes a default.
final class MemberCommandParsingTests: XCTestCase {
    func parse(_ json: String) -> Result<MemberCommand, MemberCommand.ParseError> {
        do throws(MemberCommand.ParseError) { return .success(try MemberCommand.parse(Array(json.utf8))) } catch { return .failure(error) }
    }

    func reason(_ json: String) -> String? {
        if case .failure(.invalid(let reason, _)) = parse(json) { return reason }
        return nil
    }

    func testValidCommandsParse() throws {
        XCTAssertEqual(try parse(#"{"type":"redeem","request_id":"r-1","user_id":"用户-1","points":500,"reward_id":"voucher-5"}"#).get(),
                       .redeem(requestID: "r-1", userID: "用户-1", points: 500, rewardID: "voucher-5"))
        XCTAssertEqual(try parse(#"{"type":"join","request_id":"r-5","user_id":"u-42","plan":"plus"}"#).get(),
                       .join(requestID: "r-5", userID: "u-42", plan: "plus", months: 12))
        XCTAssertEqual(try parse(#"{"type":"adjust","request_id":"r-2","user_id":"u-42","points":-50,"reason":"goodwill reversal","operator":"ops-7"}"#).get(),
                       .adjust(requestID: "r-2", userID: "u-42", points: -50, reason: "goodwill reversal", operatorID: "ops-7"))
    }

    func testIdentifiersFollowTheContractRules() {
        XCTAssertEqual(reason(#"{"type":"redeem","request_id":" r-1","user_id":"u-1","points":5,"reward_id":"v"}"#), "request_id must not start or end with white space")
        XCTAssertEqual(reason(#"{"type":"redeem","request_id":"r-1","user_id":"u\u200d1","points":5,"reward_id":"v"}"#),
                       "user_id contains a control, format or separator character (U+200D)")
        XCTAssertEqual(reason(#"{"type":"transfer","request_id":"r-3","from":"u-1","to":"cafe\u0301","points":1}"#),
                       "to is not in Unicode Normalization Form C (send the composed form)")
        XCTAssertEqual(reason(#"{"type":"bulk_grant","request_id":"r-4","campaign_id":"c","points":2,"users":["u-1","  "]}"#), "users[1] must not be blank")
        XCTAssertEqual(reason(#"{"type":"adjust","request_id":"r-2","user_id":"u-42","points":5,"reason":"a\nb","operator":"ops-7"}"#), "reason contains a control character")
    }

    func testMonthsMustBeAWholeNumberInRangeNotQuietlyTheDefault() {
        for bad in ["1.5", "\"6\"", "0", "121", "-3", "9223372036854775807", "true"] {
            XCTAssertEqual(reason(#"{"type":"join","request_id":"r-5","user_id":"u-42","plan":"plus","months":\#(bad)}"#), "months must be a whole number from 1 to 120", bad)
            XCTAssertEqual(reason(#"{"type":"renew","request_id":"r-6","user_id":"u-42","months":\#(bad)}"#), "months must be a whole number from 1 to 120", bad)
        }
    }
}
