import Foundation
import Yams

/// A YAML configuration file plus `ORBIT__SECTION__KEY=value` environment overrides, read through
/// typed accessors that report errors with file, line and field.
///
/// Environment overrides: `ORBIT__INGEST__MAX_PAYLOAD_BYTES=1000` sets `ingest.max_payload_bytes`.
/// Under `kafka`, underscores become dots, so `ORBIT__KAFKA__BOOTSTRAP_SERVERS` sets the librdkafka
/// property `bootstrap.servers` (librdkafka's property names never contain underscores).
public struct ConfigDocument {
    public let file: String
    let root: Node?
    /// Dotted path -> the environment variable that set it.
    let overriddenBy: [String: String]

    public static let environmentPrefix = "ORBIT__"

    public init(yaml: String, file: String, environment: [String: String] = [:]) throws(ConfigError) {
        self.file = file
        var node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, line: Self.line(of: error), field: "(document)", message: "not valid YAML: \(error)")
        } catch {
            throw ConfigError(file: file, line: nil, field: "(document)", message: "not valid YAML: \(error)")
        }
        if let existing = node, existing.mapping == nil, existing.scalar?.string != "" {
            throw ConfigError(file: file, line: existing.mark?.line, field: "(document)", message: "the top level must be a mapping of sections")
        }
        var overrides: [String: String] = [:]
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(Self.environmentPrefix) {
            var path = name.dropFirst(Self.environmentPrefix.count).components(separatedBy: "__").map { $0.lowercased() }
            guard path.count >= 2, path.allSatisfy({ !$0.isEmpty }) else {
                throw ConfigError(file: file, line: nil, field: name, message: "environment override must look like ORBIT__SECTION__KEY")
            }
            if path[0] == "kafka" { path = [path[0], path.dropFirst().joined(separator: ".").replacingOccurrences(of: "_", with: ".")] }
            node = Self.setting(node, path: path[...], value: value)
            overrides[path.joined(separator: ".")] = name
        }
        self.root = node
        self.overriddenBy = overrides
    }

    /// Reads a file; a missing file is an error naming it.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ConfigDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, field: "(file)", message: "cannot read the configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: nil, field: "(file)", message: "the configuration file is not UTF-8")
        }
        return try ConfigDocument(yaml: text, file: path, environment: environment)
    }

    /// The top level, as a section.
    public var top: ConfigSection { ConfigSection(document: self, path: [], node: root) }

    public func section(_ name: String) -> ConfigSection { top.section(name) }

    private static func setting(_ node: Node?, path: ArraySlice<String>, value: String) -> Node {
        guard let key = path.first else { return Node(value, Tag(.str), .plain) }
        var mapping = node?.mapping ?? Node.Mapping([])
        let child = mapping[key]
        mapping[key] = setting(child, path: path.dropFirst(), value: value)
        return .mapping(mapping)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): return mark.line
        default: return nil
        }
    }
}

/// One mapping of the configuration, at a dotted path.
public struct ConfigSection {
    let document: ConfigDocument
    public let path: [String]
    let node: Node?

    public var exists: Bool { node != nil }

    /// The value of `key` by its text. Yams' own lookup compares resolved tags too, so a quoted
    /// "on" (a string: JSON always quotes) would not find the plain `on` YAML 1.1 reads as a
    /// boolean, and records written as JSON must read as their YAML files do.
    static func entry(_ key: String, in mapping: Node.Mapping) -> Node? {
        mapping.first { $0.key.string == key }?.value
    }

