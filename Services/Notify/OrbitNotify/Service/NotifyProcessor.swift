import Foundation
import Logging
import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// How many operators' segments a recipient's state keeps (the scorer defines at most 500).
enum SegmentLimits { static let perRecipient = 500 }

/// The kinds of input merged into the service's one ordered stream per user.
public enum NotifyInput: String, InputKind {
    case event
    case segmentChange = "segment_change"
    case memberEvent = "member_event"
    case ledgerEntry = "ledger_entry"
    case profile, account, contacts, preferences, tags
    /// A campaign command: copied to every partition (each evaluates its own users).
    case campaign
    /// A data-protection request (`orbit.privacy-requests`).
    case privacyRequest = "privacy_request"
    /// A journey definition (`orbit.journeys`): copied to every partition, like campaigns.
    case journey

    /// Compacted tables joined per user (a null value is a tombstone).
    static let tables: Set<NotifyInput> = [.profile, .account, .contacts, .preferences, .tags]
}

/// Notification: triggers and campaigns in, rendered messages on the outbox out, with every
/// suppression recorded with its reason.
///
/// Reads `orbit-notify.inputs`, where the runtime's ``InputRouter`` has merged each user's
/// events, segment changes, member events, ledger entries, profiles, accounts, contacts,
/// preferences and tags in one order; campaign commands reach every partition, and so do the
/// runtime's clock ticks (``ClockTick``). Everything that changes state or writes outputs is such
/// an input, clock ticks included, so a replay after a crash repeats the same notifications with
/// the same ids and bytes.
public final class NotifyProcessor: RecordProcessor {
    let settings: NotifySettings
    let policy: NotifyPolicy
    public let recipients: KeyedStore<Recipient>
    public let campaigns: KeyedStore<CampaignProgress>
    /// Each partition's journeys (one key, ``journeysKey``): versions in use, status, funnels.
    public let journeyTables: KeyedStore<JourneyTable>
    static let journeysKey = "journeys"
    let deadLetters: DeadLetters

    private let triggered = Counter(label: "orbit_notify_triggers_total")
    private let replays = Counter(label: "orbit_notify_replays_skipped_total")
    private let deliveryCounters = DeliveryCounters()

    /// - Parameter stores: makes the recipient and campaign stores (in the backend `state.store` names).
    /// - Parameter partitionCount: the merged stream's partition count, where queries place keys (0: no queries).
    public init(settings: NotifySettings, deadLetters: DeadLetters, stores: StoreMaker = .memory, partitionCount: Int = 0) {
        self.settings = settings
        self.partitionCount = partitionCount
        self.policy = settings.policy
        // Decoded per batch, as the scorer's users are: keeping every recipient decoded held a
        // table slot of about 500 bytes per user beside the encoded state, and growing that table
        // for new users (copies into fresh pages) cost more than decoding a returning user once
        // per batch.
        self.recipients = stores.store(settings.recipientsChangelogTopic, cachePolicy: .perBatch)
        self.campaigns = stores.store(settings.campaignsChangelogTopic, cachePolicy: .retained)
        self.journeyTables = stores.store(settings.journeysChangelogTopic, cachePolicy: .retained)
        self.deadLetters = deadLetters
    }

    let partitionCount: Int

    /// `GET /v1/users/{id}/inbox`: the user's in-app messages (their ids, newest first: each is the
    /// record `<user>/<id>` of the inbox topic), messages waiting for quiet hours to end, and when
    /// each category last reached the user.
    public var queries: [KeyQuery] {
        guard partitionCount > 0 else { return [] }
        let reader = recipients.reader(partitionCount: partitionCount)
        return [KeyQuery(prefix: "/v1/users/", suffix: "/inbox", noun: "inbox", topic: settings.inputsTopic, partitionCount: partitionCount) { key in
            reader.answer(key) { r in
                var w = JSONWriter()
                w.beginObject()
                w.field("schema_version"); w.int(1)
                w.field("user_id"); w.string(key)
                w.field("inbox"); w.beginArray(); for id in r.inbox.reversed() { w.string(id) }; w.endArray()
                w.field("deferred"); w.beginArray()
                for d in r.deferred { w.beginObject(); w.field("notification_id"); w.string(d.notificationID); w.field("due"); w.timestamp(millis: d.dueMillis); w.endObject() }
                w.endArray()
                w.field("last_sent"); w.beginObject()
                var last: [String: Int64] = [:]
                for mark in r.sent { last[mark.category] = max(last[mark.category] ?? .min, mark.atMillis) }
                for (category, at) in last.sorted(by: { $0.key < $1.key }) { w.key(category); w.timestamp(millis: at) }
                w.endObject()
                w.endObject()
                return w.bytes + [10]
            }
        }]
    }

