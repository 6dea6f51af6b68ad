import OrbitContract

/// A rendered message on the outbox topic `orbit.notifications` (key: the user id). Its `id` is
/// deterministic (trigger, source record, channel), so a replay repeats a notification only as an
/// identical copy, and senders use it as the e-mail Message-ID and the webhook Idempotency-Key: a
/// crash between a send and its record may repeat a send, always under the same id.
public struct OutboxNotification: Sendable, Equatable {
    public static let schemaVersion = 1

    public var id: String
    public var userID: String
    /// The trigger, or `campaign:<id>` for a campaign.
    public var trigger: String
    public var campaign: String?
    public var category: String
    public var categoryKind: CategoryKind
    public var channel: Channel
    public var locale: String
    /// The address on the channel (e-mail address, phone number, push token; `inbox` in-app).
    public var to: String
    public var experiment: String?
    public var variant: String?
    /// `notify.config_version` of the rules that made it: which triggers, caps and templates.
    public var configVersion: String
    public var createdMillis: Int64
    public var content: RenderedMessage

    public init(id: String, userID: String, trigger: String, campaign: String? = nil, category: String, categoryKind: CategoryKind, channel: Channel,
                locale: String, to: String, experiment: String? = nil, variant: String? = nil, configVersion: String = "unversioned",
                createdMillis: Int64, content: RenderedMessage) {
        self.id = id
        self.userID = userID
        self.trigger = trigger
        self.campaign = campaign
        self.category = category
        self.categoryKind = categoryKind
        self.channel = channel
        self.locale = locale
        self.to = to
        self.experiment = experiment
        self.variant = variant
        self.configVersion = configVersion
        self.createdMillis = createdMillis
        self.content = content
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1024)
        w.beginObject()
        w.field("schema_version"); w.int(Self.schemaVersion)
        w.field("id"); w.string(id)
        w.field("user_id"); w.string(userID)
        w.field("trigger"); w.string(trigger)
        w.field("campaign"); if let campaign { w.string(campaign) } else { w.null() }
        w.field("category"); w.string(category)
        w.field("priority"); w.string(categoryKind.rawValue)
        w.field("channel"); w.string(channel.rawValue)
        w.field("locale"); w.string(locale)
        w.field("to"); w.string(to)
        w.field("experiment"); if let experiment { w.string(experiment) } else { w.null() }
        w.field("variant"); if let variant { w.string(variant) } else { w.null() }
        w.field("config_version"); w.string(configVersion)
        w.field("created"); w.timestamp(millis: createdMillis)
        w.field("content")
        w.beginObject()
        for (part, text) in content.parts { w.key(part.rawValue); w.string(text) }
        w.endObject()
        w.endObject()
        return w.bytes
    }

    public enum DecodingError: Error { case invalid(String) }

    /// Reads a record of the outbox back. Records as the notify stage writes them are read in one
    /// pass (``JSONMembers``): the delivery stage reads every notification, and building the tree
    /// only to look its fifteen members up by name was the larger part of that stage's CPU. Any
    /// other record, and every one that does not decode, goes through the full parser, with the
    /// same result or the same error.
    public static func decode(_ bytes: [UInt8]) throws -> OutboxNotification {
        if let notification = try? readInOnePass(bytes) { return notification }
        return try decodeTree(bytes)
    }

    private static func readInOnePass(_ bytes: [UInt8]) throws -> OutboxNotification {
        var id: String?, user: String?, trigger: String?, campaign: String?, category: String?, priority: String?, channel: String?
        var locale: String?, to: String?, experiment: String?, variant: String?, configVersion: String?, created: String?
        var content: JSONObject?
        try JSONMembers.forEach(in: bytes) { name, value in
            if name.is("id") { id = value.stringValue }
            else if name.is("user_id") { user = value.stringValue }
            else if name.is("trigger") { trigger = value.stringValue }
            else if name.is("campaign") { campaign = value.stringValue }
            else if name.is("category") { category = value.stringValue }
            else if name.is("priority") { priority = value.stringValue }
            else if name.is("channel") { channel = value.stringValue }
            else if name.is("locale") { locale = value.stringValue }
            else if name.is("to") { to = value.stringValue }
            else if name.is("experiment") { experiment = value.stringValue }
            else if name.is("variant") { variant = value.stringValue }
            else if name.is("config_version") { configVersion = value.stringValue }
            else if name.is("created") { created = value.stringValue }
            else if name.is("content") { content = value.objectValue }
        }
        guard let id, let user, let trigger, let category, let locale, let to, let created, let content,
              let channel = channel.flatMap(Channel.init(rawValue:)), let kind = priority.flatMap(CategoryKind.init(rawValue:)) else {
            throw DecodingError.invalid("not in one pass")
        }
        var parts: [(MessagePart, String)] = []
        parts.reserveCapacity(content.count)
        for member in content.members {
            guard let part = MessagePart(rawValue: member.key), let value = member.value.stringValue else { throw DecodingError.invalid("not in one pass") }
            parts.append((part, value))
        }
        return OutboxNotification(id: id, userID: user, trigger: trigger, campaign: campaign, category: category, categoryKind: kind, channel: channel,
                                  locale: locale, to: to, experiment: experiment, variant: variant, configVersion: configVersion ?? "unversioned",
                                  createdMillis: try RFC3339.parse(created), content: RenderedMessage(parts: parts))
    }

    static func decodeTree(_ bytes: [UInt8]) throws -> OutboxNotification {
        guard case .object(let o) = try JSONParser.parse(bytes) else { throw DecodingError.invalid("not an object") }
        func text(_ k: String) throws -> String {
            guard let s = o[k]?.stringValue else { throw DecodingError.invalid("missing \(k)") }
            return s
        }
        guard let channel = Channel(rawValue: try text("channel")) else { throw DecodingError.invalid("unknown channel") }
        guard let kind = CategoryKind(rawValue: try text("priority")) else { throw DecodingError.invalid("unknown priority") }
        guard case .object(let content)? = o["content"] else { throw DecodingError.invalid("missing content") }
        var parts: [(MessagePart, String)] = []
        for member in content.members {
            guard let part = MessagePart(rawValue: member.key), let value = member.value.stringValue else { throw DecodingError.invalid("bad content part \(member.key)") }
            parts.append((part, value))
        }
        return OutboxNotification(id: try text("id"), userID: try text("user_id"), trigger: try text("trigger"), campaign: o["campaign"]?.stringValue,
                            category: try text("category"), categoryKind: kind, channel: channel, locale: try text("locale"), to: try text("to"),
                            experiment: o["experiment"]?.stringValue, variant: o["variant"]?.stringValue,
                            // Records written before the field existed (deferred in state, say) read as unversioned.
                            configVersion: o["config_version"]?.stringValue ?? "unversioned",
                            createdMillis: try RFC3339.parse(try text("created")), content: RenderedMessage(parts: parts))
    }
}

