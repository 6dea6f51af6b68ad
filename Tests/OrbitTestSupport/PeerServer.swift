import Foundation

/// A real protocol peer from `Tests/Peers` (the aiosmtpd SMTP sink, the webhook receiver), run with
/// the Python environment `scripts/install-deps.sh` makes. It writes what it received as JSON lines
/// to a file of its own; stopped (SIGTERM) when released, so no test leaves one behind.
public final class PeerServer: @unchecked Sendable {
    // `@unchecked Sendable`: `process` is only started in `init` and stopped in `deinit`/`stop`.
    public let port: Int
    public let outputFile: URL
    private let process = Process()

    public static var python: String {
        ServiceProcess.repositoryRoot.appendingPathComponent(".build/test-tools/bin/python").path
    }

    public init(script: String, arguments: [String] = [], environment: [String: String] = [:]) throws {
        outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("orbit-peer-\(UUID().uuidString).jsonl")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [ServiceProcess.repositoryRoot.appendingPathComponent("Tests/Peers/\(script)").path, "--out", outputFile.path] + arguments
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
            throw PeerError(description: "\(script) did not start (said \"\(text)\"); run scripts/install-deps.sh")
        }
        self.port = port
    }

    /// The SMTP sink: `--fail-first N` answers the first N messages 451, `--reject TEXT` refuses recipients containing it.
    public static func smtp(_ arguments: [String] = []) throws -> PeerServer { try PeerServer(script: "smtp_sink.py", arguments: arguments) }

    /// The webhook receiver checking signatures with `secret`.
    public static func webhook(secret: String, _ arguments: [String] = []) throws -> PeerServer {
        try PeerServer(script: "webhook_receiver.py", arguments: arguments, environment: ["ORBIT_WEBHOOK_SECRET": secret])
    }

    /// What the peer received so far, one JSON object per line.
    public func received() -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: outputFile.path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: outputFile)
    }

    public struct PeerError: Error, CustomStringConvertible { public let description: String }
}