    // The stores' partitions are restored and dropped, and the clock ticks written, by the runtime.

    // MARK: Records

    public func process(_ record: ConsumerRecord, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        guard let kind = InputRouter<NotifyInput>.kind(of: record), let keyBytes = record.key, !keyBytes.isEmpty else {
            outputs.append(deadLetters.record(for: record, record.key == nil ? .missingKey : .undecodableRecord,
                                              "a notify input needs a key and a known \(InputRouter<NotifyInput>.kindHeader) header"))
            return
        }
        let key = String(decoding: keyBytes, as: UTF8.self)
        // Times come from the records (set when they were first produced), so a replay decides the same way.
        let time = record.timestampMillis ?? context.nowMillis
        var emit = Emitter(settings: settings, partition: record.partition, deliveryCounters: deliveryCounters)
        switch kind {
        case .campaign:
            try handleCampaignCommand(record, time: time, emit: &emit, outputs: &outputs)
        case .journey:
            try handleJourneyRecord(record, key: key, time: time, emit: &emit, outputs: &outputs)
        case .privacyRequest:  // the runtime erases (erasesFrom): one that gets here is not read
            return outputs.append(deadLetters.privacyRequestNotErased(record))
        default:
            // A tombstone of a joined table clears what is held; for a user not held (erased, say)
            // it creates nothing. (Other inputs without a value are still dead letters.)
            if record.value == nil, NotifyInput.tables.contains(kind), try recipients.get(record.partition, key) == nil { break }
            var journeys = try journeyEngine(record.partition)
            try recipients.update(record.partition, key, initial: Recipient.init) { r in
                apply(record, kind: kind, userID: key, time: time, to: &r, journeys: &journeys, emit: &emit)
            }
            try keep(journeys, partition: record.partition)
        }
        try finish(emit, partition: record.partition, outputs: &outputs)
    }

    /// What one input emitted, into `outputs`: its records, its dead letters, and its campaign
    /// counters added to the campaigns of its partition.
    private func finish(_ emit: Emitter, partition: Int32, outputs: inout [ProducerRecord]) throws {
        outputs.append(contentsOf: emit.records)
        for d in emit.deadLetters { outputs.append(deadLetters.record(for: d.record, .undecodableRecord, d.reason)) }
        // Campaign counters live with the campaign in this partition (the user's partition).
        for (campaign, change) in emit.progress.sorted(by: { $0.key < $1.key }) {
            guard let known = try campaigns.get(partition, campaign) else { continue }
            try campaigns.update(partition, campaign, initial: { known }) { p in
                p.sent += change.sent; p.matched += change.matched; p.converted += change.converted
                for (reason, n) in change.suppressed { p.suppressed[reason, default: 0] += n }
                return true
            }
        }
    }