/// The outcome of one delivery attempt, or why there was none: a record of
/// `orbit.notification-deliveries` (key: the user id).
public struct DeliveryRecord: Sendable, Equatable {
    public enum Status: String, CaseIterable, Sendable {
        /// The channel accepted the message.
        case sent
        /// The attempt failed in a way that may pass later (5xx, timeout, refused connection, open breaker); retried.
        case retrying
        /// Dead: a permanent failure (4xx) or retries exhausted.
        case failed
        /// Not sent, with a ``SuppressionReason``; `quiet_hours_deferred` is sent later under the same id.
        case suppressed
    }

    public var notificationID: String
    public var userID: String
    public var trigger: String
    public var channel: Channel
    public var status: Status
    public var reason: String?
    public var attempt: Int
    public var timeMillis: Int64
    public var detail: String?

    public init(notificationID: String, userID: String, trigger: String, channel: Channel, status: Status, reason: String? = nil, attempt: Int = 0, timeMillis: Int64, detail: String? = nil) {
        self.notificationID = notificationID
        self.userID = userID
        self.trigger = trigger
        self.channel = channel
        self.status = status
        self.reason = reason
        self.attempt = attempt
        self.timeMillis = timeMillis
        self.detail = detail
    }

    public func encoded() -> [UInt8] {
        Self.encoded(notificationID: notificationID, userID: userID, trigger: trigger, channel: channel, status: status, reason: reason,
                     attempt: attempt, timeMillis: timeMillis, detail: detail)
    }

    /// The record's bytes from its fields, without making the record first (the delivery stage
    /// writes one per attempt from the notification's own strings).
    public static func encoded(notificationID: String, userID: String, trigger: String, channel: Channel, status: Status, reason: String?,
                               attempt: Int, timeMillis: Int64, detail: String?) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("notification_id"); w.string(notificationID)
        w.field("user_id"); w.string(userID)
        w.field("trigger"); w.string(trigger)
        w.field("channel"); w.string(channel.rawValue)
        w.field("status"); w.string(status.rawValue)
        w.field("reason"); if let reason { w.string(reason) } else { w.null() }
        w.field("attempt"); w.int(attempt)
        w.field("time"); w.timestamp(millis: timeMillis)
        w.field("detail"); if let detail { w.string(detail) } else { w.null() }
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) -> DeliveryRecord? {
        guard case .object(let o)? = try? JSONParser.parse(bytes), let id = o["notification_id"]?.stringValue, let user = o["user_id"]?.stringValue,
              let trigger = o["trigger"]?.stringValue, let channel = o["channel"]?.stringValue.flatMap(Channel.init(rawValue:)),
              let status = o["status"]?.stringValue.flatMap(Status.init(rawValue:)), let time = o["time"]?.stringValue.flatMap({ try? RFC3339.parse($0) }) else { return nil }
        return DeliveryRecord(notificationID: id, userID: user, trigger: trigger, channel: channel, status: status, reason: o["reason"]?.stringValue,
                              attempt: Int(o["attempt"]?.numberValue?.int64Value ?? 0), timeMillis: time, detail: o["detail"]?.stringValue)
    }
}
