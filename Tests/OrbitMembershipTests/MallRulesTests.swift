import Foundation
import OrbitContract
import OrbitCore
import OrbitMembership
import XCTest

/// The points mall's pure rules: catalogue records read strictly, every rejection reason, member
/// prices, limits per period across a period boundary, holds that return exactly what they took,
/// and a stock that never reserves more than it has.
final class MallRulesTests: XCTestCase {
    let levels = ["bronze", "silver", "gold"]
    let day: Int64 = 86_400_000
    /// 2026-06-10T12:00:00Z, a Wednesday.
    let now: Int64 = 1_781_092_800_000

    func coupon(_ id: String = "coffee", price: Int64 = 500, stock: Reward.Stock = .limited(10)) -> Reward {
        Reward(id: id, names: ["en": "Coffee coupon", "zh-CN": "咖啡券"], pricePoints: price, stock: stock,
               issue: .coupon(valueMinor: 500, currency: "USD", validityDays: 30))
    }

    // MARK: Catalogue records

    func testARewardReadsBackAsItWasWritten() throws {
        var reward = coupon()
        reward.levelPrices = ["gold": 400]
        reward.planPrices = ["plus": 350]
        reward.limits = [.day: 1, .lifetime: 5]
        reward.eligibility = Reward.Eligibility(minimumLevel: "silver", paidPlans: ["plus"], segments: ["tier:S"], tags: ["vip"])
        reward.validFromMillis = now
        reward.validUntilMillis = now + 30 * day
        XCTAssertEqual(try Reward.decode(reward.encoded(), levels: levels), reward)
        let goods = Reward(id: "mug", names: ["en": "Mug", "zh-CN": "杯子"], pricePoints: 2000, stock: .unlimited, issue: .goods(sku: "MUG-1"))
        XCTAssertEqual(try Reward.decode(goods.encoded(), levels: levels), goods)
    }