    /// One input applied to its user's state; false when it changed nothing.
    private func apply(_ record: ConsumerRecord, kind: NotifyInput, userID: String, time: Int64, to r: inout Recipient, journeys: inout JourneyEngine?,
                       emit: inout Emitter) -> Bool {
        let value = record.value
        switch kind {
        case .profile:
            let object = value.flatMap { try? JSONParser.parse($0).objectValue }
            r.profile = object.map(ProfileInput.facts) ?? Recipient.ProfileFacts()
            // A buyer's expected next purchase, only while a journey is entered by it.
            if journeys?.usesRepurchaseDates == true {
                r.repurchase = object.flatMap { ProfileInput.repurchase($0, previous: r.repurchase) }
            }
            return true
        case .account:
            r.account = value.flatMap { try? JSONParser.parse($0).objectValue }.map(ProfileInput.account) ?? Recipient.AccountFacts()
            return true
        case .contacts:
            // A null value (tombstone) erases the user's contact data.
            guard let value else { r.contacts = Recipient.Contacts(); return true }
            switch ContactsInput.contacts(value) {
            case .success(let contacts): r.contacts = contacts; return true
            case .failure(let reason): emit.deadLetter(record, reason.description); return false
            }
        case .preferences:
            guard let value else { r.preferences = Recipient.Preferences(); return true }
            switch ContactsInput.preferences(value) {
            case .success(let preferences):
                r.preferences = preferences
                if journeys != nil, !r.journeys.isEmpty {
                    var effects: [JourneyEffect] = []
                    journeys!.onPreferences(userID: userID, time: time, &r, effects: &effects)
                    perform(effects, userID: userID, time: time, to: &r, journeys: &journeys!, emit: &emit)
                }
                return true
            case .failure(let reason): emit.deadLetter(record, reason.description); return false
            }
        case .tags:
            guard let value else { r.tags = []; return true }
            guard case .object(let o)? = try? JSONParser.parse(value), let list = o["tags"]?.arrayValue else {
                emit.deadLetter(record, "a tags record is {\"tags\": [\"...\"]}")
                return false
            }
            r.tags = Array(Set(list.compactMap(\.stringValue).filter { !$0.isEmpty && $0.count <= 64 })).sorted().prefix(100).map { $0 }
            return true
        case .event:
            guard let value, case .object(let object)? = try? JSONParser.parse(value), let event = try? UserEvent.decode(object), event.userID == userID else {
                emit.deadLetter(record, "not a valid-event record of user \(userID)")
                return false
            }
            guard !r.replay.alreadyApplied(offset: record.offset, id: "event:\(event.id)") else { replays.increment(); return false }
            let firstPurchase = event.type == .purchase && r.purchases == 0
            if event.type == .purchase { r.purchases += 1 }
            convert(&r, userID: userID, eventType: event.type.name, at: event.timeMillis, emit: &emit)
            let derived = DerivedFacts(type: event.type.name, firstPurchase: firstPurchase)
            fireTriggers(.event, record: object, bytes: value, sourceID: event.id, derived: derived, userID: userID, time: time, to: &r, emit: &emit)
            journeyInput(.event, object, derived: derived, userID: userID, time: event.timeMillis, to: &r, journeys: &journeys, emit: &emit)
            return true
        case .segmentChange, .memberEvent, .ledgerEntry:
            guard let value, case .object(let object)? = try? JSONParser.parse(value),
                  let id = object["id"]?.stringValue ?? object["key"]?.stringValue else {
                emit.deadLetter(record, "not a \(kind.rawValue) record (an object with an id)")
                return false
            }
            guard !r.replay.alreadyApplied(offset: record.offset, id: "\(kind.rawValue):\(id)") else { replays.increment(); return false }
            // A closed balance is the trace of an erasure, never a reason to write to the user.
            if kind == .ledgerEntry, object["kind"]?.stringValue == "forfeit" { return false }
            // Operators' segments are kept for campaign audiences (`custom_segments`).
            if kind == .segmentChange, let dimension = object["dimension"]?.stringValue, dimension.hasPrefix("custom:") {
                let id = String(dimension.dropFirst("custom:".count))
                var segments = Set(r.customSegments)
                if object["to"]?.stringValue == "true" { segments.insert(id) } else { segments.remove(id) }
                r.customSegments = segments.sorted().prefix(SegmentLimits.perRecipient).map { $0 }
            }
            let source: TriggerSource = kind == .segmentChange ? .segmentChange : kind == .memberEvent ? .memberEvent : .ledgerEntry
            fireTriggers(source, record: object, bytes: value, sourceID: id, derived: .none, userID: userID, time: time, to: &r, emit: &emit)
            journeyInput(source, object, derived: .none, userID: userID, time: time, to: &r, journeys: &journeys, emit: &emit)
            return true
        case .campaign, .privacyRequest, .journey:
            return false
        }
    }

    // MARK: Erasure

