import Foundation
import OrbitContract

/// What a CRM would have published about the demo's users before they act: contacts (every user;
/// two in three with a phone; Chinese and English), preferences (half opted in to marketing; one
/// in eleven with quiet hours around `now`, to show deferral) and tags (one in four "loyal").
public enum DemoContacts {
    /// One record another system publishes: topic, key (the user id) and JSON value.
    public struct Record: Sendable {
        public let topic: String
        public let key: String
        public let value: [UInt8]
    }

    public static func records(users: [String], now: Int64) -> [Record] {
        var records: [Record] = []
        let hour = Int(now / 3_600_000 % 24)
        let quiet = String(format: "%02d:00-%02d:00", hour, (hour + 2) % 24)
        for (i, user) in users.enumerated() {
            let phone = i % 3 == 0 ? "" : #","phone":"+86138\#(String(format: "%08d", i))""#
            let name = i % 2 == 0 ? "User \(i)" : "用户\(i)"
            let contact = #"{"name":"\#(name)","email":"\#(user)@example.com","push_token":"push-\#(user)","locale":"\#(i % 2 == 0 ? "en" : "zh-CN")","time_zone":"UTC"\#(phone)}"#
            records.append(Record(topic: OrbitTopics.userContacts, key: user, value: Array(contact.utf8)))
            var preferences = #"{"categories":{"marketing":\#(acceptsMarketingAndLifecycle(index: i)),"lifecycle":\#(acceptsMarketingAndLifecycle(index: i))}"#
            if i % 11 == 0 { preferences += #","quiet_hours":"\#(quiet)""# }
            records.append(Record(topic: OrbitTopics.userPreferences, key: user, value: Array((preferences + "}").utf8)))
            if i % 4 == 0 { records.append(Record(topic: OrbitTopics.userTags, key: user, value: Array(#"{"tags":["loyal"]}"#.utf8))) }
            // Attributes a CRM knows for two users in three (declared in deploy/config/scoring.yaml).
            if i % 3 != 2 {
                let genders = ["female", "male", "non_binary", "undisclosed"], bands = ["18-24", "25-34", "35-44", "45-54", "55-64"]
                let regions = ["east-china", "north-china", "south-china", "west-china"]
                let attributes = #"{"gender":"\#(genders[i % 4])","age_band":"\#(bands[i % 5])","region":"\#(regions[i % 4])","interests":["\#(["running", "books", "travel"][i % 3])"]}"#
                records.append(Record(topic: OrbitTopics.userAttributes, key: user, value: Array(attributes.utf8)))
            }
        }
        // The operators, told when a reward's stock runs low (membership.mall.stock_alert_recipient).
        let operators = #"{"name":"Mall operators","email":"mall-ops@example.com","phone":"+8613800000000","locale":"zh-CN","time_zone":"Asia/Shanghai"}"#
        records.append(Record(topic: OrbitTopics.userContacts, key: "orbit-operators", value: Array(operators.utf8)))
        return records
    }

    /// Whether the `index`th user of a `records(users:)` call opted in to marketing and lifecycle messages.
    public static func acceptsMarketingAndLifecycle(index: Int) -> Bool { index % 2 == 0 }

    /// The demo's user ids for a population of `count` users (``DemoPopulation``'s users).
    public static func userIDs(_ count: Int) -> [String] { (0..<count).map { String(format: "u%06d", $0) } }
}
