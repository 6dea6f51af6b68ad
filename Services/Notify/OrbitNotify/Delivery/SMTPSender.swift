import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import OrbitContract

/// One SMTP reply: its code and its lines' text (a multi-line reply is `250-...` lines then `250 ...`).
public struct SMTPReply: Sendable, Equatable {
    public var code: Int
    public var lines: [String]

    public var isPositive: Bool { (200..<400).contains(code) }
    public var isTransient: Bool { (400..<500).contains(code) }
    public var text: String { "\(code) \(lines.joined(separator: " / "))" }
}

/// Splits the server's bytes into replies (RFC 5321 §4.2).
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    /// A server that sends more than this without ending a reply is not an SMTP server.
    static let maxReplyBytes = 64 * 1024

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        // Find the last line of a reply: `ddd ` or `ddd` at its start.
        var lines: [String] = []
        var start = view.startIndex
        var code = 0
        while let end = view[start...].firstRange(of: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]) {
            let line = Array(view[start..<end.lowerBound])
            start = end.upperBound
            guard line.count >= 3, let parsed = Int(String(decoding: line[0..<3], as: UTF8.self)), (200...599).contains(parsed) else {
                throw SMTPError.protocolViolation("not an SMTP reply line: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            code = parsed
            lines.append(line.count > 4 ? String(decoding: line[4...], as: UTF8.self) : "")
            if line.count == 3 || line[3] == UInt8(ascii: " ") {
                buffer.moveReaderIndex(forwardBy: start - view.startIndex)
                context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: lines)))
                return .continue
            }
        }
        if buffer.readableBytes > Self.maxReplyBytes { throw SMTPError.protocolViolation("reply longer than \(Self.maxReplyBytes) bytes") }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Hands each reply (or the end of the connection) to the session's async stream.
final class SMTPReplyForwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = SMTPReply
    let continuation: AsyncThrowingStream<SMTPReply, Error>.Continuation

    init(continuation: AsyncThrowingStream<SMTPReply, Error>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
    func channelInactive(context: ChannelHandlerContext) { continuation.finish(throwing: SMTPError.closed) }
}

enum SMTPError: Error, CustomStringConvertible {
    case closed
    case protocolViolation(String)
    case reply(SMTPReply, during: String)
    case tlsUnavailable

    var description: String {
        switch self {
        case .closed: "the server closed the connection"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .reply(let reply, let step): "\(step): \(reply.text)"
        case .tlsUnavailable: "the server does not offer STARTTLS, which delivery.email.starttls requires"
        }
    }
}

/// E-mail over SMTP (RFC 5321), written on SwiftNIO: one connection per message, EHLO,
/// STARTTLS (off, opportunistic or required) and AUTH PLAIN when configured, then MAIL, RCPT and
/// DATA. A 4xx reply, a timeout or a refused connection is retriable; a 5xx reply is permanent.
public struct SMTPSender: ChannelSender {
    let settings: DeliverySettings.SMTP
    let timeoutMillis: Int64

    public init(settings: DeliverySettings.SMTP, timeoutMillis: Int64) {
        self.settings = settings
        self.timeoutMillis = timeoutMillis
    }

    public func send(_ notification: OutboxNotification) async -> SendOutcome {
        do {
            let reply = try await deliver(notification)
            return .sent(reply.text)
        } catch SMTPError.reply(let reply, let step) {
            return reply.isTransient ? .retriable("\(step): \(reply.text)") : .permanent("\(step): \(reply.text)")
        } catch SMTPError.tlsUnavailable {
            return .permanent(SMTPError.tlsUnavailable.description)
        } catch {
            return .retriable("\(error)")
        }
    }

    func deliver(_ n: OutboxNotification) async throws -> SMTPReply {
        let (replies, continuation) = AsyncThrowingStream<SMTPReply, Error>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(timeoutMillis))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SMTPReplyForwarder(continuation: continuation))
                }
            }
            .connect(host: settings.host, port: settings.port).get()
        // One deadline for the whole conversation: closing the channel ends the reply stream.
        let deadline = channel.eventLoop.scheduleTask(in: .milliseconds(timeoutMillis)) { channel.close(promise: nil) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        var iterator = replies.makeAsyncIterator()
        func next(_ step: String) async throws -> SMTPReply {
            guard let reply = try await iterator.next() else { throw SMTPError.closed }
            guard reply.isPositive else { throw SMTPError.reply(reply, during: step) }
            return reply
        }
        func command(_ line: String, _ step: String) async throws -> SMTPReply {
            try await channel.writeAndFlush(ByteBuffer(string: line + "\r\n")).get()
            return try await next(step)
        }

        _ = try await next("greeting")
        var hello = try await command("EHLO \(settings.helo)", "EHLO")
        let offersTLS = hello.lines.contains { $0.uppercased().hasPrefix("STARTTLS") }
        if settings.startTLS == .required && !offersTLS { throw SMTPError.tlsUnavailable }
        if settings.startTLS != .off && offersTLS {
            _ = try await command("STARTTLS", "STARTTLS")
            var configuration = TLSConfiguration.makeClientConfiguration()
            if !settings.verifyCertificate { configuration.certificateVerification = .none }
            let context = try NIOSSLContext(configuration: configuration)
            let host = settings.host
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host.first?.isNumber == true ? nil : host), position: .first)
            }.get()
            hello = try await command("EHLO \(settings.helo)", "EHLO after STARTTLS")
        }
        if let user = settings.username, let password = settings.password {
            let token = Base64.encode([0] + Array(user.utf8) + [0] + Array(password.utf8))
            _ = try await command("AUTH PLAIN \(token)", "AUTH")
        }
        _ = try await command("MAIL FROM:<\(MailMessage.address(settings.from))>", "MAIL FROM")
        let recipient = MailMessage.address(n.to)
        guard ContactsInput.isEmailAddress(recipient) else { throw SMTPError.reply(SMTPReply(code: 553, lines: ["invalid recipient \(recipient.prefix(64))"]), during: "RCPT TO") }
        _ = try await command("RCPT TO:<\(recipient)>", "RCPT TO")
        _ = try await command("DATA", "DATA")
        let message = MailMessage.build(n, from: settings.from, domain: settings.helo)
        let accepted = try await command(message + ".", "end of DATA")
        try? await channel.writeAndFlush(ByteBuffer(string: "QUIT\r\n")).get()
        return accepted
    }
}
