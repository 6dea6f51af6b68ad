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
        do {
            let (status, _, detail) = try await WebhookPost.send(url: webhook.url, body: body, timeoutMillis: timeoutMillis, headers: [
                ("Idempotency-Key", notification.id),
                ("X-Orbit-Signature", Self.signature(secret: webhook.secret, timestamp: nowSeconds(), body: body)),
            ])
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

/// One JSON POST to a gateway, as both webhook senders make it: their headers, a timeout, and
/// the answer read (at most 4 KiB, so the connection can be reused).
enum WebhookPost {
    /// The status, the answer, and `HTTP <status>: <the answer's start>` for the delivery record.
    static func send(url: String, body: [UInt8], timeoutMillis: Int64, headers: [(String, String)]) async throws -> (status: Int, answer: String, detail: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "orbit-notify")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(timeoutMillis))
        let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        let status = Int(response.status.code)
        return (status, answer, "HTTP \(status)" + (answer.isEmpty ? "" : ": \(answer.prefix(200))"))
    }
}