    func fieldName(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    /// An error about `key` of this section, at the line where the key's value is written.
    public func invalid(_ key: String, _ message: String) -> ConfigError {
        error(key, node?.mapping.flatMap { Self.entry(key, in: $0) }, message)
    }

    func error(_ key: String, _ node: Node?, _ message: String) -> ConfigError {
        let field = fieldName(key)
        if let variable = document.overriddenBy[field] {
            return ConfigError(file: document.file, line: nil, field: field, message: "\(message) (set by environment variable \(variable))")
        }
        return ConfigError(file: document.file, line: node?.mark?.line ?? self.node?.mark?.line, field: field, message: message)
    }

    private func value(_ key: String) throws(ConfigError) -> Node? {
        guard let node else { return nil }
        guard let mapping = node.mapping else {
            throw ConfigError(file: document.file, line: node.mark?.line, field: path.joined(separator: "."), message: "must be a mapping")
        }
        guard let child = Self.entry(key, in: mapping) else { return nil }
        // YAML's null: an empty plain value, ~, or null (in its three spellings).
        if let scalar = child.scalar, scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return nil }
        return child
    }

    public func section(_ key: String) -> ConfigSection {
        ConfigSection(document: document, path: path + [key], node: node?.mapping.flatMap { Self.entry(key, in: $0) })
    }

    /// Fails on keys this section does not define: a typo must not silently fall back to a default.
    public func rejectUnknownKeys(_ allowed: Set<String>) throws(ConfigError) {
        guard let mapping = node?.mapping else { return }
        for (key, _) in mapping {
            let name = key.string ?? "?"
            if !allowed.contains(name) {
                throw error(name, key, "unknown setting (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
    }

    /// Reads a section of names (a service's `topics`) into `settings` through `keys`, the key
    /// path of each name: a name not in the table is an error, one not given keeps the value
    /// `settings` has. Names are read in key order, so the first error is the same every run.
    public func readStrings<Settings>(_ keys: [String: WritableKeyPath<Settings, String>], into settings: inout Settings) throws(ConfigError) {
        try rejectUnknownKeys(Set(keys.keys))
        for (key, path) in keys.sorted(by: { $0.key < $1.key }) {
            settings[keyPath: path] = try string(key, default: settings[keyPath: path])
        }
    }

    public func string(_ key: String, default defaultValue: String? = nil) throws(ConfigError) -> String {
        guard let node = try value(key) else {
            if let defaultValue { return defaultValue }
            throw error(key, nil, "is required")
        }
        guard let text = node.scalar?.string else { throw error(key, node, "must be a text value") }
        return text
    }

    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let node = try value(key) else { return nil }
        guard let text = node.scalar?.string else { throw error(key, node, "must be a text value") }
        return text
    }

    public func int(_ key: String, default defaultValue: Int? = nil, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let node = try value(key) else {
            if let defaultValue { return defaultValue }
            throw error(key, nil, "is required")
        }
        guard let number = node.scalar.flatMap({ Int($0.string.replacingOccurrences(of: "_", with: "")) }) else {
            throw error(key, node, "must be a whole number, not \"\(node.scalar?.string ?? "a collection")\"")
        }
        guard range.contains(number) else { throw error(key, node, "must be between \(range.lowerBound) and \(range.upperBound), not \(number)") }
        return number
    }

    public func double(_ key: String, default defaultValue: Double? = nil, range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let node = try value(key) else {
            if let defaultValue { return defaultValue }
            throw error(key, nil, "is required")
        }
        guard let number = node.scalar.flatMap({ Double($0.string) }), number.isFinite else {
            throw error(key, node, "must be a number, not \"\(node.scalar?.string ?? "a collection")\"")
        }
        guard range.contains(number) else { throw error(key, node, "must be between \(range.lowerBound) and \(range.upperBound), not \(number)") }
        return number
    }

    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigError) -> Bool {
        guard let node = try value(key) else { return defaultValue }
        switch node.scalar?.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(key, node, "must be true or false")
        }
    }

