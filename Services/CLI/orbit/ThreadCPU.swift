import Foundation

/// CPU time this process spent, leaving out the embedded broker's own threads: the benchmarks run
/// the local broker in-process, and its CPU is the broker's, not the measured service's.
enum ThreadCPU {
    /// Seconds of user and system CPU of the whole process (`getrusage`, which keeps the time of
    /// threads that have ended: a pipeline's librdkafka threads end with it, and summing only the
    /// live threads made a later reading smaller than an earlier one) minus the time of the live
    /// threads whose names start with `excluded` (the broker's, alive for the whole benchmark).
    static func seconds(excluding excluded: [String] = ["rdk:mock"]) -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime) - liveThreadSeconds(named: excluded)
    }

    /// User and system CPU of the live threads whose names start with one of `prefixes`.
    static func liveThreadSeconds(named prefixes: [String]) -> Double {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return 0 }
        var total = 0.0
        for task in tasks {
            guard let (name, seconds) = statSeconds("/proc/self/task/\(task)/stat"),
                  prefixes.contains(where: { name.hasPrefix($0) }) else { continue }
            total += seconds
        }
        return total
    }

    /// User and system CPU of another process, with the time of its ended threads (`/proc/PID/stat`
    /// sums them), or nil when it has gone.
    static func processSeconds(_ pid: Int32) -> Double? {
        statSeconds("/proc/\(pid)/stat")?.seconds
    }

    /// The name and the user plus system seconds in a `/proc` stat file.
    private static func statSeconds(_ path: String) -> (name: String, seconds: Double)? {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, utime 14 and stime 15 (1-based, man proc).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (String(stat[stat.index(after: open)..<close]), (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
