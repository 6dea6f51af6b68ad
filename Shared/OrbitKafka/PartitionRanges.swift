/// Partition sets for people: `orbit.user-events.valid/0-63`, or `orbit.user-events.valid/0-3,8,10-11`
/// when they are not contiguous, instead of one name per partition.
public enum PartitionRanges {
    public static func describe(_ partitions: [TopicPartition]) -> String {
        guard !partitions.isEmpty else { return "none" }
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        return byTopic.keys.sorted().map { topic in
            "\(topic)/\(ranges(byTopic[topic]!.map(\.partition)))"
        }.joined(separator: " ")
    }

    /// `0-3,8,10-11` for [0, 1, 2, 3, 8, 10, 11].
    public static func ranges(_ numbers: [Int32]) -> String {
        let sorted = Set(numbers).sorted()
        var parts: [String] = []
        var start = sorted.first!
        var previous = start
        for number in sorted.dropFirst() + [Int32.max] {
            if number == previous + 1 && number != .max { previous = number; continue }
            parts.append(start == previous ? "\(start)" : "\(start)-\(previous)")
            start = number
            previous = number
        }
        return parts.joined(separator: ",")
    }
}
