import Foundation
import OrbitRuntime

/// Orbit's services as child processes of `orbit up` and `orbit demo`: started with the local
/// broker's settings, their output prefixed with their name, stopped with SIGTERM (then SIGKILL
/// after a grace period) when the parent stops.
final class ServiceProcesses: @unchecked Sendable {
    // `@unchecked Sendable`: `children` is only touched under `lock`.
    struct Child {
        let name: String
        let process: Process
    }

    /// The services `orbit up` starts, in start order: (short name, executable).
    static let services: [(name: String, executable: String, config: String)] = [
        ("ingest", "orbit-ingest", "ingest.yaml"),
        ("scorer", "orbit-scorer", "scoring.yaml"),
        ("members", "orbit-members", "membership.yaml"),
        ("notify", "orbit-notify", "notify.yaml"),
    ]

    private let lock = NSLock()
    private var children: [Child] = []
    private let output = NSLock()

    /// The directory of the running `orbit` binary: the services are built beside it.
    static var binaryDirectory: URL {
        let path = Bundle.main.executablePath ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    func start(name: String, executable: String, arguments: [String] = [], environment extra: [String: String], quiet: Bool = false) throws {
        let url = Self.binaryDirectory.appendingPathComponent(executable)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw CLIError("\(executable) not found beside orbit at \(url.path): build the package first (swift build)")
        }
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let prefix = "[\(name)] "
        let lines = LineSplitter()
        pipe.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            guard !data.isEmpty else { handle.readabilityHandler = nil; return }
            for line in lines.append(data) where !quiet {
                output.lock()
                FileHandle.standardError.write(Data(prefix.utf8) + line + Data([10]))
                output.unlock()
            }
        }
        try process.run()
        lock.lock()
        children.append(Child(name: name, process: process))
        lock.unlock()
    }

    /// Names of children that exited on their own.
    var exited: [(name: String, status: Int32)] {
        lock.lock(); defer { lock.unlock() }
        return children.filter { !$0.process.isRunning }.map { ($0.name, $0.process.terminationStatus) }
    }

    /// Each running child's CPU seconds so far (user and system, every thread), by name.
    var cpuSeconds: [(name: String, seconds: Double)] {
        lock.lock(); defer { lock.unlock() }
        return children.filter(\.process.isRunning).compactMap { child in ThreadCPU.processSeconds(child.process.processIdentifier).map { (child.name, $0) } }
    }

    /// SIGTERM to every child, in reverse start order; SIGKILL after `grace`.
    func stopAll(grace: TimeInterval = 30) {
        lock.lock()
        let all = children.reversed()
        children.removeAll()
        lock.unlock()
        for child in all where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        for child in all {
            while child.process.isRunning && Date() < deadline { usleep(50_000) }
            if child.process.isRunning {
                printError("orbit: \(child.name) did not stop within \(Int(grace)) s; killing it")
                kill(child.process.processIdentifier, SIGKILL)
                child.process.waitUntilExit()
            }
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Splits a byte stream into lines, keeping a partial last line for the next chunk.
final class LineSplitter: @unchecked Sendable {
    // `@unchecked Sendable`: `pending` is only touched under `lock`.
    private let lock = NSLock()
    private var pending = Data()

    func append(_ data: Data) -> [Data] {
        lock.lock(); defer { lock.unlock() }
        pending.append(data)
        var lines: [Data] = []
        while let newline = pending.firstIndex(of: 10) {
            lines.append(Data(pending[pending.startIndex..<newline]))
            pending.removeSubrange(pending.startIndex...newline)
        }
        return lines
    }
}
