import Foundation

/// The policies every message passes, pure over a recipient's state and a time (the runtime's
/// clock, so a test or a replay decides the same way):
/// - consent: marketing needs an opt-in to its category; any category may be opted out of; a
///   channel opted out of is never used;
/// - contact: a channel without an address is a suppression, not an error;
/// - deduplication of a trigger per user within its window;
/// - frequency caps per category per local day and per rolling week (critical and transactional
///   messages bypass them);
/// - quiet hours in the user's own time zone: the message waits for their end (critical messages
///   bypass them).
public struct DeliveryPolicy: Sendable {
    public static let weekMillis: Int64 = 7 * 86_400_000

    public var categories: [String: MessageCategory]
    /// Quiet hours for users who set none; nil: none.
    public var defaultQuietHours: QuietHours?
    /// The time zone of users whose contacts name none (or an unknown one).
    public var defaultTimeZone: String

    public init(categories: [String: MessageCategory], defaultQuietHours: QuietHours?, defaultTimeZone: String = "UTC") {
        self.categories = categories
        self.defaultQuietHours = defaultQuietHours
        self.defaultTimeZone = defaultTimeZone
    }

    /// What happens to one firing of a trigger (all its channels together).
    public enum Firing: Equatable, Sendable {
        case sendNow
        case deferUntil(Int64)
        case suppressed(SuppressionReason)
    }

    public func firing(of trigger: Trigger, for recipient: Recipient, at now: Int64) -> Firing {
        guard let category = categories[trigger.category] else { return .suppressed(.optedOut) }
        if trigger.dedupWindowMillis > 0, recipient.fired.contains(where: { $0.trigger == trigger.id && now - $0.atMillis < trigger.dedupWindowMillis }) {
            return .suppressed(.duplicate)
        }
        return firing(category: category, recipient: recipient, at: now)
    }

    /// Caps and quiet hours for a message of `category` (campaigns use this directly).
    public func firing(category: MessageCategory, recipient: Recipient, at now: Int64) -> Firing {
        if !category.bypassesCaps, isCapped(category, recipient, at: now) { return .suppressed(.capped) }
        if !category.bypassesQuietHours, let quiet = recipient.preferences.quietHours ?? defaultQuietHours {
            let minute = localMinuteOfDay(recipient, at: now)
            let wait = quiet.minutesUntilEnd(from: minute)
            if wait > 0 {
                // To the first minute after the quiet interval (seconds of the current minute dropped).
                let minuteStart = now - (now % 60_000 + 60_000) % 60_000
                return .deferUntil(minuteStart + Int64(wait) * 60_000)
            }
        }
        return .sendNow
    }

    /// Whether one channel may carry a message of `category` to this recipient.
    public func channelSuppression(_ channel: Channel, category name: String, recipient: Recipient) -> SuppressionReason? {
        guard let category = categories[name] else { return .optedOut }
        if category.kind == .marketing, !recipient.preferences.consents.allows(.marketing) { return .noConsent }
        if recipient.preferences.channels[channel.rawValue] == false { return .optedOut }
        switch (category.kind, recipient.preferences.categories[name]) {
        case (_, false?): return .optedOut
        case (.marketing, nil): return .optedOut  // marketing needs an opt-in
        default: break
        }
        guard let address = recipient.contacts.address(for: channel), !address.isEmpty else { return .noContact }
        return nil
    }

    func isCapped(_ category: MessageCategory, _ recipient: Recipient, at now: Int64) -> Bool {
        let ofCategory = recipient.sent.filter { $0.category == category.name }
        if let perWeek = category.perWeek, ofCategory.filter({ now - $0.atMillis < Self.weekMillis }).count >= perWeek { return true }
        if let perDay = category.perDay {
            let offset = utcOffsetMillis(recipient, at: now)
            let today = Self.day(now + offset)
            if ofCategory.filter({ Self.day($0.atMillis + offset) == today }).count >= perDay { return true }
        }
        return false
    }

    /// The recipient's local minute of the day at `now`.
    public func localMinuteOfDay(_ recipient: Recipient, at now: Int64) -> Int {
        let local = now + utcOffsetMillis(recipient, at: now)
        return Int(((local % 86_400_000) + 86_400_000) % 86_400_000 / 60_000)
    }

    /// The offset of the recipient's time zone from UTC at `now` (daylight saving included).
    public func utcOffsetMillis(_ recipient: Recipient, at now: Int64) -> Int64 {
        let zone = recipient.contacts.timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: defaultTimeZone) ?? TimeZone(secondsFromGMT: 0)!
        return Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(now) / 1000))) * 1000
    }

    static func day(_ millis: Int64) -> Int64 { millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000 }
}
