import Foundation

/// CPU time this process spent, read from `/proc/self/task/*/stat`, leaving out the embedded
/// broker's own threads: the benchmarks run the local broker in-process, and its CPU is the
/// broker's, not the measured service's.
enum ThreadCPU {
    /// Seconds of user and system CPU of every thread whose name does not start with `excluded`.
    static func seconds(excluding excluded: [String] = ["rdk:mock"]) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return 0 }
        var total = 0.0
        for task in tasks {
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            if excluded.contains(where: { name.hasPrefix($0) }) { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the name: state is field 3, utime 14 and stime 15 (1-based, man proc).
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            total += (user + system) / ticks
        }
        return total
    }
}
