import Foundation

/// A secret kept in a file (a Docker or Kubernetes secret mount): configuration names the file,
/// never the value, so the value is not in the configuration, the environment or a log.
public enum SecretFile {
    /// Secrets are short; the bound keeps a wrong path (a device, a log file) from filling memory.
    public static let maxBytes = 64 * 1024

    /// The file's text without a trailing line break (what `echo` and most secret stores add), or
    /// an error for `section.key` that names the file, never its content.
    public static func read(_ path: String, for key: String, in section: ConfigSection) throws(ConfigError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw section.invalid(key, "cannot read the file \(path)") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxBytes + 1)) ?? Data()
        guard data.count <= maxBytes, let text = String(data: data, encoding: .utf8) else {
            throw section.invalid(key, "the file \(path) is not a UTF-8 text of at most 64 KiB")
        }
        var value = Substring(text)
        while let last = value.last, last == "\n" || last == "\r" || last == "\r\n" { value = value.dropLast() }
        return String(value)
    }
}
