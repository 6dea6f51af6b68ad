import Crypto
import Foundation
import OrbitContract
import OrbitCore
import Synchronization

/// WeCom (enterprise WeChat) private messages through a webhook: the body is WeCom's application
/// message (`message/send`: a markdown message to the user's WeCom id, with the agent id), so the
/// receiving bridge passes it on as it is; Orbit's own fields ride in `orbit`.
///
/// Signature, WeCom's own scheme (what its callbacks carry): `X-Orbit-WeCom-Signature` is the hex
/// SHA-1 of the token, the timestamp, the nonce and the body, sorted and joined; the timestamp and
/// nonce are `X-Orbit-WeCom-Timestamp` and `X-Orbit-WeCom-Nonce`. `Idempotency-Key` is the
/// notification id, and the body asks WeCom's duplicate check for the same half hour.
///
/// WeCom limits how fast an application sends, so this sender has its own rate limit
/// (`delivery.wecom.rate_per_second`): a send waits for its turn. WeCom answers 200 with an
/// `errcode`: 0 is sent; -1 (busy) and 45009 (frequency limit) are retried; any other is final.
public struct WeComSender: ChannelSender {
    let settings: DeliverySettings.WeCom
    let timeoutMillis: Int64
    let limiter: RateLimiter
    let nowSeconds: @Sendable () -> Int64

    public init(settings: DeliverySettings.WeCom, timeoutMillis: Int64, nowSeconds: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.settings = settings
        self.timeoutMillis = timeoutMillis
        self.limiter = RateLimiter(perSecond: settings.ratePerSecond)
        self.nowSeconds = nowSeconds
    }

    /// The request body: WeCom's markdown application message, and Orbit's fields.
    public static func body(_ n: OutboxNotification, agentID: Int) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        w.key("touser"); w.string(n.to)
        w.key("msgtype"); w.string("markdown")
        w.key("agentid"); w.int(agentID)
        w.key("markdown"); w.beginObject()
        w.key("content"); w.string("**\(n.content[.title] ?? "")**\n\(n.content[.body] ?? "")")
        w.endObject()
        w.key("enable_duplicate_check"); w.int(1)
        w.key("duplicate_check_interval"); w.int(1800)
        w.key("orbit"); w.beginObject()
        w.key("notification_id"); w.string(n.id)
        w.key("user_id"); w.string(n.userID)
        w.key("trigger"); w.string(n.trigger)
        w.key("locale"); w.string(n.locale)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// WeCom's signature: hex SHA-1 over the token, timestamp, nonce and body, sorted and joined.
    public static func signature(token: String, timestamp: Int64, nonce: String, body: [UInt8]) -> String {
        let parts = [token, String(timestamp), nonce, String(decoding: body, as: UTF8.self)].sorted()
        return Insecure.SHA1.hash(data: Array(parts.joined().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public func send(_ notification: OutboxNotification) async -> SendOutcome {
        if let wait = limiter.reserve() { try? await Task.sleep(for: wait) }
        let body = Self.body(notification, agentID: settings.agentID)
        let timestamp = nowSeconds()
        let nonce = String(StableHash.fnv1a("\(notification.id)\u{1F}\(timestamp)"), radix: 16)
        do {
            let (status, answer, detail) = try await WebhookPost.send(url: settings.url, body: body, timeoutMillis: timeoutMillis, headers: [
                ("Idempotency-Key", notification.id),
                ("X-Orbit-WeCom-Timestamp", String(timestamp)),
                ("X-Orbit-WeCom-Nonce", nonce),
                ("X-Orbit-WeCom-Signature", Self.signature(token: settings.token, timestamp: timestamp, nonce: nonce, body: body)),
            ])
            switch status {
            case 200..<300:
                // WeCom answers 200 with its own code.
                guard case .object(let o)? = try? JSONParser.parse(Array(answer.utf8)), let code = o["errcode"]?.numberValue?.int64Value else { return .sent(detail) }
                switch code {
                case 0: return .sent(detail)
                case -1, 45009: return .retriable(detail)
                default: return .permanent(detail)
                }
            case 408, 429, 500..<600: return .retriable(detail)
            default: return .permanent(detail)
            }
        } catch {
            return .retriable("\(error)")
        }
    }
}

/// A token bucket shared by every send of one channel: at most `perSecond` sends a second
/// (bursts of up to one second's worth). A send reserves its turn and waits for it.
public final class RateLimiter: Sendable {
    private let perSecond: Double
    private let state: Mutex<(tokens: Double, at: ContinuousClock.Instant)>

    public init(perSecond: Int) {
        self.perSecond = Double(perSecond)
        self.state = Mutex((Double(perSecond), ContinuousClock.now))
    }

    /// Takes a token: nil when one was there, else how long to wait for the one reserved.
    public func reserve(now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { s in
            let elapsed = Double((now - s.at).components.attoseconds) / 1e18 + Double((now - s.at).components.seconds)
            s.tokens = min(perSecond, s.tokens + max(0, elapsed) * perSecond)
            s.at = now
            s.tokens -= 1
            guard s.tokens < 0 else { return nil }
            return .milliseconds(Int64((-s.tokens / perSecond * 1000).rounded(.up)))
        }
    }
}
