import Foundation
import Logging

/// What one attempt to hand a message to its channel came to.
public enum SendOutcome: Sendable, Equatable {
    /// Accepted by the channel (SMTP 250 after DATA, HTTP 2xx).
    case sent(String)
    /// May pass later: a 5xx or 4xx SMTP reply, an HTTP 5xx, 408 or 429, a timeout, a refused connection.
    case retriable(String)
    /// Will not pass: an SMTP 5xx reply, an HTTP 4xx.
    case permanent(String)
}

/// A channel's transport. Senders are called from the delivery stage with a timeout each.
public protocol ChannelSender: Sendable {
    func send(_ notification: OutboxNotification) async -> SendOutcome
}

/// The senders of each external channel (in-app messages need none: they are records).
public struct ChannelSenders: Sendable {
    public var senders: [Channel: any ChannelSender]

    public init(senders: [Channel: any ChannelSender]) { self.senders = senders }

    /// E-mail over SMTP when configured, SMS, push and WeCom over their webhooks when configured.
    public init(settings: DeliverySettings, logger: Logger) throws {
        var senders: [Channel: any ChannelSender] = [:]
        if let smtp = settings.email { senders[.email] = SMTPSender(settings: smtp, timeoutMillis: settings.timeoutMillis) }
        if let sms = settings.sms { senders[.sms] = WebhookSender(webhook: sms, timeoutMillis: settings.timeoutMillis) }
        if let push = settings.push { senders[.push] = WebhookSender(webhook: push, timeoutMillis: settings.timeoutMillis) }
        if let wecom = settings.wecom { senders[.wecom] = WeComSender(settings: wecom, timeoutMillis: settings.timeoutMillis) }
        self.senders = senders
    }
}

/// Runs async work to completion from a synchronous caller (a pipeline's own thread, never a
/// thread of the cooperative pool): the delivery stage is the one place where a batch waits for
/// the network.
enum BlockingAsync {
    /// The value crosses threads once, and the semaphore orders the write before the read.
    private final class Box<T>: @unchecked Sendable { var value: T? }

    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}
