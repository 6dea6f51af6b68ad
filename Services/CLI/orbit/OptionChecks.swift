import Foundation
import ArgumentParser

/// Checks the `orbit` tool's numeric options before anything starts, so a mistyped figure is a
/// usage error that names the option, not a trap in a range, a division or an empty input deep
/// inside a command (`orbit bench scorer --rounds 0` trapped in `1...rounds`, `--users 0` in a
/// remainder by zero). Each command's `validate()` calls these; ArgumentParser then prints the
/// error with the command's usage and exits with status 64.
enum OptionChecks {
    static func require(_ value: Int, _ option: String, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            throw ValidationError("--\(option) must be \(bounds), not \(value)")
        }
    }

    static func require(_ value: Int?, _ option: String, in range: ClosedRange<Int>) throws {
        if let value { try require(value, option, in: range) }
    }

    /// A finite number above `bound` (durations, horizons, time units).
    static func require(_ value: Double?, _ option: String, above bound: Double) throws {
        guard let value else { return }
        guard value.isFinite, value > bound else { throw ValidationError("--\(option) must be a number above \(bound), not \(value)") }
    }

    /// Rounds: each one is a whole measurement, so a hundred is already hours.
    static let rounds = 1...100
    /// Partitions of a topic on the local broker (benchmarks, `orbit up`, `orbit broker`).
    static let partitions = 1...1_000
    /// Partitions of a topic on a real cluster (`orbit topics create|check|manifest`).
    static let clusterPartitions = 1...10_000
    /// A TCP port.
    static let port = 1...65_535
    /// librdkafka's own range for `fetch.wait.max.ms`.
    static let fetchWaitMs = 0...300_000
    static let positive = 1...Int.max

    /// A comma-separated list of instance counts (`1,2,3`): every entry a whole number in `range`,
    /// none skipped in silence.
    static func instanceCounts(_ text: String, _ option: String, in range: ClosedRange<Int>) throws -> [Int] {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try entries.map { entry in
            guard let count = Int(entry), range.contains(count) else {
                throw ValidationError("--\(option) takes comma-separated counts from \(range.lowerBound) to \(range.upperBound) (like 1,2,3), not \"\(text)\"")
            }
            return count
        }
    }
}
