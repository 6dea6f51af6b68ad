import Foundation
import OrbitContract
import OrbitRuntime

/// Everything the membership service keeps about one member (the state store's value).
public struct MemberState: Sendable, Equatable, Codable {
    public var points: PointsAccount
    public var level: LevelState
    public var status: String
    public var known = false
    public var purchases = 0
    public var checkInLastDay: Int64?
    public var checkInStreak = 0
    public var referredBy: String?
    public var referredAtMillis: Int64 = .max
    public var segments: Set<String> = []
    public var caps = CapUsage()
    public var paid: PaidMembership?
    /// Orders' amounts and what was refunded, for the refunded share.
    public var orders: [String: OrderAmounts] = [:]
    /// Replay protection: the last applied offset of the merged input stream, and recent idempotency keys (hashed).
    public var appliedOffset: Int64 = -1
    public var recentKeys: [UInt64] = []
    /// The last results of commands, by request id, to answer a repeated request with the original result.
    public var commandResults: [CommandResultMemo] = []
    public var totalEarned: Int64 = 0
    public var totalRedeemed: Int64 = 0
    public var totalExpired: Int64 = 0

    public static let recentKeyLimit = 64
    public static let commandResultLimit = 100

    public struct OrderAmounts: Sendable, Equatable, Codable {
        public var amountMinor: Int64
        public var refundedMinor: Int64
        public var atMillis: Int64
    }

    public struct PaidMembership: Sendable, Equatable, Codable {
        public var plan: String
        public var startedAtMillis: Int64
        public var expiresAtMillis: Int64
        public var cancelled: Bool
    }

    public struct CommandResultMemo: Sendable, Equatable, Codable {
        public var requestID: String
        public var result: [UInt8]
    }

    public init(userID: String, policy: MembershipPolicy) {
        points = PointsAccount(userID: userID)
        level = LevelState(level: policy.levels.levels[0].name)
        status = policy.defaultStatus
    }

    /// True if this input record or key was applied already; otherwise records it.
    public mutating func alreadyApplied(offset: Int64, key: String) -> Bool {
        if offset >= 0, offset <= appliedOffset { return true }
        let hash = StableHash.fnv1a(key)
        if recentKeys.contains(hash) {
            if offset >= 0 { appliedOffset = max(appliedOffset, offset) }
            return true
        }
        if offset >= 0 { appliedOffset = offset }
        recentKeys.append(hash)
        if recentKeys.count > Self.recentKeyLimit { recentKeys.removeFirst(recentKeys.count - Self.recentKeyLimit) }
        return false
    }

    public func previousResult(_ requestID: String) -> [UInt8]? {
        commandResults.last { $0.requestID == requestID }?.result
    }

    public mutating func remember(_ requestID: String, result: [UInt8]) {
        commandResults.append(CommandResultMemo(requestID: requestID, result: result))
        if commandResults.count > Self.commandResultLimit { commandResults.removeFirst(commandResults.count - Self.commandResultLimit) }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public func encoded() -> [UInt8] { Array((try? Self.encoder.encode(self)) ?? Data()) }

    public static func decode(_ bytes: [UInt8]) throws -> MemberState { try JSONDecoder().decode(MemberState.self, from: Data(bytes)) }
}
