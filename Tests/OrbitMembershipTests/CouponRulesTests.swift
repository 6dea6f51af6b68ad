import OrbitContract
import OrbitMembershipRules
import XCTest

/// Coupon codes and a coupon's life (issued, used, expired, voided) as pure rules.
final class CouponRulesTests: XCTestCase {
    let now: Int64 = 1_781_092_800_000
    let day: Int64 = 86_400_000

    func coupon() -> Coupon {
        Coupon(code: "0123456789ABCDEF", userID: "ann", redemptionID: "r-1", rewardID: "coffee", valueMinor: 500, currency: "USD",
               issuedAtMillis: now, expiresAtMillis: now + 30 * day)
    }

    func testCodesAreSixteenReadableSymbolsAndForgivingToType() {
        let code = CouponCode.encode([0xFF, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x99])
        XCTAssertEqual(code.count, 16)
        XCTAssertTrue(code.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
        XCTAssertEqual(CouponCode.encode([UInt8](repeating: 0, count: 10)), "0000000000000000")
        XCTAssertEqual(CouponCode.encode([UInt8](repeating: 0xFF, count: 10)), "ZZZZZZZZZZZZZZZZ", "all 80 bits are used")
        XCTAssertEqual(CouponCode.canonical(code), code)
        XCTAssertEqual(CouponCode.canonical(CouponCode.grouped(code).lowercased()), code, "grouped and lower case read as the code")
        XCTAssertEqual(CouponCode.canonical("O123-4567-89ab-cdef"), "0123456789ABCDEF", "O reads as zero")
        XCTAssertEqual(CouponCode.canonical("il23 4567 89AB CDEF"), "1123456789ABCDEF", "I and L read as one")
        XCTAssertNil(CouponCode.canonical("0123456789ABCDEU"), "U is not a symbol")
        XCTAssertNil(CouponCode.canonical("0123456789ABCDE"), "too short")
        XCTAssertNil(CouponCode.canonical("0123456789ABCDEF0"), "too long")
        XCTAssertNil(CouponCode.canonical(String(repeating: "-", count: 65)), "more than 64 bytes is never a code")
        XCTAssertNil(CouponCode.canonical("0123456789ABCDE\u{0}"))
        XCTAssertEqual(CouponCode.grouped("0123456789ABCDEF"), "0123-4567-89AB-CDEF")
    }

    func testACouponIsUsedOnceByItsOwnerBeforeItExpires() {
        var c = coupon()
        XCTAssertEqual(c.use(by: "bob", order: "o1", at: now, arrival: now), .rejected(.foreignCoupon))
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now + 31 * day, arrival: now + 31 * day), .rejected(.expired))
        XCTAssertEqual(c.status, .issued, "a rejected use changes nothing")
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now + day, arrival: now + day), .used)
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now + 2 * day, arrival: now + 2 * day), .repeated, "the same order again")
        XCTAssertEqual(c.use(by: "ann", order: "o2", at: now + 2 * day, arrival: now + 2 * day), .rejected(.alreadyUsed))
        XCTAssertEqual(c.void(for: "r-1", user: "ann", at: now + 2 * day), .refused(.alreadyUsed), "a used coupon is never voided")
        XCTAssertEqual(c.due(at: now + 40 * day, noticeMillis: 3 * day), nil, "nor expired")
        XCTAssertEqual(c.orderID, "o1")
    }

    func testABackdatedUseRevivesNothingAndAnExpiredCouponIsNeverVoided() {
        var c = coupon()
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now - 1, arrival: now), .rejected(.notYetValid), "placed before the coupon existed")
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now + 29 * day, arrival: now + 31 * day + 1), .rejected(.expired),
                       "placed in time, but arriving more than a day after the expiry")
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now + 29 * day, arrival: now + 30 * day + 3_600_000), .used, "within the day's grace")
        var d = coupon()
        XCTAssertEqual(d.void(for: "r-1", user: "ann", at: now + 30 * day), .refused(.expired), "past its expiry, though the clock has not said so")
        XCTAssertEqual(d.status, .issued)
        let short = Coupon(code: "0123456789ABCDEF", userID: "ann", redemptionID: "r-1", rewardID: "coffee", valueMinor: 500, currency: "USD",
                           issuedAtMillis: now, expiresAtMillis: now + 2 * day)
        XCTAssertNil(short.due(at: now + day, noticeMillis: 3 * day), "valid for less than the notice: no notice")
        XCTAssertEqual(short.nextCheck(noticeMillis: 3 * day), now + 2 * day)
    }

    func testTheClockWarnsThenExpiresAndALateReportOfAnEarlierUseCounts() {
        var c = coupon()
        XCTAssertNil(c.due(at: now + 26 * day, noticeMillis: 3 * day))
        XCTAssertEqual(c.due(at: now + 27 * day, noticeMillis: 3 * day), .notice)
        c.apply(.notice, at: now + 27 * day)
        XCTAssertNil(c.due(at: now + 28 * day, noticeMillis: 3 * day), "one notice")
        XCTAssertNil(coupon().due(at: now + 29 * day, noticeMillis: 0), "no notice when none is configured")
        XCTAssertEqual(c.due(at: now + 30 * day, noticeMillis: 3 * day), .expire)
        c.apply(.expire, at: now + 30 * day)
        XCTAssertEqual(c.status, .expired)
        XCTAssertEqual(c.void(for: "r-1", user: "ann", at: now + 30 * day), .refused(.expired))
        var late = c
        XCTAssertEqual(late.use(by: "ann", order: "o1", at: now + 30 * day, arrival: now + 30 * day), .rejected(.expired))
        XCTAssertEqual(late.use(by: "ann", order: "o1", at: now + 30 * day - 1, arrival: now + 30 * day - 1), .used, "the order was placed before the expiry")
    }

    func testVoidingIsForItsRedemptionOnceAndForgettingTheOwnerVoidsAnUnusedCoupon() {
        var c = coupon()
        XCTAssertEqual(c.void(for: "r-2", user: "ann", at: now), .refused(.foreignCoupon))
        XCTAssertEqual(c.void(for: "r-1", user: "ann", at: now), .voided)
        XCTAssertEqual(c.void(for: "r-1", user: "ann", at: now), .alreadyVoided)
        XCTAssertEqual(c.use(by: "ann", order: "o1", at: now, arrival: now), .rejected(.voided))
        var d = coupon()
        d.forgetOwner(at: now)
        XCTAssertEqual(d.userID, "")
        XCTAssertEqual(d.status, .voided)
        XCTAssertEqual(d.use(by: "", order: "o1", at: now, arrival: now), .rejected(.foreignCoupon), "an erased owner matches nobody")
    }

    func testTheDueQueueGivesTheCodesWhoseTimeHasComeEarliestFirst() {
        var queue = CouponDueQueue()
        for (i, time) in [50, 10, 40, 10, 30, 20, 60].enumerated() { queue.insert("C\(i)", at: Int64(time)) }
        XCTAssertEqual(queue.popDue(at: 5), [])
        XCTAssertEqual(queue.popDue(at: 10), ["C1", "C3"], "ties by code")
        XCTAssertEqual(queue.popDue(at: 45), ["C5", "C4", "C2"])
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(queue.popDue(at: .max), ["C0", "C6"])
        var c = coupon()
        XCTAssertEqual(c.nextCheck(noticeMillis: 3 * day), now + 27 * day, "the notice first")
        c.expiringNoticeSent = true
        XCTAssertEqual(c.nextCheck(noticeMillis: 3 * day), now + 30 * day, "then the expiry")
        XCTAssertEqual(coupon().nextCheck(noticeMillis: 0), now + 30 * day)
        _ = c.use(by: "ann", order: "o1", at: now, arrival: now)
        XCTAssertNil(c.nextCheck(noticeMillis: 3 * day), "a used coupon needs no clock")
    }

    func testCouponsAndRequestsSurviveTheirCodecs() throws {
        var c = coupon()
        _ = c.use(by: "ann", order: "o1", at: now, arrival: now)
        c.expiringNoticeSent = true
        c.appliedOffset = 42
        XCTAssertEqual(try Coupon.decode(c.encoded()), c)
        XCTAssertThrowsError(try Coupon.decode([2] + c.encoded().dropFirst()), "an unknown version stops the stage loudly")
        let issue = CouponRequest.issue(coupon())
        XCTAssertEqual(CouponRequest.decode(issue.encoded()), issue)
        XCTAssertEqual(CouponRequest.decode(issue.encoded())?.coupon, coupon())
        var use = CouponRequest(kind: .use, code: "0123456789ABCDEF", userID: "ann", redemptionID: "", timeMillis: now)
        (use.orderID, use.eventID) = ("o1", "e1")
        XCTAssertEqual(CouponRequest.decode(use.encoded()), use)
        XCTAssertNil(CouponRequest.decode(Array(#"{"kind":"use","code":"0123456789abcdef","user_id":"ann","redemption_id":"","time_ms":1}"#.utf8)),
                     "only canonical codes key requests")
        let json = try JSONParser.parse(c.record()).objectValue
        XCTAssertEqual(json?["status"]?.stringValue, "used")
        XCTAssertEqual(json?["order_id"]?.stringValue, "o1")
    }

    /// The stages read requests in one pass when they are as the ledger writes them, and with
    /// the full parser otherwise: both give the same request, or both refuse it.
    func testRequestsReadTheSameInOnePassAsWithTheFullParser() {
        let issue = CouponRequest.issue(coupon())
        // Reordered with white space, and with an escaped name: not for the one-pass reader.
        let reordered = #"{ "time_ms": \#(now), "kind": "issue", "code": "0123456789ABCDEF", "user_id": "ann", "redemption_id": "r-1", "reward_id": "coffee", "#
            + #""value_minor": 500, "currency": "USD", "expires_ms": \#(now + 30 * day) }"#
        XCTAssertEqual(CouponRequest.decode(Array(reordered.utf8)), issue)
        let escapedName = String(decoding: issue.encoded(), as: UTF8.self).replacingOccurrences(of: #""currency""#, with: #""curr\u0065ncy""#)
        XCTAssertEqual(CouponRequest.decode(Array(escapedName.utf8)), issue)
        let duplicated = String(decoding: issue.encoded(), as: UTF8.self).replacingOccurrences(of: #""kind":"issue""#, with: #""kind":"issue","kind":"void""#)
        XCTAssertNil(CouponRequest.decode(Array(duplicated.utf8)), "two values for one name are refused on either path")
        XCTAssertNil(CouponRequest.decode(Array(#"{"kind":"issue","code":"0123456789ABCDEF","user_id":"ann","redemption_id":"r-1","time_ms":1}"#.utf8)),
                     "an issue without what it issues")

        let reserve = StockRequest(kind: .reserve, redemptionID: "r-1", userID: "ann", rewardID: "coffee", quantity: 2, timeMillis: now)
        XCTAssertEqual(StockRequest.decode(reserve.encoded()), reserve)
        let spaced = #"{"quantity" : 2, "reward_id" : "coffee", "kind" : "reserve", "user_id" : "ann", "redemption_id" : "r-1", "time_ms" : \#(now)}"#
        XCTAssertEqual(StockRequest.decode(Array(spaced.utf8)), reserve)
        let escaped = String(decoding: reserve.encoded(), as: UTF8.self).replacingOccurrences(of: #""quantity""#, with: #""qu\u0061ntity""#)
        XCTAssertEqual(StockRequest.decode(Array(escaped.utf8)), reserve)
        for bad in [#"{"kind":"reserve","redemption_id":"r-1","user_id":"ann","reward_id":"coffee","quantity":0,"time_ms":1}"#,
                    #"{"kind":"borrow","redemption_id":"r-1","user_id":"ann","reward_id":"coffee","quantity":1,"time_ms":1}"#,
                    #"{"kind":"reserve","kind":"reserve","redemption_id":"r-1","user_id":"ann","reward_id":"coffee","quantity":1,"time_ms":1}"#,
                    #"["reserve"]"#, "not json"] {
            XCTAssertNil(StockRequest.decode(Array(bad.utf8)), bad)
        }
    }

    func testAMemberRemembersItsNewestCodesAndItsCancellationsInTheStateStore() throws {
        var state = MemberState(userID: "ann", policy: MembershipPolicy())
        for i in 0..<(MemberState.couponLimit + 5) { state.remember(coupon: "C\(i)") }
        XCTAssertEqual(state.coupons.count, MemberState.couponLimit)
        XCTAssertEqual(state.coupons.first, "C5")
        var committed = MemberState.CommittedRedemption(id: "r-1", rewardID: "coffee", quantity: 3, placedAtMillis: now, committedAtMillis: now, portions: [])
        committed.couponCodes = ["A", "B", "C"]
        committed.cancelRequestID = "c-1"
        committed.voidAnswers = ["A": true, "B": false]
        committed.voidRefusal = "coupon_already_used"
        state.committedRedemptions = [committed, MemberState.CommittedRedemption(id: "r-2", rewardID: "coffee", quantity: 1, placedAtMillis: now, committedAtMillis: now, portions: [])]
        XCTAssertEqual(try MemberState.decode(state.encoded()), state)
    }
}
