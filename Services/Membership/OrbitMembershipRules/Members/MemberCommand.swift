import OrbitContract

/// A command on `orbit.member-commands` (JSON), keyed by the user it concerns (`from` for transfers).
public enum MemberCommand: Sendable, Equatable {
    case redeem(requestID: String, userID: String, points: Int64, rewardID: String)
    /// A reward of the catalogue (`orbit.rewards`): the price is the catalogue's, never the caller's.
    /// `addressRef` is the shop's reference of where goods go, passed on to fulfilment as given.
    case redeemReward(requestID: String, userID: String, rewardID: String, quantity: Int64, addressRef: String?)
    /// Cancels a redemption by reward within the cancel window: points back, stock back.
    case cancelRedemption(requestID: String, userID: String, redemptionID: String)
    /// Checkout: hold `points` toward an order of `orderAmountMinor` in `currency`, until captured or released.
    case holdPoints(requestID: String, userID: String, orderID: String, points: Int64, orderAmountMinor: Int64, currency: String)
    /// Checkout: the order is paid; the held points are spent.
    case capturePoints(requestID: String, userID: String, orderID: String)
    /// Checkout: the order is cancelled; the held points come back.
    case releasePoints(requestID: String, userID: String, orderID: String)
    case adjust(requestID: String, userID: String, points: Int64, reason: String, operatorID: String)
    case transfer(requestID: String, from: String, to: String, points: Int64)
    case bulkGrant(requestID: String, campaignID: String, points: Int64, users: [String])
    case join(requestID: String, userID: String, plan: String, months: Int)
    case renew(requestID: String, userID: String, months: Int)
    case cancel(requestID: String, userID: String)
    case setStatus(requestID: String, userID: String, status: String)

    /// The command's name as its record writes it (`redeem`, `bulk_grant`, ...): results carry it.
    public var name: String {
        switch self {
        case .redeem: "redeem"
        case .redeemReward: "redeem_reward"
        case .cancelRedemption: "cancel_redemption"
        case .holdPoints: "hold_points"
        case .capturePoints: "capture_points"
        case .releasePoints: "release_points"
        case .adjust: "adjust"
        case .transfer: "transfer"
        case .bulkGrant: "bulk_grant"
        case .join: "join"
        case .renew: "renew"
        case .cancel: "cancel"
        case .setStatus: "set_status"
        }
    }

    public var requestID: String {
        switch self {
        case .redeem(let r, _, _, _), .redeemReward(let r, _, _, _, _), .cancelRedemption(let r, _, _), .holdPoints(let r, _, _, _, _, _), .capturePoints(let r, _, _), .releasePoints(let r, _, _), .adjust(let r, _, _, _, _), .transfer(let r, _, _, _), .bulkGrant(let r, _, _, _),
             .join(let r, _, _, _), .renew(let r, _, _), .cancel(let r, _), .setStatus(let r, _, _): r
        }
    }