    func testHostileCatalogueRecordsAreRefusedNamingTheField() throws {
        func field(_ json: String) -> String? {
            do { _ = try Reward.decode(Array(json.utf8), levels: levels); return nil } catch { return error.field }
        }
        let good = String(decoding: coupon().encoded(), as: UTF8.self)
        XCTAssertNil(field(good))
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"price_points\":500", with: "\"price_points\":-5")), "price_points")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"price_points\":500", with: "\"price_points\":\"500\"")), "price_points")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"stock\":10", with: "\"stock\":-1")), "stock")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"stock\":10", with: "\"stock\":\"lots\"")), "stock")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":2")), "schema_version")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"retired\":false", with: "\"retired\":false,\"free_for_all\":true")), "free_for_all",
                       "an unknown member may be a restriction: refused, not ignored")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"min_level\":null", with: "\"min_level\":\"platinum\"")), "eligibility.min_level")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"kind\":\"coupon\"", with: "\"kind\":\"goods\"")), "issues")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"id\":\"coffee\"", with: "\"id\":\"../../etc\"")), "id")
        XCTAssertEqual(field(good.replacingOccurrences(of: "\"zh-CN\":\"咖啡券\"", with: "\"zh-CN\":\"\"")), "names.zh-CN")
        XCTAssertEqual(field("[1,2]"), "(record)")
        XCTAssertEqual(field("{\"schema_version\":1," + String(repeating: " ", count: 70_000) + "}"), "(record)")
    }

    func testTheCatalogueKeepsTheUsableRewardsAndSaysWhyTheOthersAreNot() {
        let records: [String: [UInt8]] = [
            "coffee": coupon().encoded(),
            "broken": Array("{\"schema_version\":1}".utf8),
            "mismatch": coupon("other").encoded(),
        ]
        let catalogue = RewardCatalogue(records: records, levels: levels)
        XCTAssertEqual(catalogue.rewards.keys.sorted(), ["coffee"])
        XCTAssertEqual(catalogue.unusable.keys.sorted(), ["broken", "mismatch"])
        XCTAssertEqual(catalogue.unusable["mismatch"]?.field, "id")
    }

    // MARK: Quotes

    func testEveryRejectionTheLedgerDecidesItself() {
        let member = Redeemer(level: "silver", segments: ["tier:A"], tags: ["early"])
        var reward = coupon()
        XCTAssertEqual(reward.quote(quantity: 2, for: member, usage: nil, levels: levels, at: now), .success(1000))
        reward.retired = true
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notAvailable))
        reward = coupon()
        reward.validFromMillis = now + day
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notAvailable))
        reward.validFromMillis = nil
        reward.validUntilMillis = now
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notAvailable), "the end is exclusive")
        reward = coupon(stock: .limited(1))
        XCTAssertEqual(reward.quote(quantity: 2, for: member, usage: nil, levels: levels, at: now), .failure(.outOfStock))
        reward = coupon()
        reward.eligibility.minimumLevel = "gold"
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notEligible))
        reward.eligibility.minimumLevel = "bronze"
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .success(500), "silver is above bronze")
        reward.eligibility = Reward.Eligibility(paidPlans: ["plus"])
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notEligible))
        reward.eligibility = Reward.Eligibility(segments: ["tier:S"])
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notEligible))
        reward.eligibility = Reward.Eligibility(segments: ["tier:S", "tier:A"], tags: ["early"])
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .success(500))
        reward.eligibility = Reward.Eligibility(tags: ["vip"])
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: nil, levels: levels, at: now), .failure(.notEligible))
        var blocked = member
        blocked.canSpend = false
        XCTAssertEqual(coupon().quote(quantity: 1, for: blocked, usage: nil, levels: levels, at: now), .failure(.notEligible))
        let huge = coupon(price: Reward.maxPoints, stock: .unlimited)
        XCTAssertEqual(huge.quote(quantity: 100, for: member, usage: nil, levels: levels, at: now), .failure(.insufficientPoints), "a total above 10^9 is never affordable")
    }

    func testAMemberPaysTheLowestPriceThatAppliesToThem() {
        var reward = coupon(price: 500)
        reward.levelPrices = ["gold": 400, "silver": 450]
        reward.planPrices = ["plus": 350]
        XCTAssertEqual(reward.unitPrice(for: Redeemer(level: "bronze")), 500)
        XCTAssertEqual(reward.unitPrice(for: Redeemer(level: "silver")), 450)
        XCTAssertEqual(reward.unitPrice(for: Redeemer(level: "gold")), 400)
        XCTAssertEqual(reward.unitPrice(for: Redeemer(level: "gold", paidPlan: "plus")), 350)
        XCTAssertEqual(reward.unitPrice(for: Redeemer(level: "bronze", paidPlan: "basic")), 500, "a plan without a price of its own pays the list price")
    }

    func testLimitsCountPerCalendarPeriodAndAcrossItsBoundary() {
        var reward = coupon()
        reward.limits = [.day: 1, .week: 2, .lifetime: 3]
        let member = Redeemer(level: "bronze")
        var usage = RewardUsage()
        XCTAssertEqual(reward.quote(quantity: 2, for: member, usage: usage, levels: levels, at: now), .failure(.limitReached), "2 in a day of 1")
        usage.add(1, at: now)
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: now), .failure(.limitReached), "the day's one is taken")
        let midnight = (now / day + 1) * day
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: midnight - 1), .failure(.limitReached))
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: midnight), .success(500), "a new day")
        usage.add(1, at: midnight)
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: midnight + day), .failure(.limitReached), "two this week")
        // 2026-06-15 is the next Monday: a new ISO week.
        let monday = (now / day + 5) * day
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: monday), .success(500))
        usage.add(1, at: monday)
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: monday + 7 * day), .failure(.limitReached), "three in a lifetime")
        usage.remove(1, addedAt: monday)
        XCTAssertEqual(reward.quote(quantity: 1, for: member, usage: usage, levels: levels, at: monday + 7 * day), .success(500), "a released redemption no longer counts")
    }

    // MARK: Holds

    func testAHoldSetsPointsAsideAndAReleaseReturnsExactlyThemWithTheirExpiry() {
        var account = PointsAccount(userID: "ann")
        _ = account.earn(300, key: "e1", ruleID: "r", reason: "", at: now - 10 * day, orderID: nil, expiry: .afterDays(30), lockDays: 0)
        _ = account.earn(300, key: "e2", ruleID: "r", reason: "", at: now - 2 * day, orderID: nil, expiry: .afterDays(365), lockDays: 0)
        let lotsBefore = account.lots
        guard case .success(let hold) = account.hold(400, id: "r-1", reason: "held", at: now) else { return XCTFail("400 of 600 can be held") }
        XCTAssertEqual(hold.kind, .hold)
        XCTAssertEqual(hold.points, 0, "a hold changes no balance")
        XCTAssertEqual(hold.held, 400)
        XCTAssertEqual(account.balance, 600)
        XCTAssertEqual(account.available(at: now), 200)
        XCTAssertEqual(account.lots.map(\.id), ["e2"], "the oldest lot first, all of it")
        XCTAssertEqual(account.openHold("r-1")?.portions.map(\.remaining), [300, 100])
        if case .success = account.hold(300, id: "r-2", reason: "", at: now) { XCTFail("only 200 are spendable") }
        if case .success = account.hold(100, id: "r-1", reason: "", at: now) { XCTFail("a hold id is held once") }

        let release = account.releaseHold("r-1", reason: "out_of_stock", at: now).first
        XCTAssertEqual(release?.kind, .release)
        XCTAssertEqual(release?.points, 0)
        XCTAssertEqual(release?.held, -400)
        XCTAssertEqual(account.lots, lotsBefore, "the same lots, with their own expiry")
        XCTAssertTrue(account.releaseHold("r-1", reason: "", at: now).isEmpty, "settled once")
        XCTAssertNil(account.commitHold("r-1", reason: "", at: now))
    }

    func testAPartReleasedAfterItsLotExpiredIsALotOfItsOwn() {
        var account = PointsAccount(userID: "ann")
        _ = account.earn(1000, key: "X", ruleID: "r", reason: "", at: now - 10 * day, orderID: nil, expiry: .afterDays(10), lockDays: 0)
        let expiry = account.lots[0].expiresAtMillis!
        _ = account.hold(400, id: "r-1", reason: "", at: expiry - 60_000)
        let first = account.expire(at: expiry)
        XCTAssertEqual(first.map(\.key), ["expire:X"])
        XCTAssertEqual(first.map(\.points), [-600])
        _ = account.releaseHold("r-1", reason: "", at: expiry + 60_000)
        let second = account.expire(at: expiry + 120_000)
        XCTAssertEqual(second.map(\.key), ["expire:X~r-1"], "a key of its own: expire:X is written once")
        XCTAssertEqual(second.map(\.points), [-400])
        XCTAssertEqual(account.balance, 0)
    }

    func testACommitSpendsTheHold() {
        var account = PointsAccount(userID: "ann")
        _ = account.earn(600, key: "e1", ruleID: "r", reason: "", at: now - day, orderID: nil, expiry: .never, lockDays: 0)
        _ = account.hold(500, id: "r-1", reason: "", at: now)
        let commit = account.commitHold("r-1", reason: "redeemed", at: now)
        XCTAssertEqual(commit?.kind, .redeem)
        XCTAssertEqual(commit?.points, -500)
        XCTAssertEqual(commit?.held, -500)
        XCTAssertEqual(commit?.balanceAfter, 100)
        XCTAssertEqual(account.held, 0)
    }

    func testHoldsLimitsAndTagsSurviveTheStateStore() throws {
        var policy = MembershipPolicy()
        policy.levels = LevelPolicy(levels: levels.enumerated().map { MembershipLevel(name: $1, threshold: Int64($0) * 1000) })
        var state = MemberState(userID: "ann", policy: policy)
        XCTAssertEqual(try MemberState.decode(state.encoded()), state)
        let plain = state.encoded()
        _ = state.points.earn(600, key: "e1", ruleID: "r", reason: "", at: now - day, orderID: nil, expiry: .afterDays(10), lockDays: 0)
        _ = state.points.hold(500, id: "r-1", reason: "", at: now)
        state.pendingRedemptions = [.init(id: "r-1", rewardID: "coffee", quantity: 1, points: 500, placedAtMillis: now)]
        state.rewardUsage["coffee", default: RewardUsage()].add(1, at: now)
        state.tags = ["vip", "early"]
        XCTAssertEqual(try MemberState.decode(state.encoded()), state)
        XCTAssertEqual(plain.count + 0, MemberState(userID: "ann", policy: policy).encoded().count, "a member without mall state is written as before")
    }

    // MARK: Stock

    func testTheStockRemembersItsLatestDecisionsAcrossTheRingAndItsCodec() throws {
        var stock = RewardStock(rewardID: "coffee")
        let total = RewardStock.recentLimit + 100
        for i in 0..<total { XCTAssertEqual(stock.reserve(1, for: "r-\(i)", stock: .unlimited), .reserved(repeat: false)) }
        XCTAssertEqual(stock.decisions.count, RewardStock.recentLimit)
        XCTAssertEqual(stock.reserve(1, for: "r-\(total - 1)", stock: .unlimited), .reserved(repeat: true), "the latest is remembered")
        XCTAssertEqual(stock.reserve(1, for: "r-100", stock: .unlimited), .reserved(repeat: true), "the oldest kept is remembered")
        let decoded = try RewardStock.decode(stock.encoded())
        XCTAssertEqual(decoded, stock, "the ring's order survives the codec")
        var forgetful = decoded
        XCTAssertEqual(forgetful.reserve(1, for: "r-99", stock: .unlimited), .reserved(repeat: false), "older than the ring: decided again")
        XCTAssertEqual(forgetful.giveBack(for: "r-\(total - 1)", quantity: 1), .returned)
        XCTAssertEqual(forgetful.issued, Int64(total), "one more reserved, one returned")
    }

    func testOperatorsAreToldOnceWhenTheStockFallsLowAndAgainAfterItRose() throws {
        var stock = RewardStock(rewardID: "coffee")
        _ = stock.reserve(85, for: "r-1", stock: .limited(100))
        XCTAssertNil(stock.checkLow(under: .limited(100), percent: 10), "15 left of 100")
        _ = stock.reserve(5, for: "r-2", stock: .limited(100))
        XCTAssertEqual(stock.checkLow(under: .limited(100), percent: 10), 10, "10 left: told")
        _ = stock.reserve(5, for: "r-3", stock: .limited(100))
        XCTAssertNil(stock.checkLow(under: .limited(100), percent: 10), "told once")
        XCTAssertTrue(try RewardStock.decode(stock.encoded()).lowNoticeSent, "remembered in the store")
        _ = stock.giveBack(for: "r-1", quantity: 85)
        XCTAssertNil(stock.checkLow(under: .limited(100), percent: 10), "well above again: re-armed")
        _ = stock.reserve(85, for: "r-4", stock: .limited(100))
        XCTAssertEqual(stock.checkLow(under: .limited(100), percent: 10), 5, "low again: told again")
        var unlimited = RewardStock(rewardID: "x")
        XCTAssertNil(unlimited.checkLow(under: .unlimited, percent: 10))
        var small = RewardStock(rewardID: "tote")
        _ = small.reserve(2, for: "r-1", stock: .limited(3))
        XCTAssertEqual(small.checkLow(under: .limited(3), percent: 10), 1, "at least one unit")
        var never = small
        never.lowNoticeSent = false
        XCTAssertNil(never.checkLow(under: .limited(3), percent: 0), "0: never")
    }

    func testTheStockNeverReservesMoreThanItHasAndRecognisesRepeats() throws {
        var stock = RewardStock(rewardID: "coffee")
        XCTAssertEqual(stock.reserve(2, for: "r-1", stock: .limited(3)), .reserved(repeat: false))
        XCTAssertEqual(stock.reserve(2, for: "r-2", stock: .limited(3)), .refused(.outOfStock, repeat: false))
        XCTAssertEqual(stock.reserve(1, for: "r-3", stock: .limited(3)), .reserved(repeat: false))
        XCTAssertEqual(stock.reserve(2, for: "r-1", stock: .limited(3)), .reserved(repeat: true), "a repeat is answered as the first time")
        XCTAssertEqual(stock.reserve(2, for: "r-2", stock: .limited(100)), .refused(.outOfStock, repeat: true), "even when the stock changed since")
        XCTAssertEqual(stock.issued, 3)
        XCTAssertEqual(stock.reserve(1, for: "r-4", stock: nil), .refused(.unknownReward, repeat: false))
        XCTAssertEqual(stock.giveBack(for: "r-1", quantity: 2), .returned)
        XCTAssertEqual(stock.giveBack(for: "r-1", quantity: 2), .ignored, "returned once")
        XCTAssertEqual(stock.giveBack(for: "r-2", quantity: 2), .ignored, "nothing was reserved for a refusal")
        XCTAssertEqual(stock.issued, 1)
        XCTAssertEqual(stock.reserve(2, for: "r-5", stock: .limited(3)), .reserved(repeat: false), "returned stock is offered again")
        XCTAssertEqual(try RewardStock.decode(stock.encoded()), stock)

        // A cancellation long after its reservation left the latest decisions: returned by its quantity, once.
        for n in 0..<RewardStock.recentLimit { _ = stock.reserve(1, for: "filler-\(n)", stock: .limited(1_000_000)) }
        let issued = stock.issued
        XCTAssertEqual(stock.giveBack(for: "r-3", quantity: 1), .returned)
        XCTAssertEqual(stock.giveBack(for: "r-3", quantity: 1), .ignored, "once")
        XCTAssertEqual(stock.issued, issued - 1)
        XCTAssertEqual(try RewardStock.decode(stock.encoded()), stock)
        XCTAssertThrowsError(try RewardStock.decode([9, 9, 9]))
    }

    // MARK: Files

    func testARewardsFileIsCheckedWithFileLineAndField() throws {
        func load(_ yaml: String) throws -> [Reward] {
            try RewardFile.read(ConfigDocument(yaml: yaml, file: "mall.yaml", environment: [:]), levels: levels)
        }
        let good = """
        rewards:
          - id: coffee
            kind: coupon
            names: {en: Coffee coupon, zh-CN: 咖啡券}
            price_points: 500
            prices: {levels: {gold: 400}, plans: {plus: 350}}
            stock: 150
            limits: {day: 1, lifetime: 5}
            eligibility: {min_level: silver, segments: ["tier:S"]}
            valid_from: 2026-12-01T00:00:00Z
            issues: {coupon: {value_minor: 500, currency: USD, validity_days: 30}}
          - id: mug
            kind: goods
            names: {en: Mug, zh-CN: 杯子}
            price_points: 2000
            stock: unlimited
            issues: {goods: {sku: MUG-1}}
        """
        let rewards = try load(good)
        XCTAssertEqual(rewards.map(\.id), ["coffee", "mug"])
        XCTAssertEqual(rewards[0].levelPrices, ["gold": 400])
        XCTAssertEqual(rewards[1].stock, .unlimited)
        func failure(_ yaml: String) -> ConfigError? {
            do { _ = try load(yaml); return nil } catch let error as ConfigError { return error } catch { return nil }
        }
        let badLevel = failure(good.replacingOccurrences(of: "min_level: silver", with: "min_level: platinum"))
        XCTAssertEqual(badLevel?.field, "rewards[0].eligibility.min_level")
        XCTAssertEqual(badLevel?.line, 9, "the eligibility line")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "stock: 150", with: "stock: -3"))?.field, "rewards[0].stock")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "price_points: 500", with: "price_points: free"))?.field, "rewards[0].price_points")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "limits: {day: 1", with: "limits: {hour: 1"))?.field, "rewards[0].limits.hour")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "{goods: {sku: MUG-1}}", with: "{coupon: {value_minor: 1, currency: USD, validity_days: 1}}"))?.field,
                       "rewards[1].issues.coupon", "a goods reward issues goods")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "id: mug", with: "id: coffee"))?.field, "rewards[1].id", "ids are unique")
        XCTAssertEqual(failure(good.replacingOccurrences(of: "gold: 400", with: "platinum: 400"))?.field, "rewards[0].prices.levels.platinum")
        XCTAssertEqual(failure(good.replacingOccurrences(of: ", zh-CN: 咖啡券", with: ""))?.field, "rewards[0].names.zh-CN")
        XCTAssertEqual(failure("rewards: []")?.field, "rewards")
        XCTAssertEqual(failure("rewardz: []")?.field, "rewardz")
    }
}

/// The shipped example catalogue is valid against the shipped membership configuration.
final class ShippedCatalogueTests: XCTestCase {
    func testTheExampleCatalogueLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let settings = try MembershipSettings(document: ConfigDocument.load(path: root + "/deploy/config/membership.yaml", environment: [:]))
        let rewards = try RewardFile.load(path: root + "/deploy/mall/rewards.yaml", levels: settings.policy.levels.levels.map(\.name))
        XCTAssertEqual(rewards.map(\.id), ["coffee-coupon", "tote-bag", "free-delivery-month"])
        XCTAssertEqual(Set(rewards.map(\.kind)), [.coupon, .goods, .benefit])
    }
}