    /// Notify's part of erasing a user (the runtime deletes the recipient state: contacts,
    /// preferences, tags, profile and account facts, what was sent, deferred messages, digests,
    /// enrolments; and writes the receipt): tombstones for the compacted topics that hold them
    /// (contacts, preferences, tags, every in-app message in the inbox).
    public func erase(_ key: String, partition: Int32, erasure: inout Erasure, outputs: inout [ProducerRecord]) throws {
        if let r = try recipients.get(partition, key) {
            for id in r.inbox { erasure.tombstone(settings.inboxTopic, key: "\(key)/\(id)", into: &outputs) }
            erasure.erased("recipient state: contacts, preferences, tags, profile and account facts, sent and fired marks, \(r.deferred.count) deferred messages, \(r.digests.count) digests, experiment enrolments, \(r.journeys.count) journey enrolments")
        } else {
            erasure.note("no recipient state was held")
        }
        for topic in [settings.contactsTopic, settings.preferencesTopic, settings.tagsTopic] { erasure.tombstone(topic, key: key, into: &outputs) }
        erasure.note("a delivery already handed to the delivery stage may still be attempted; its retry schedule expires with the attempt")
    }

    // MARK: Triggers

    private func fireTriggers(_ source: TriggerSource, record: JSONObject, bytes: [UInt8], sourceID: String, derived: DerivedFacts,
                              userID: String, time: Int64, to r: inout Recipient, emit: inout Emitter) {
        r.prune(now: time, keepMillis: policy.stateRetentionMillis)
        for trigger in policy.triggers(for: source) where trigger.matches(record, derived: derived) {
            triggered.increment()
            if trigger.digestWindowMillis > 0 {
                collectDigest(trigger, record: record, bytes: bytes, sourceID: sourceID, userID: userID, time: time, to: &r, emit: &emit)
                continue
            }
            let message = Message(trigger: trigger, idBase: "\(trigger.id):\(sourceID)", event: record, digest: nil)
            deliver(message, userID: userID, time: time, to: &r, emit: &emit)
        }
    }

    private func collectDigest(_ trigger: Trigger, record: JSONObject, bytes: [UInt8], sourceID: String, userID: String, time: Int64, to r: inout Recipient, emit: inout Emitter) {
        let amount = trigger.digestSumField.flatMap { FieldCondition.text(at: $0.split(separator: ".").map(String.init)[...], in: record) }.flatMap { Int64($0) } ?? 0
        if let index = r.digests.firstIndex(where: { $0.trigger == trigger.id }) {
            r.digests[index].count += 1
            r.digests[index].sum += amount
            r.digests[index].lastRecord = bytes
        } else {
            r.digests.append(.init(trigger: trigger.id, windowEndMillis: time + trigger.digestWindowMillis, count: 1, sum: amount, firstID: sourceID, lastRecord: bytes))
        }
        let pending = r.digests.first { $0.trigger == trigger.id }!
        for channel in trigger.channels {
            emit.delivery(.init(notificationID: "\(trigger.id):digest:\(pending.firstID):\(channel.rawValue)", userID: userID, trigger: trigger.id, channel: channel,
                                status: .suppressed, reason: SuppressionReason.digested.rawValue, timeMillis: time, detail: "event \(sourceID) joins the digest"))
        }
    }

    /// What to send: a trigger's firing, a digest, or a campaign's message.
    struct Message {
        var trigger: Trigger?
        var campaign: Campaign?
        var journey: JourneyMessage?
        var idBase: String
        var event: JSONObject
        var digest: (count: Int, sum: Int64)?

        var name: String { journey.map { "journey:\($0.journey)" } ?? trigger?.id ?? "campaign:\(campaign!.id)" }
        var template: String { journey?.template ?? trigger?.id ?? campaign!.template }
        var categoryName: String { journey?.category ?? trigger?.category ?? campaign!.category }
        var channels: [Channel] { journey?.channels ?? trigger?.channels ?? campaign!.channels }
        var experiment: Experiment? { trigger?.experiment ?? campaign?.experiment }
        /// The experiment the message counts for: a journey's own (`journey:<id>`, which it
        /// enrols and converts itself), a trigger's or a campaign's.
        var experimentID: String? { journey.map { "journey:\($0.journey)" } ?? trigger?.experiment?.id ?? campaign?.experimentID }
        var conversion: (event: String, window: Int64)? {
            if let e = trigger?.experiment { return (e.conversionEvent, e.conversionWindowMillis) }
            if let c = campaign { return (c.conversionEvent, c.conversionWindowMillis) }
            return nil
        }
    }