    public enum ParseError: Error, Equatable { case invalid(String, requestID: String?) }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> MemberCommand {
        guard let o = try? JSONParser.parse(bytes).objectValue else { throw .invalid("not a JSON object", requestID: nil) }
        guard let requestID = o["request_id"]?.stringValue else { throw .invalid("request_id is required (1-128 characters)", requestID: nil) }
        if let violation = IdentifierRules.violation(requestID) {
            // A request id that breaks the rules is not echoed: it may hold what the rules keep out of logs.
            throw .invalid("request_id \(violation)", requestID: nil)
        }
        /// Free text (a reason, a status): 1-128 bytes without control characters.
        func string(_ key: String) throws(ParseError) -> String {
            guard let v = o[key]?.stringValue, !v.isEmpty, v.utf8.count <= 128 else { throw .invalid("\(key) is required", requestID: requestID) }
            guard !v.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw .invalid("\(key) contains a control character", requestID: requestID)
            }
            return v
        }
        /// A user, reward, campaign, plan or operator id: ``IdentifierRules``.
        func identifier(_ key: String) throws(ParseError) -> String {
            guard let v = o[key]?.stringValue else { throw .invalid("\(key) is required", requestID: requestID) }
            if let violation = IdentifierRules.violation(v) { throw .invalid("\(key) \(violation)", requestID: requestID) }
            return v
        }
        func positive(_ key: String) throws(ParseError) -> Int64 {
            guard let v = o[key]?.numberValue?.int64Value, v > 0, v <= 1_000_000_000 else { throw .invalid("\(key) must be a whole number from 1 to 1000000000", requestID: requestID) }
            return v
        }
        /// Months of a paid membership: 12 when absent; anything but a whole number from 1 to 120
        /// is an error (1.5 or "6" must not quietly become the default).
        func months() throws(ParseError) -> Int {
            guard let value = o["months"], value != .null else { return 12 }
            guard let n = value.numberValue?.int64Value, (1...120).contains(n) else {
                throw .invalid("months must be a whole number from 1 to 120", requestID: requestID)
            }
            return Int(n)
        }
        switch o["type"]?.stringValue {
        case "redeem": return .redeem(requestID: requestID, userID: try identifier("user_id"), points: try positive("points"), rewardID: try identifier("reward_id"))
        case "redeem_reward":
            var quantity: Int64 = 1
            if let value = o["quantity"], value != .null {
                guard let n = value.numberValue?.int64Value, (1...100).contains(n) else { throw .invalid("quantity must be a whole number from 1 to 100", requestID: requestID) }
                quantity = n
            }
            var addressRef: String?
            if let value = o["address_ref"], value != .null { addressRef = try identifier("address_ref") }
            return .redeemReward(requestID: requestID, userID: try identifier("user_id"), rewardID: try identifier("reward_id"), quantity: quantity, addressRef: addressRef)
        case "cancel_redemption":
            return .cancelRedemption(requestID: requestID, userID: try identifier("user_id"), redemptionID: try identifier("redemption_id"))
        case "hold_points":
            guard let amount = o["order_amount_minor"]?.numberValue?.int64Value, amount > 0, amount <= 1_000_000_000_000 else {
                throw .invalid("order_amount_minor must be a whole number from 1 to 1000000000000", requestID: requestID)
            }
            let currency = try string("currency")
            guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else { throw .invalid("currency must be an ISO 4217 code", requestID: requestID) }
            return .holdPoints(requestID: requestID, userID: try identifier("user_id"), orderID: try identifier("order_id"), points: try positive("points"),
                               orderAmountMinor: amount, currency: currency)
        case "capture_points":
            return .capturePoints(requestID: requestID, userID: try identifier("user_id"), orderID: try identifier("order_id"))
        case "release_points":
            return .releasePoints(requestID: requestID, userID: try identifier("user_id"), orderID: try identifier("order_id"))
        case "adjust":
            guard let points = o["points"]?.numberValue?.int64Value, points != 0, abs(points) <= 1_000_000_000 else { throw .invalid("points must be a non-zero whole number", requestID: requestID) }
            return .adjust(requestID: requestID, userID: try identifier("user_id"), points: points, reason: try string("reason"), operatorID: try identifier("operator"))
        case "transfer":
            let from = try identifier("from"), to = try identifier("to")
            guard from != to else { throw .invalid("cannot transfer to oneself", requestID: requestID) }
            return .transfer(requestID: requestID, from: from, to: to, points: try positive("points"))
        case "bulk_grant":
            guard let list = o["users"]?.arrayValue, !list.isEmpty, list.count <= 10_000 else { throw .invalid("users must list 1 to 10000 user ids", requestID: requestID) }
            let users = list.compactMap(\.stringValue)
            guard users.count == list.count else { throw .invalid("users must be strings", requestID: requestID) }
            for (index, user) in users.enumerated() {
                if let violation = IdentifierRules.violation(user) { throw .invalid("users[\(index)] \(violation)", requestID: requestID) }
            }
            return .bulkGrant(requestID: requestID, campaignID: try identifier("campaign_id"), points: try positive("points"), users: users)
        case "join":
            return .join(requestID: requestID, userID: try identifier("user_id"), plan: try identifier("plan"), months: try months())
        case "renew":
            return .renew(requestID: requestID, userID: try identifier("user_id"), months: try months())
        case "cancel":
            return .cancel(requestID: requestID, userID: try identifier("user_id"))
        case "set_status":
            return .setStatus(requestID: requestID, userID: try identifier("user_id"), status: try string("status"))
        default:
            throw .invalid("type must be redeem, redeem_reward, cancel_redemption, hold_points, capture_points, release_points, adjust, transfer, bulk_grant, join, renew, cancel or set_status", requestID: requestID)
        }
    }
}
