import Metrics
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// A journey step's message: what ``NotifyProcessor/deliver(_:userID:time:to:emit:)`` sends
/// for it (the variant was assigned when the user entered).
struct JourneyMessage {
    var journey: String
    var step: String
    var template: String
    var channels: [Channel]
    var category: String
    var variant: String
}

/// Journeys in orbit-notify: definitions arrive as inputs (the router copies each `orbit.journeys`
/// record to every partition), users move on their own inputs and on the clock's ticks, and the
/// effects go through the same policies and outbox as every other message.
extension NotifyProcessor {
    /// The partition's journeys engine, or nil when the partition has no journeys (the common
    /// case costs one lookup per input).
    func journeyEngine(_ partition: Int32) throws -> JourneyEngine? {
        guard let table = try journeyTables.get(partition, Self.journeysKey), !table.books.isEmpty else { return nil }
        return JourneyEngine(table: table, delivery: policy.delivery)
    }

    /// Keeps what the engine counted (its funnels) in the partition's journeys.
    func keep(_ engine: JourneyEngine?, partition: Int32) throws {
        guard let engine, engine.changed else { return }
        journeyTables.put(partition, Self.journeysKey, engine.table)
    }

    /// One input of a user through the journeys (exits, conversions, awaited events, entries).
    func journeyInput(_ source: TriggerSource, _ record: JSONObject, derived: DerivedFacts, userID: String, time: Int64,
                      to r: inout Recipient, journeys: inout JourneyEngine?, emit: inout Emitter) {
        guard journeys != nil else { return }
        var effects: [JourneyEffect] = []
        journeys!.onRecord(source, record, derived: derived, userID: userID, time: time, &r, effects: &effects)
        perform(effects, userID: userID, time: time, to: &r, journeys: &journeys!, emit: &emit)
    }

    /// Carries out what the journeys asked, in order.
    func perform(_ effects: [JourneyEffect], userID: String, time: Int64, to r: inout Recipient, journeys: inout JourneyEngine, emit: inout Emitter) {
        for effect in effects {
            switch effect {
            case .entered(let journey, let variant):
                emit.outcome(experiment: "journey:\(journey)", variant: variant, userID: userID, kind: "assigned", time: time)
            case .send(let journey, let step, let template, let channels, let category, let messageID, let variant):
                let message = Message(journey: JourneyMessage(journey: journey, step: step, template: template, channels: channels, category: category, variant: variant),
                                      idBase: messageID, event: JSONObject(), digest: nil)
                journeys.countSend(journey, step: step, sent: deliver(message, userID: userID, time: time, to: &r, emit: &emit))
            case .grant(_, _, let requestID, let points, let reason):
                var w = JSONWriter()
                w.beginObject()
                w.field("request_id"); w.string(requestID)
                w.field("type"); w.string("adjust")
                w.field("user_id"); w.string(userID)
                w.field("points"); w.int(points)
                w.field("reason"); w.string(reason)
                w.field("operator"); w.string("orbit-notify")
                w.endObject()
                emit.records.append(ProducerRecord(topic: settings.memberCommandsTopic, key: Array(userID.utf8), value: w.bytes))
            case .converted(let journey, let step, let variant):
                emit.outcome(experiment: "journey:\(journey)", variant: variant, userID: userID, kind: "converted", time: time, step: step)
            case .ended(let journey, _, _, let idBase):
                // Its messages still waiting for quiet hours to end are not sent: the user left.
                for d in r.deferred where d.notificationID.hasPrefix(idBase) {
                    emit.delivery(.init(notificationID: d.notificationID, userID: userID, trigger: "journey:\(journey)", channel: Self.channel(ofID: d.notificationID),
                                        status: .suppressed, reason: SuppressionReason.journeyEnded.rawValue, timeMillis: time))
                }
                r.deferred.removeAll { $0.notificationID.hasPrefix(idBase) }
            }
        }
    }

    /// A message id ends with its channel (`...:<channel>`).
    static func channel(ofID id: String) -> Channel {
        id.split(separator: ":").last.flatMap { Channel(rawValue: String($0)) } ?? .inApp
    }

    /// A record of `orbit.journeys` in this partition: kept in the partition's journeys (a new
    /// version beside the older ones), then applied to the partition's users where it changes
    /// them at once: a retired journey ends every enrolment, a migration moves them, an audience
    /// entry enrols the audience. A record that cannot be used is dead-lettered (from partition
    /// 0's copy only: every partition gets one) and the journey's last usable version stays.
    func handleJourneyRecord(_ record: ConsumerRecord, key: String, time: Int64, emit: inout Emitter, outputs: inout [ProducerRecord]) throws {
        let journeyRecord: JourneyRecord
        do throws(ConfigError) {
            guard let value = record.value else {
                throw ConfigError(file: "\(settings.journeysTopic)/\(key)", line: nil, field: "(record)", message: "a tombstone does not retire a journey: use orbit journeys retire")
            }
            journeyRecord = try JourneyRecord.decode(key: key, value, policy: policy, topic: settings.journeysTopic)
        } catch {
            if record.partition == 0 {
                outputs.append(deadLetters.record(for: record, .invalidValue, field: error.field, "journey \(key) is not used (its last usable version stays): \(error.message)"))
            }
            return
        }
        var table = try journeyTables.get(record.partition, Self.journeysKey) ?? JourneyTable()
        let before = table.apply(journeyRecord)
        guard let book = table.books[key], book != before else { return }
        journeyTables.put(record.partition, Self.journeysKey, table)
        let current = book.current
        let retired = book.status == .retired && before?.status != .retired
        let migrated = book.migration != nil && before?.current.version != current.version
        var enrolAudience = false
        if case .audience = current.entry, book.status == .active, book.audienceVersion < current.version { enrolAudience = true }
        guard retired || migrated || enrolAudience else { return }
        var engine = JourneyEngine(table: table, delivery: policy.delivery)
        for user in recipients.keys(record.partition) {
            try recipients.update(record.partition, user, initial: Recipient.init) { r in
                var effects: [JourneyEffect] = []
                let was = r.journeys
                if retired || migrated { engine.reconcile(key, userID: user, time: time, &r, effects: &effects) }
                if enrolAudience { engine.enterAudience(key, userID: user, time: time, &r, effects: &effects) }
                guard !effects.isEmpty || r.journeys != was else { return false }
                perform(effects, userID: user, time: time, to: &r, journeys: &engine, emit: &emit)
                return true
            }
        }
        if enrolAudience { engine.table.books[key]?.audienceVersion = current.version }
        journeyTables.put(record.partition, Self.journeysKey, engine.table)
    }

    /// `orbit.journey-progress`: every journey of each partition whose journeys changed.
    func journeyProgress(outputs: inout [ProducerRecord]) throws {
        for (partition, key) in journeyTables.changedKeys where key == Self.journeysKey {
            guard let table = try journeyTables.get(partition, key) else { continue }
            for (id, book) in table.books.sorted(by: { $0.key < $1.key }) {
                let progress = JourneyProgress(journey: id, partition: Int(partition), version: book.current.version, status: book.status,
                                               stepOrder: book.current.steps.map(\.id), funnel: book.funnel)
                outputs.append(ProducerRecord(topic: settings.journeyProgressTopic, key: Array("\(id)/\(partition)".utf8), value: progress.encoded()))
            }
        }
    }
}