    /// The policies, in order: experiment holdout, deduplication, caps, quiet hours, then per
    /// channel consent and contact; what passes is rendered onto the outbox (or deferred).
    @discardableResult
    func deliver(_ message: Message, userID: String, time: Int64, to r: inout Recipient, emit: inout Emitter) -> Bool {
        func suppressAll(_ reason: SuppressionReason, _ detail: String? = nil) -> Bool {
            for channel in message.channels {
                emit.delivery(.init(notificationID: "\(message.idBase):\(channel.rawValue)", userID: userID, trigger: message.name, channel: channel,
                                    status: .suppressed, reason: reason.rawValue, timeMillis: time, detail: detail))
            }
            if let campaign = message.campaign { emit.count(campaign.id, suppressed: reason.rawValue) }
            return false
        }
        guard let category = policy.delivery.categories[message.categoryName] else { return suppressAll(.optedOut, "unknown category") }
        // Experiment: the group is a hash of user and experiment; the holdout gets nothing. A
        // journey assigned its variant when the user entered, and counts its own conversions.
        var variant: String?
        if let journey = message.journey {
            variant = journey.variant
        } else if let experiment = message.experiment {
            variant = experiment.assign(userID: userID)
        } else if message.campaign != nil {
            variant = "all"
        }
        if message.journey == nil, let id = message.experimentID, let variant, let conversion = message.conversion, !r.enrolments.contains(where: { $0.experiment == id }) {
            r.enrolments.append(.init(experiment: id, variant: variant, atMillis: time, conversionEvent: conversion.event, untilMillis: time + conversion.window))
            emit.outcome(experiment: id, variant: variant, userID: userID, kind: "assigned", time: time)
        }
        if variant == Experiment.holdout { return suppressAll(.holdout) }
        // Deduplication, caps and quiet hours (digests and campaigns are not deduplicated per trigger).
        let firing: DeliveryPolicy.Firing
        if let trigger = message.trigger, message.digest == nil {
            firing = policy.delivery.firing(of: trigger, for: r, at: time)
        } else {
            firing = policy.delivery.firing(category: category, recipient: r, at: time)
        }
        if case .suppressed(let reason) = firing { return suppressAll(reason) }
        if let trigger = message.trigger { r.fired.append(.init(trigger: trigger.id, atMillis: time)) }
        var counted = false
        var reached = false
        var variables = TemplateVariables(userID: userID, recipient: r, event: message.event, trigger: message.name, campaign: message.campaign?.id,
                                          variant: variant, digest: message.digest, policy: policy)
        for channel in message.channels {
            let id = "\(message.idBase):\(channel.rawValue)"
            if let reason = policy.delivery.channelSuppression(channel, category: category.name, recipient: r) {
                emit.delivery(.init(notificationID: id, userID: userID, trigger: message.name, channel: channel, status: .suppressed, reason: reason.rawValue, timeMillis: time))
                if let campaign = message.campaign { emit.count(campaign.id, suppressed: reason.rawValue) }
                continue
            }
            let locale = policy.templates.locale(for: r.contacts.locale)
            variables.notification = (id, channel.rawValue)
            guard let content = policy.templates.render(message.template, variant: variant, channel: channel, locale: locale, variables: variables) else {
                emit.delivery(.init(notificationID: id, userID: userID, trigger: message.name, channel: channel, status: .failed, reason: "no_template", timeMillis: time,
                                    detail: "no \(channel.rawValue) template \(message.template) in \(locale)"))
                continue
            }
            let notification = OutboxNotification(id: id, userID: userID, trigger: message.name, campaign: message.campaign?.id, category: category.name,
                                            categoryKind: category.kind, channel: channel, locale: locale, to: r.contacts.address(for: channel) ?? "",
                                            experiment: message.experimentID, variant: variant, configVersion: policy.configVersion,
                                            createdMillis: time, content: content)
            if !counted {
                r.sent.append(.init(category: category.name, atMillis: time))
                counted = true
            }
            if channel == .inApp { remember(inbox: id, userID: userID, in: &r, emit: &emit) }
            reached = true
            if case .deferUntil(let due) = firing {
                r.deferred.append(.init(notificationID: id, dueMillis: due, record: notification.encoded()))
                emit.delivery(.init(notificationID: id, userID: userID, trigger: message.name, channel: channel, status: .suppressed,
                                    reason: SuppressionReason.quietHoursDeferred.rawValue, timeMillis: time, detail: "until \(RFC3339.format(millis: due))"))
            } else {
                emit.notification(notification)
            }
            if let campaign = message.campaign { emit.count(campaign.id, sent: 1) }
        }
        return reached
    }

