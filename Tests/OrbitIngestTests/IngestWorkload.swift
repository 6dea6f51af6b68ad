import Foundation
import OrbitContract
import OrbitKafka

/// Input for the ingestion integration tests: valid events with a per-user sequence number (kept
/// in `properties.seq`, which ingestion passes through), re-sent duplicates, and many kinds of bad
/// input, each with the rejection code it must get.
struct IngestWorkload {
    struct Bad {
        let code: RejectionCode
        let key: [UInt8]?
        let value: [UInt8]?
    }

    var records: [ProducerRecord] = []
    var validIDs: [String] = []
    var sequenceOfID: [String: (user: String, seq: Int)] = [:]
    var expectedDeadLetters: [RejectionCode: Int] = [:]
    var badKinds = 0
    var duplicatesSent = 0

    static let topic = OrbitTopics.userEvents

    static func event(id: String, user: String, type: String = "login", time: String = "2026-06-01T10:00:00Z", properties: String = "{}") -> String {
        #"{"id":"\#(id)","user_id":"\#(user)","type":"\#(type)","time":"\#(time)","properties":\#(properties)}"#
    }

    /// `valid` valid events over `users` users, `duplicates` re-sends, and every bad kind `badRepeats` times.
    static func make(valid: Int, users: Int, duplicates: Int, badRepeats: Int, idPrefix: String = "e") -> IngestWorkload {
        var workload = IngestWorkload()
        var seqByUser: [String: Int] = [:]
        var sent: [ProducerRecord] = []
        let types = ["login", "check_in", "purchase", "post", "like", "signup"]
        for i in 0..<valid {
            let user = "u\(i % users)"
            let seq = seqByUser[user, default: 0]
            seqByUser[user] = seq + 1
            let id = "\(idPrefix)-\(i)"
            let type = types[i % types.count]
            let properties = type == "purchase"
                ? #"{"seq":\#(seq),"order_id":"o-\#(i)","amount":"\#(i % 500).\#(String(format: "%02d", i % 100))","currency":"USD"}"#
                : #"{"seq":\#(seq)}"#
            // Every 97th event says its time with microseconds and an offset (a crash once hid there).
            let time = i % 97 == 0 ? "2026-06-01T12:00:00.123456+02:00" : "2026-06-01T10:00:00Z"
            let record = ProducerRecord(topic: topic, key: user, value: Array(event(id: id, user: user, type: type, time: time, properties: properties).utf8))
            workload.records.append(record)
            workload.validIDs.append(id)
            workload.sequenceOfID[id] = (user, seq)
            sent.append(record)
            if duplicates > 0, i % max(1, valid / duplicates) == max(1, valid / duplicates) - 1, workload.duplicatesSent < duplicates {
                workload.records.append(sent[sent.count / 2])  // an exact re-send of an earlier event
                workload.duplicatesSent += 1
            }
        }
        let kinds = badInputs()
        workload.badKinds = kinds.count
        for r in 0..<badRepeats {
            for (index, bad) in kinds.enumerated() {
                let position = min(workload.records.count, (index * 977 + r * 7919) % (workload.records.count + 1))
                workload.records.insert(ProducerRecord(topic: topic, key: bad.key, value: bad.value), at: position)
                workload.expectedDeadLetters[bad.code, default: 0] += 1
            }
        }
        return workload
    }

