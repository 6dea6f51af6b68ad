import Foundation
import OrbitRuntime

/// A built Orbit service running as a child process of a test, with its output captured.
/// Killed when the test releases it, so no test leaves a process behind.
public final class ServiceProcess: @unchecked Sendable {
    // `@unchecked Sendable`: `lines` is only touched under `lock`; `process` is thread-safe to query.
    public let name: String
    private let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()

    /// The repository root (for configuration files), found from this source file's path.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where `swift build` put the executables: beside the test bundle.
    public static var binaryDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["ORBIT_BIN_DIR"] { return URL(fileURLWithPath: override) }
        var url = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("orbit-ingest").path) { return url }
        }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }

    public init(executable: String, arguments: [String] = [], environment: [String: String]) throws {
        name = executable
        process.executableURL = Self.binaryDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORBIT__") }
        merged.merge(environment) { _, new in new }
        process.environment = merged
        process.currentDirectoryURL = Self.repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            if data.isEmpty { handle.readabilityHandler = nil; return }
            self.append(data)
        }
        try process.run()
    }

    /// orbit-ingest against a local broker, with the local profile and an ephemeral HTTP port.
    public static func ingest(bootstrap: String, extraEnvironment: [String: String] = [:]) throws -> ServiceProcess {
        var environment = LocalProfile.environment(bootstrap: bootstrap)
        environment["ORBIT__SERVICE__HTTP_PORT"] = "0"
        environment["ORBIT__SERVICE__HTTP_HOST"] = "127.0.0.1"
        environment.merge(extraEnvironment) { _, new in new }
        return try ServiceProcess(executable: "orbit-ingest",
                                  arguments: ["--config", repositoryRoot.appendingPathComponent("deploy/config/ingest.yaml").path],
                                  environment: environment)
    }

    private func append(_ data: Data) {
        lock.lock(); defer { lock.unlock() }
        partial.append(data)
        while let newline = partial.firstIndex(of: 10) {
            let line = String(decoding: partial[partial.startIndex..<newline], as: UTF8.self)
            lines.append(line)
            partial.removeSubrange(partial.startIndex...newline)
            if ProcessInfo.processInfo.environment["ORBIT_TEST_VERBOSE"] != nil { print("[\(name)] \(line)") }
        }
    }

    public var output: [String] {
        lock.lock(); defer { lock.unlock() }
        return lines
    }

    public var isRunning: Bool { process.isRunning }
    public var processIdentifier: Int32 { process.processIdentifier }
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Waits for an output line containing `text`; returns it.
    public func waitForLine(containing text: String, timeout: TimeInterval = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.first(where: { $0.contains(text) }) { return line }
            if !isRunning { throw TestFailure("\(name) exited (\(process.terminationStatus)) before printing \"\(text)\"; output:\n\(output.suffix(30).joined(separator: "\n"))") }
            usleep(50_000)
        }
        throw TestFailure("\(name) did not print \"\(text)\" within \(timeout) s; output:\n\(output.suffix(30).joined(separator: "\n"))")
    }

    /// The port of its /metrics and /health endpoint, from its start-up log.
    public func httpPort(timeout: TimeInterval = 60) throws -> Int {
        let line = try waitForLine(containing: "http endpoint listening on", timeout: timeout)
        guard let portText = line.split(separator: ":").compactMap({ Int($0.prefix { $0.isNumber }) }).last else {
            throw TestFailure("no port in \(line)")
        }
        return portText
    }

    public func terminate(timeout: TimeInterval = 60) throws -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else { kill(process.processIdentifier, SIGKILL); throw TestFailure("\(name) ignored SIGTERM for \(timeout) s") }
        return process.terminationStatus
    }

    public func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
