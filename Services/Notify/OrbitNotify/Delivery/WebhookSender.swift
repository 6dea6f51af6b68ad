import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import OrbitContract

/// SMS and push through their gateways' webhooks: a JSON body, an HMAC-SHA256 signature over
/// the timestamp and the body, the notification id as `Idempotency-Key`, and a timeout.
///
/// Signature: `X-Orbit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
/// configured secret. A receiver recomputes it, compares in constant time, and rejects old `t`
/// (replays). 2xx is sent; 408, 429, 5xx, a timeout or a refused connection are retriable; any
/// other 4xx is permanent.
public struct WebhookSender: ChannelSender {
    let webhook: DeliverySettings.Webhook
    let timeoutMillis: Int64
    /// The clock for the signature's timestamp (a test may fix it).
    let nowSeconds: @Sendable () -> Int64

    public init(webhook: DeliverySettings.Webhook, timeoutMillis: Int64, nowSeconds: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.webhook = webhook
        self.timeoutMillis = timeoutMillis
        self.nowSeconds = nowSeconds
    }

    /// The request body: the notification as the outbox carries it.
    public static func body(_ n: OutboxNotification) -> [UInt8] { n.encoded() }

    public static func signature(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        let key = SymmetricKey(data: Array(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: key)
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func send(_ notification: OutboxNotification) async -> SendOutcome {
        let body = Self.body(notification)
        var request = HTTPClientRequest(url: webhook.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: notification.id)
        request.headers.add(name: "X-Orbit-Signature", value: Self.signature(secret: webhook.secret, timestamp: nowSeconds(), body: body))
        request.headers.add(name: "User-Agent", value: "orbit-notify")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(timeoutMillis))
            // Read (and bound) the answer, so the connection can be reused.
            let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            let status = Int(response.status.code)
            let detail = "HTTP \(status)" + (answer.isEmpty ? "" : ": \(answer.prefix(200))")
            switch status {
            case 200..<300: return .sent(detail)
            case 408, 429, 500..<600: return .retriable(detail)
            default: return .permanent(detail)
            }
        } catch {
            return .retriable("\(error)")
        }
    }
}