    /// Keeps the ids of the user's in-app messages (for erasure); the oldest beyond
    /// ``Recipient/inboxLimit`` leaves the inbox (a tombstone).
    private func remember(inbox id: String, userID: String, in r: inout Recipient, emit: inout Emitter) {
        guard !r.inbox.contains(id) else { return }
        r.inbox.append(id)
        while r.inbox.count > Recipient.inboxLimit {
            emit.records.append(ProducerRecord(topic: settings.inboxTopic, key: Array("\(userID)/\(r.inbox.removeFirst())".utf8), value: nil))
        }
    }

    /// Conversions: an event of the converting type within an enrolment's window.
    private func convert(_ r: inout Recipient, userID: String, eventType: String, at time: Int64, emit: inout Emitter) {
        for index in r.enrolments.indices where r.enrolments[index].convertedAtMillis == nil && r.enrolments[index].conversionEvent == eventType {
            let e = r.enrolments[index]
            guard time >= e.atMillis, time <= e.untilMillis else { continue }
            r.enrolments[index].convertedAtMillis = time
            emit.outcome(experiment: e.experiment, variant: e.variant, userID: userID, kind: "converted", time: time)
            if e.experiment.hasPrefix("campaign:") { emit.count(String(e.experiment.dropFirst("campaign:".count)), converted: 1) }
        }
    }

    // MARK: Campaigns

    private func handleCampaignCommand(_ record: ConsumerRecord, time: Int64, emit: inout Emitter, outputs: inout [ProducerRecord]) throws {
        let command: Campaign.Command
        do {
            guard let value = record.value else { throw Campaign.InvalidCommand(description: "a campaign command needs a value") }
            command = try Campaign.decodeCommand(value)
        } catch {
            outputs.append(deadLetters.record(for: record, .undecodableRecord, "\(error)"))
            return
        }
        switch command {
        case .start(let campaign):
            guard policy.delivery.categories[campaign.category] != nil,
                  campaign.channels.allSatisfy({ c in policy.templates.locales.allSatisfy { policy.templates.has(campaign.template, channel: c, locale: $0) } }) else {
                outputs.append(deadLetters.record(for: record, .undecodableRecord, "campaign \(campaign.id): unknown category or missing templates for \(campaign.template)"))
                return
            }
            try campaigns.update(record.partition, campaign.id, initial: { CampaignProgress(campaign: campaign) }) { p in
                guard !p.ran else { return false }  // a replayed or repeated start changes nothing once it ran
                p.campaign = campaign
                return true
            }
            if campaign.startMillis <= time { try run(campaign.id, partition: record.partition, at: time, emit: &emit) }
        case .cancel(let id):
            try campaigns.update(record.partition, id, initial: { CampaignProgress(campaign: Campaign(id: id, category: "", channels: [.inApp], template: "", startMillis: 0, endMillis: 0, audience: AudienceFilter())) }) { p in
                guard !p.cancelled else { return false }
                p.cancelled = true
                return true
            }
        }
    }

    /// Evaluates a due campaign against this partition's users, once.
    private func run(_ id: String, partition: Int32, at time: Int64, emit: inout Emitter) throws {
        guard let progress = try campaigns.get(partition, id), !progress.ran, !progress.cancelled, progress.campaign.startMillis <= time else { return }
        let campaign = progress.campaign
        try campaigns.update(partition, id, initial: { progress }) { p in p.ran = true; return true }
        guard time <= campaign.endMillis else {
            emit.count(id, suppressed: SuppressionReason.outsideWindow.rawValue)
            return
        }
        for key in recipients.keys(partition) {
            try recipients.update(partition, key, initial: Recipient.init) { r in
                guard !r.campaigns.contains(id), campaign.audience.matches(r, at: time) else { return false }
                r.campaigns.append(id)
                emit.count(id, matched: 1)
                deliver(Message(campaign: campaign, idBase: "campaign:\(id):\(key)", event: JSONObject(), digest: nil), userID: key, time: time, to: &r, emit: &emit)
                return true
            }
        }
    }

    // MARK: Time

    /// Due deferred messages, ended digest windows and due campaigns of one partition, when the
    /// runtime's clock tick for it is read.
    public func tick(partition: Int32, at time: Int64, context: ProcessingContext, outputs: inout [ProducerRecord]) throws {
        var emit = Emitter(settings: settings, partition: partition, deliveryCounters: deliveryCounters)
        try tick(partition: partition, at: time, emit: &emit)
        try finish(emit, partition: partition, outputs: &outputs)
    }

