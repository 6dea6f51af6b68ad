import Foundation
import Logging

/// One log line per event, to standard error: readable text for people, or one JSON object per
/// line for log pipelines (`service.log_format: json`).
public struct OrbitLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: LogFormat

    public init(label: String, level: Logger.Level, format: LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        let line: String
        switch format {
        case .text:
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(time) \(event.level) \(label): \(event.message)\(meta)\n"
        case .json:
            var object: [String: String] = ["time": time, "level": "\(event.level)", "logger": label, "message": "\(event.message)"]
            for (key, value) in all { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self) + "\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}

public enum LogSetup {
    /// Installs Orbit's log handler process-wide (once).
    public static func bootstrap(level: String, format: LogFormat) {
        let parsed = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in OrbitLogHandler(label: label, level: parsed, format: format) }
    }
}