    /// Forty kinds of bad input producers really send.
    static func badInputs() -> [Bad] {
        func bad(_ code: RejectionCode, _ text: String, key: String? = "u-bad") -> Bad {
            Bad(code: code, key: key.map { Array($0.utf8) }, value: Array(text.utf8))
        }
        let t = "2026-06-01T10:00:00Z"
        var deep = "{}"
        for _ in 0..<40 { deep = #"{"a":\#(deep)}"# }
        return [
            Bad(code: .emptyPayload, key: Array("u-bad".utf8), value: []),
            Bad(code: .emptyPayload, key: Array("u-bad".utf8), value: nil),
            bad(.payloadTooLarge, event(id: "big", user: "u1", properties: #"{"blob":"\#(String(repeating: "x", count: 70_000))"}"#)),
            Bad(code: .invalidEncoding, key: nil, value: [0xFF, 0xFE, 0x7B, 0x7D]),
            Bad(code: .invalidEncoding, key: Array("u-bad".utf8), value: Array(#"{"id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)),
            bad(.malformedJSON, #"{"id":"x","user_id":"u1""#),
            bad(.malformedJSON, #"{"id":"x"} trailing"#),
            bad(.malformedJSON, "{'id':'x'}"),
            bad(.malformedJSON, #"{"id":"\ud800","user_id":"u1"}"#),
            bad(.malformedJSON, "{\"id\":\"a\nb\"}"),
            bad(.duplicateKey, #"{"id":"a","id":"b","user_id":"u1","type":"login","time":"\#(t)"}"#),
            bad(.nestingTooDeep, event(id: "deep", user: "u1", properties: deep)),
            bad(.notAnObject, "[1,2,3]"),
            bad(.notAnObject, #""just a string""#),
            bad(.notAnObject, "null"),
            bad(.missingField, #"{"user_id":"u1","type":"login","time":"\#(t)"}"#),
            bad(.missingField, #"{"id":"x","user_id":null,"type":"login","time":"\#(t)"}"#),
            bad(.missingField, #"{"id":"x","user_id":"u1","time":"\#(t)"}"#),
            bad(.missingField, #"{"id":"x","user_id":"u1","type":"login"}"#),
            bad(.unknownField, #"{"id":"x","userId":"u1","user_id":"u1","type":"login","time":"\#(t)"}"#),
            bad(.wrongType, #"{"id":42,"user_id":"u1","type":"login","time":"\#(t)"}"#),
            bad(.wrongType, #"{"id":"x","user_id":"u1","type":"login","time":"\#(t)","properties":[1]}"#),
            bad(.wrongType, #"{"id":"x","user_id":"u1","type":"login","time":"\#(t)","schema_version":"1"}"#),
            bad(.invalidValue, event(id: "", user: "u1")),
            bad(.invalidValue, event(id: String(repeating: "i", count: 129), user: "u1")),
            bad(.invalidValue, event(id: "x", user: #"u\u0000"#)),
            bad(.unsupportedSchemaVersion, #"{"id":"x","user_id":"u1","type":"login","time":"\#(t)","schema_version":2}"#),
            bad(.unknownEventType, event(id: "x", user: "u1", type: "teleport")),
            bad(.invalidTime, event(id: "x", user: "u1", time: "2026-06-01T10:00:00")),
            bad(.invalidTime, event(id: "x", user: "u1", time: "2026-02-30T10:00:00Z")),
            bad(.timeInFuture, event(id: "x", user: "u1", time: RFC3339.format(millis: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000))),
            bad(.invalidAmount, event(id: "x", user: "u1", type: "purchase", properties: #"{"order_id":"o","amount":-5,"currency":"USD"}"#)),
            bad(.invalidAmount, event(id: "x", user: "u1", type: "purchase", properties: #"{"order_id":"o","amount":"1.999","currency":"USD"}"#)),
            bad(.invalidAmount, event(id: "x", user: "u1", type: "refund", properties: #"{"order_id":"o","amount":"12abc","currency":"USD"}"#)),
            bad(.unknownCurrency, event(id: "x", user: "u1", type: "purchase", properties: #"{"order_id":"o","amount":5,"currency":"XXX"}"#)),
            bad(.invalidValue, event(id: "x", user: "u1", type: "referral", properties: #"{"referred_user_id":"u1"}"#)),
            bad(.missingField, event(id: "x", user: "u1", type: "purchase", properties: #"{"amount":5,"currency":"USD"}"#)),
            bad(.invalidValue, event(id: "x", user: "u1", type: "purchase", properties: #"{"order_id":"o","amount":5,"currency":"USD","items":[{"sku":"s","quantity":0,"price":5}]}"#)),
            bad(.invalidValue, event(id: "x", user: "u1", type: "complaint", properties: #"{"ticket_id":"t","severity":"meh"}"#)),
            bad(.wrongType, event(id: "x", user: "u1", type: "purchase", properties: #"{"order_id":"o","amount":true,"currency":"USD"}"#)),
        ]
    }
}