    /// A choice among fixed words.
    public func choice<T: RawRepresentable>(_ key: String, default defaultValue: T) throws(ConfigError) -> T where T.RawValue == String, T: CaseIterable {
        guard let node = try value(key) else { return defaultValue }
        guard let text = node.scalar?.string, let value = T(rawValue: text) else {
            throw error(key, node, "must be one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    public func stringList(_ key: String, default defaultValue: [String] = []) throws(ConfigError) -> [String] {
        guard let node = try value(key) else { return defaultValue }
        if let scalar = node.scalar {  // from the environment: comma-separated
            return scalar.string.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let sequence = node.sequence else { throw error(key, node, "must be a list") }
        var result: [String] = []
        for element in sequence {
            guard let text = element.scalar?.string else { throw error(key, element, "list entries must be text values") }
            result.append(text)
        }
        return result
    }

    /// A mapping of text keys to scalar values (for example librdkafka properties).
    public func stringMap(_ key: String) throws(ConfigError) -> [String: String] {
        guard let node = try value(key) else { return [:] }
        return try section(key).scalarMap(node)
    }

    /// This section itself as a mapping of text keys to scalar values.
    public func scalars() throws(ConfigError) -> [String: String] {
        guard let node else { return [:] }
        return try scalarMap(node)
    }

    private func scalarMap(_ node: Node) throws(ConfigError) -> [String: String] {
        guard let mapping = node.mapping else {
            throw ConfigError(file: document.file, line: node.mark?.line, field: path.joined(separator: "."), message: "must be a mapping")
        }
        var result: [String: String] = [:]
        for (k, v) in mapping {
            let name = k.string ?? "?"
            guard let text = v.scalar?.string else { throw error(name, v, "must be a single value") }
            result[name] = text
        }
        return result
    }

    /// The section's own keys and scalar values (empty when it does not exist); collections are
    /// left out. For checking which optional keys were written at all.
    public func scalarsIfMapping() throws(ConfigError) -> [String: String?] {
        guard let mapping = node?.mapping else { return [:] }
        var result: [String: String?] = [:]
        for (k, v) in mapping { result.updateValue(v.scalar?.string, forKey: k.string ?? "?") }  // nil values stay as keys
        return result
    }

    /// The section's keys in the order written (empty when it does not exist).
    public func keys() throws(ConfigError) -> [String] {
        guard let node else { return [] }
        guard let mapping = node.mapping else {
            throw ConfigError(file: document.file, line: node.mark?.line, field: path.joined(separator: "."), message: "must be a mapping")
        }
        return mapping.map { $0.key.string ?? "?" }
    }

    /// A scalar's text and whether it was quoted (`"5"` is text where `5` is a number), or nil.
    public func quotedScalar(_ key: String) throws(ConfigError) -> (text: String, quoted: Bool)? {
        guard let node = try value(key) else { return nil }
        guard let scalar = node.scalar else { throw error(key, node, "must be a single value") }
        return (scalar.string, scalar.style != .plain)
    }

    /// A list of scalars, each with whether it was quoted.
    public func quotedScalarList(_ key: String) throws(ConfigError) -> [(text: String, quoted: Bool)] {
        guard let node = try value(key) else { return [] }
        guard let sequence = node.sequence else { throw error(key, node, "must be a list") }
        var result: [(text: String, quoted: Bool)] = []
        for element in sequence {
            guard let scalar = element.scalar else { throw error(key, element, "list entries must be single values") }
            result.append((scalar.string, scalar.style != .plain))
        }
        return result
    }

    /// A list of mappings (for example earning rules), each as a section named `key[index]`.
    public func sectionList(_ key: String) throws(ConfigError) -> [ConfigSection] {
        guard let node = try value(key) else { return [] }
        guard let sequence = node.sequence else { throw error(key, node, "must be a list") }
        return sequence.enumerated().map { index, element in
            ConfigSection(document: document, path: path + ["\(key)[\(index)]"], node: element)
        }
    }

    /// A mapping of text keys to whole numbers.
    public func intMap(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> [String: Int]? {
        guard try value(key) != nil else { return nil }
        let child = section(key)
        var result: [String: Int] = [:]
        for name in try child.scalars().keys {
            result[name] = try child.int(name, range: range)
        }
        return result
    }
}
