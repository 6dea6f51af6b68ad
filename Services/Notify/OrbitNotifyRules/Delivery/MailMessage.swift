import Foundation
import OrbitContract
import OrbitCore

/// The RFC 5322 message of an e-mail notification: UTF-8 text and HTML parts (base64) in a
/// multipart/alternative body, an RFC 2047 subject, and the notification id as the Message-ID,
/// so a repeated send carries the same id.
public enum MailMessage {
    /// The address inside `Name <address>`, or the text itself.
    public static func address(_ mailbox: String) -> String {
        if let open = mailbox.lastIndex(of: "<"), let close = mailbox.lastIndex(of: ">"), open < close {
            return String(mailbox[mailbox.index(after: open)..<close])
        }
        return mailbox.trimmingCharacters(in: .whitespaces)
    }

    /// `<id@domain>` with the id's characters that a msg-id may not hold written as `=XX`.
    public static func messageID(_ id: String, domain: String) -> String {
        var out = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "+"):
                out.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: ":"): out.append(".")
            default: out += String(format: "=%02X", byte)
            }
        }
        while out.hasPrefix(".") { out.removeFirst() }
        return "<\(out)@\(domain)>"
    }

    /// A header value: ASCII as it is, anything else as RFC 2047 encoded words (folded).
    public static func encodedHeader(_ text: String) -> String {
        let clean = String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
        if clean.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) { return clean }
        // Encoded words of at most 45 bytes of UTF-8 each, split between characters.
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in clean {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 { words.append("=?UTF-8?B?\(Base64.encode(chunk))?="); chunk = [] }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Base64.encode(chunk))?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Base64 in lines of 76 characters.
    static func base64Lines(_ text: String) -> String {
        let encoded = Array(Base64.encode(Array(text.utf8)).utf8)
        var lines: [String] = []
        var index = 0
        while index < encoded.count {
            lines.append(String(decoding: encoded[index..<min(index + 76, encoded.count)], as: UTF8.self))
            index += 76
        }
        return lines.joined(separator: "\r\n")
    }

    /// RFC 5322 date-time in UTC.
    static func date(_ millis: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// The whole message, CRLF line ends, ready for DATA (no line starts with a dot: bodies are base64).
    public static func build(_ n: OutboxNotification, from: String, domain: String) -> String {
        let boundary = "orbit-\(String(StableHash.fnv1a(n.id), radix: 16))"
        var lines = [
            "From: \(encodedHeader(from))",
            "To: <\(address(n.to))>",
            "Subject: \(encodedHeader(n.content[.subject] ?? ""))",
            "Message-ID: \(messageID(n.id, domain: domain))",
            "Date: \(date(n.createdMillis))",
            "MIME-Version: 1.0",
            "X-Orbit-Notification: \(encodedHeader(n.id))",
            "X-Orbit-Trigger: \(encodedHeader(n.trigger))",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
        ]
        for (part, type) in [(MessagePart.text, "text/plain"), (.html, "text/html")] {
            lines += ["--\(boundary)", "Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", "", base64Lines(n.content[part] ?? "")]
        }
        lines.append("--\(boundary)--")
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}
