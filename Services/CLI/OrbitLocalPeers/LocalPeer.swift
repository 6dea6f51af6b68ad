import Foundation

/// A local stand-in for a real endpoint, from `deploy/local`: the aiosmtpd SMTP sink (for Mailpit)
/// and the signed-webhook receiver (for an SMS or push gateway), run with the Python environment
/// `scripts/install-deps.sh` makes. It writes what it received as JSON lines to a file of its own;
/// stopped (SIGTERM) when released, so nothing is left behind. Used by `orbit up`, `orbit demo`
/// and the tests.
public final class LocalPeer: @unchecked Sendable {
    // `@unchecked Sendable`: `process` is only started in `init` and stopped in `deinit`/`stop`.
    public let port: Int
    public let outputFile: URL
    private let removeOutput: Bool
    private let process = Process()

    /// The Python environment of `scripts/install-deps.sh`, under the repository root.
    public static func python(root: URL) -> String { root.appendingPathComponent(".build/test-tools/bin/python").path }

    public static func isInstalled(root: URL) -> Bool { FileManager.default.isExecutableFile(atPath: python(root: root)) }

    /// - Parameter outputFile: where received messages go (a new temporary file by default; removed on release then).
    public init(root: URL, script: String, arguments: [String] = [], environment: [String: String] = [:], outputFile: URL? = nil) throws {
        removeOutput = outputFile == nil
        self.outputFile = outputFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("orbit-peer-\(UUID().uuidString).jsonl")
        FileManager.default.createFile(atPath: self.outputFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.python(root: root))
        process.arguments = [root.appendingPathComponent("deploy/local/\(script)").path, "--out", self.outputFile.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // The first line is "ready <port>".
        var line = Data()
        let handle = pipe.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("ready "), let port = Int(text.dropFirst(6)) else {
            process.terminate()
            throw LocalPeerError(description: "\(script) did not start (said \"\(text)\"); run scripts/install-deps.sh")
        }
        self.port = port
    }

    /// The SMTP sink: `--fail-first N` answers the first N messages 451, `--reject TEXT` refuses recipients containing it.
    public static func smtp(root: URL, _ arguments: [String] = [], outputFile: URL? = nil) throws -> LocalPeer {
        try LocalPeer(root: root, script: "smtp_sink.py", arguments: arguments, outputFile: outputFile)
    }

    /// The webhook receiver checking signatures with `secret`.
    public static func webhook(root: URL, secret: String, _ arguments: [String] = [], outputFile: URL? = nil) throws -> LocalPeer {
        try LocalPeer(root: root, script: "webhook_receiver.py", arguments: arguments, environment: ["ORBIT_WEBHOOK_SECRET": secret], outputFile: outputFile)
    }

    /// What the peer received so far, one JSON object per line.
    public func received() -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: outputFile.path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// SIGTERM, then SIGKILL after five seconds.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        if removeOutput { try? FileManager.default.removeItem(at: outputFile) }
    }

    public struct LocalPeerError: Error, CustomStringConvertible { public let description: String }
}