    private func tick(partition: Int32, at time: Int64, emit: inout Emitter) throws {
        var journeys = try journeyEngine(partition)
        for key in recipients.keys(partition) {
            try recipients.update(partition, key, initial: Recipient.init) { r in
                var changed = false
                let due = r.deferred.filter { $0.dueMillis <= time }
                if !due.isEmpty {
                    r.deferred.removeAll { $0.dueMillis <= time }
                    for d in due { emit.raw(d.record, userID: key) }
                    changed = true
                }
                let ended = r.digests.filter { $0.windowEndMillis <= time }
                if !ended.isEmpty {
                    r.digests.removeAll { $0.windowEndMillis <= time }
                    for d in ended {
                        guard let trigger = policy.trigger(named: d.trigger) else { continue }
                        let event = (try? JSONParser.parse(d.lastRecord).objectValue) ?? JSONObject()
                        deliver(Message(trigger: trigger, idBase: "\(trigger.id):digest:\(d.firstID)", event: event, digest: (d.count, d.sum)),
                                userID: key, time: time, to: &r, emit: &emit)
                    }
                    changed = true
                }
                if journeys != nil, !r.journeys.isEmpty || r.repurchase != nil {
                    var effects: [JourneyEffect] = []
                    if journeys!.onTick(userID: key, time: time, &r, effects: &effects) {
                        perform(effects, userID: key, time: time, to: &r, journeys: &journeys!, emit: &emit)
                        changed = true
                    }
                }
                return changed
            }
        }
        try keep(journeys, partition: partition)
        for id in campaigns.keys(partition) { try run(id, partition: partition, at: time, emit: &emit) }
    }

    /// A campaign's progress per campaign touched: a few records, appended without handing over.
    public func flush(context: ProcessingContext, outputs: inout [ProducerRecord], deliver: (inout [ProducerRecord]) throws -> Void) throws {
        for (partition, id) in campaigns.changedKeys {
            guard let progress = try campaigns.get(partition, id) else { continue }
            outputs.append(ProducerRecord(topic: settings.progressTopic, key: Array("\(id)/\(partition)".utf8), value: progress.encoded(partition: partition)))
        }
        try journeyProgress(outputs: &outputs)
    }
}

/// The records one input causes, collected while the state is being changed in place.
struct Emitter {
    /// The topics it writes, not the whole settings: an emitter is made per record, and copying
    /// the settings (dozens of strings and the policy) was a measured share of the stage's CPU.
    let notificationsTopic: String
    let deliveriesTopic: String
    let outcomesTopic: String
    let partition: Int32
    let deliveryCounters: DeliveryCounters
    var records: [ProducerRecord] = []
    var progress: [String: (matched: Int, sent: Int, converted: Int, suppressed: [String: Int])] = [:]
    var deadLetters: [(record: ConsumerRecord, reason: String)] = []

    init(settings: NotifySettings, partition: Int32, deliveryCounters: DeliveryCounters) {
        notificationsTopic = settings.notificationsTopic
        deliveriesTopic = settings.deliveriesTopic
        outcomesTopic = settings.outcomesTopic
        self.partition = partition
        self.deliveryCounters = deliveryCounters
    }

    mutating func notification(_ n: OutboxNotification) {
        records.append(ProducerRecord(topic: notificationsTopic, key: Array(n.userID.utf8), value: n.encoded()))
    }

    mutating func raw(_ bytes: [UInt8], userID: String) {
        records.append(ProducerRecord(topic: notificationsTopic, key: Array(userID.utf8), value: bytes))
    }

    mutating func delivery(_ d: DeliveryRecord) {
        deliveryCounters.count(channel: d.channel, status: d.status)
        records.append(ProducerRecord(topic: deliveriesTopic, key: Array(d.userID.utf8), value: d.encoded()))
    }

    mutating func outcome(experiment: String, variant: String, userID: String, kind: String, time: Int64, step: String? = nil) {
        NotifyMetrics.experiment(experiment, variant: variant, outcome: kind)
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version"); w.int(1)
        w.field("experiment"); w.string(experiment)
        w.field("variant"); w.string(variant)
        w.field("user_id"); w.string(userID)
        w.field("kind"); w.string(kind)
        if let step { w.field("step"); w.string(step) }
        w.field("time"); w.timestamp(millis: time)
        w.endObject()
        records.append(ProducerRecord(topic: outcomesTopic, key: Array(userID.utf8), value: w.bytes))
    }

    mutating func count(_ campaign: String, matched: Int = 0, sent: Int = 0, converted: Int = 0, suppressed reason: String? = nil) {
        var p = progress[campaign] ?? (0, 0, 0, [:])
        p.matched += matched; p.sent += sent; p.converted += converted
        if let reason { p.suppressed[reason, default: 0] += 1 }
        progress[campaign] = p
    }

    mutating func deadLetter(_ record: ConsumerRecord, _ reason: String) { deadLetters.append((record, reason)) }
}

/// The notification service as the runtime runs it: a router stage merging every input into
/// `orbit-notify.inputs`, the notify stage (triggers, campaigns, policies, rendering) and the
/// delivery stage (channel senders).
public enum NotifyService {
    /// - Parameter senders: the channel senders; by default made from the configuration when the
    ///   first delivery pipeline is built (never by `--check-config`), and shared by every thread.
    public static func topology(_ settings: NotifySettings, runtime: RuntimeSettings, senders: ChannelSenders? = nil) -> ServiceTopology {
        var sources = settings.sources
        sources[runtime.privacy.requestsTopic] = .privacyRequest
        let senders = MadeOnce(senders)
        var notifyStage = StageDeclaration(
            groupID: settings.groupID, inputs: [settings.inputsTopic],
            // Contacts, preferences and tags get an erased user's tombstones.
            // Journeys' funnels, and their grants as member commands.
            outputs: [settings.notificationsTopic, settings.deliveriesTopic, settings.inboxTopic, settings.outcomesTopic, settings.progressTopic,
                      settings.contactsTopic, settings.preferencesTopic, settings.tagsTopic, settings.journeyProgressTopic, settings.memberCommandsTopic],
            // The merged stream and the state changelogs are co-partitioned by user id.
            coPartitioned: [settings.inputsTopic, settings.recipientsChangelogTopic, settings.campaignsChangelogTopic, settings.journeysChangelogTopic],
            stores: [StoreDeclaration(changelogTopic: settings.recipientsChangelogTopic, partitionedLike: settings.inputsTopic, keyedByUser: true),
                     StoreDeclaration(changelogTopic: settings.campaignsChangelogTopic, partitionedLike: settings.inputsTopic, keyedByUser: false),
                     StoreDeclaration(changelogTopic: settings.journeysChangelogTopic, partitionedLike: settings.inputsTopic, keyedByUser: false)],
            punctuation: settings.processor.evaluationInterval, ticksInto: settings.inputsTopic, erasesFrom: settings.inputsTopic, clock: settings.processor.clock
        ) { context in
            NotifyProcessor(settings: settings, deadLetters: context.deadLetters, stores: context.stores, partitionCount: context.partitionCount)
        }
        // `clock: stream`: the records read move the clock its ticks carry.
        notifyStage.streamTime = settings.processor.streamTime
        return ServiceTopology(deadLettersTopic: settings.deadLettersTopic, stages: [
            .router(groupID: settings.groupID + "-router", sources: sources, output: settings.inputsTopic, broadcast: [.campaign, .journey]),
            notifyStage,
            StageDeclaration(
                name: "-delivery", groupID: settings.delivery.groupID, inputs: [settings.notificationsTopic],
                outputs: [settings.deliveriesTopic, settings.inboxTopic],
                // Partition N of the retry changelog is the memory of partition N of the outbox.
                coPartitioned: [settings.notificationsTopic, settings.retriesChangelogTopic],
                stores: [StoreDeclaration(changelogTopic: settings.retriesChangelogTopic, partitionedLike: settings.notificationsTopic, keyedByUser: false)],
                // Retries and circuit breakers are about the world outside: the wall clock (or fixed_now).
                punctuation: settings.delivery.retryInterval, clock: settings.processor.wallClock
            ) { context in
                DeliveryProcessor(settings: settings, senders: try senders.get { try ChannelSenders(settings: settings.delivery, logger: context.logger) },
                                  deadLetters: context.deadLetters, stores: context.stores)
            },
        ])
    }
}
