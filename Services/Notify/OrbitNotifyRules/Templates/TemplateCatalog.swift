import Foundation
import Mustache
import OrbitCore
import Yams

/// The parts each channel's message has. Email has a subject, a text and an HTML part.
public enum MessagePart: String, CaseIterable, Sendable {
    case subject, text, html, title, body

    public static func required(for channel: Channel) -> [MessagePart] {
        switch channel {
        case .email: [.subject, .text, .html]
        case .sms: [.body]
        case .push, .inApp, .wecom: [.title, .body]
        }
    }

    /// Only the HTML part is HTML: it is escaped by default (`{{name}}`), and `{{{name}}}` is the
    /// explicit opt-out. Other parts are plain text; one-line parts (subject, title) also lose any
    /// CR or LF a variable carried, so a value cannot add a mail header.
    var isHTML: Bool { self == .html }
    var isOneLine: Bool { self == .subject || self == .title }
}

/// A rendered message: its parts in a fixed order.
public struct RenderedMessage: Sendable, Equatable {
    public var parts: [(part: MessagePart, text: String)]

    public init(parts: [(part: MessagePart, text: String)]) { self.parts = parts }

    public subscript(part: MessagePart) -> String? { parts.first { $0.part == part }?.text }

    public static func == (lhs: RenderedMessage, rhs: RenderedMessage) -> Bool {
        lhs.parts.map(\.part) == rhs.parts.map(\.part) && lhs.parts.map(\.text) == rhs.parts.map(\.text)
    }
}

/// Every template, per locale, trigger (or `trigger.variant`), channel and part, parsed and checked
/// at start-up. Templates live in one YAML file per locale (`en.yaml`, `zh-CN.yaml`):
///
/// ```yaml
/// win_back:
///   email:
///     subject: "{{user.name}}, we saved your seat"
///     text: |
///       ...
/// ```
public struct TemplateCatalog: Sendable {
    /// One message's templates: a trigger (or `trigger.variant`) on a channel in a locale.
    struct Key: Hashable, Sendable {
        var locale: String
        var template: String
        var channel: Channel
    }

    /// One part of a message, parsed. A part without a tag is rendered once, when it is loaded:
    /// its text is the same for every user, and rendering it per message through Mustache (with
    /// the lookups that find it) was a measured share of the notify stage's CPU.
    struct CompiledPart: Sendable {
        enum Body: Sendable {
            /// The text every user gets (one line already for a subject or title): the part names
            /// no variable.
            case literal(String)
            case template(MustacheTemplate)
        }

        let part: MessagePart
        let body: Body

        init(part: MessagePart, template: MustacheTemplate, source: String) {
            self.part = part
            body = source.contains("{{") ? .template(template) : .literal(Self.finish(template.render([String: String]()), part))
        }

        func render(_ variables: Any) -> String {
            switch body {
            case .literal(let text): text
            case .template(let template): Self.finish(template.render(variables), part)
            }
        }

        /// A subject or title is one line.
        private static func finish(_ text: String, _ part: MessagePart) -> String {
            part.isOneLine ? TemplateCatalog.oneLine(text) : text
        }
    }

    /// Each message's parts in the order ``MessagePart/required(for:)`` gives.
    let templates: [Key: [CompiledPart]]
    public let locales: [String]
    public let defaultLocale: String

    /// The roots a template may name: `{{profile.tier}}`, `{{event.to}}`, ...
    public static let variableRoots: Set<String> = ["user", "profile", "account", "event", "digest", "trigger", "campaign", "variant", "notification"]

    /// Loads `<directory>/<locale>.yaml` for each locale. Errors name the file, line and field.
    public static func load(directory: String, locales: [String], defaultLocale: String) throws(ConfigError) -> TemplateCatalog {
        var templates: [Key: [CompiledPart]] = [:]
        for locale in locales {
            let file = (directory as NSString).appendingPathComponent("\(locale).yaml")
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: file, line: nil, field: "(file)", message: "cannot read the templates of locale \(locale)")
            }
            for (key, template) in try parse(yaml: text, file: file, locale: locale) { templates[key] = template }
        }
        return TemplateCatalog(templates: templates, locales: locales, defaultLocale: defaultLocale)
    }

    /// One locale's templates from text, checked as `load` checks a file (for tests and the fuzzer).
    public static func catalog(yaml: String, file: String, locale: String) throws(ConfigError) -> TemplateCatalog {
        TemplateCatalog(templates: try parse(yaml: yaml, file: file, locale: locale), locales: [locale], defaultLocale: locale)
    }

    /// Parses one locale's file (also used by tests with inline text).
    static func parse(yaml: String, file: String, locale: String) throws(ConfigError) -> [Key: [CompiledPart]] {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError(file: file, line: nil, field: "(document)", message: "not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw ConfigError(file: file, line: root?.mark?.line, field: "(document)", message: "must map trigger ids to channels") }
        var result: [Key: [CompiledPart]] = [:]
        for (triggerNode, channelsNode) in mapping {
            // A key that is null, empty or not text (`? ` alone, `"": ...`, `[a]: ...`) names no
            // trigger; without this check the error below had an empty field.
            guard let trigger = triggerNode.scalar?.string, !trigger.isEmpty else {
                throw ConfigError(file: file, line: triggerNode.mark?.line, field: "(document)", message: "each template needs a trigger id as its key")
            }
            guard let channels = channelsNode.mapping else { throw ConfigError(file: file, line: channelsNode.mark?.line, field: trigger, message: "must map channels to parts") }
            for (channelNode, partsNode) in channels {
                let field = "\(trigger).\(channelNode.string ?? "?")"
                guard let channel = channelNode.string.flatMap(Channel.init(rawValue:)) else {
                    throw ConfigError(file: file, line: channelNode.mark?.line, field: field, message: "unknown channel (one of \(Channel.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard let parts = partsNode.mapping else { throw ConfigError(file: file, line: partsNode.mark?.line, field: field, message: "must map parts to templates") }
                var compiled: [MessagePart: CompiledPart] = [:]
                for (partNode, textNode) in parts {
                    let partField = "\(field).\(partNode.string ?? "?")"
                    guard let part = partNode.string.flatMap(MessagePart.init(rawValue:)), MessagePart.required(for: channel).contains(part) else {
                        throw ConfigError(file: file, line: partNode.mark?.line, field: partField,
                                          message: "\(channel.rawValue) has the parts \(MessagePart.required(for: channel).map(\.rawValue).joined(separator: ", "))")
                    }
                    guard let text = textNode.scalar?.string else { throw ConfigError(file: file, line: textNode.mark?.line, field: partField, message: "must be a template text") }
                    // Block scalars (| or >) start on the line after their indicator.
                    let firstLine = (textNode.mark?.line ?? 1) + (textNode.scalar?.style == .literal || textNode.scalar?.style == .folded ? 1 : 0)
                    compiled[part] = CompiledPart(part: part, template: try compile(text, part: part, file: file, line: firstLine, field: partField), source: text)
                }
                let missing = MessagePart.required(for: channel).filter { compiled[$0] == nil }
                if !missing.isEmpty {
                    throw ConfigError(file: file, line: channelNode.mark?.line, field: field, message: "missing part(s) \(missing.map(\.rawValue).joined(separator: ", "))")
                }
                result[Key(locale: locale, template: trigger, channel: channel)] = MessagePart.required(for: channel).map { compiled[$0]! }
            }
        }
        return result
    }

    /// Parses one template and checks the roots of its variable names.
    static func compile(_ text: String, part: MessagePart, file: String, line: Int, field: String) throws(ConfigError) -> MustacheTemplate {
        for (offset, name) in variableNames(in: text) {
            let root = String(name.split(separator: ".").first ?? "")
            // Names inside a section may be relative to it (`{{#event.items}}{{name}}{{/event.items}}`):
            // only dotted names are checked against the known roots.
            if name.contains("."), !name.hasPrefix("."), !variableRoots.contains(root) {
                throw ConfigError(file: file, line: line + offset, field: field,
                                  message: "unknown variable {{\(name)}} (variables start with \(variableRoots.sorted().joined(separator: ", ")))")
            }
        }
        do {
            // Plain-text parts are rendered without HTML escaping.
            return try MustacheTemplate(string: part.isHTML ? text : "{{% CONTENT_TYPE: TEXT}}" + text)
        } catch let error as MustacheTemplate.ParserError {
            throw ConfigError(file: file, line: line + error.context.lineNumber - 1, field: field,
                              message: "not a valid Mustache template: \(error.error) near \"\(error.context.line)\"")
        } catch {
            throw ConfigError(file: file, line: line, field: field, message: "not a valid Mustache template: \(error)")
        }
    }

    /// The variable names of the tags in a template, with the line (from 0) each is on.
    static func variableNames(in text: String) -> [(line: Int, name: String)] {
        var names: [(Int, String)] = []
        var line = 0
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            line += rest[rest.startIndex..<open.lowerBound].filter { $0 == "\n" }.count
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else { break }
            var tag = afterOpen[afterOpen.startIndex..<close.lowerBound]
            line += tag.filter { $0 == "\n" }.count
            rest = afterOpen[close.upperBound...]
            if let first = tag.first, "#^/&{".contains(first) { tag = tag.dropFirst() }
            else if let first = tag.first, "!%>=<$".contains(first) { continue }  // comments, pragmas, partials, delimiters
            let name = tag.trimmingSpaces.split(separator: " ").first.map(String.init) ?? ""
            if !name.isEmpty { names.append((line, name)) }
        }
        return names
    }

    /// Whether a template exists for this trigger (or `trigger.variant`) and channel in a locale.
    public func has(_ template: String, channel: Channel, locale: String) -> Bool {
        templates[Key(locale: locale, template: template, channel: channel)] != nil
    }

    /// The locale a user gets: theirs when templates exist for it, else its language's, else the default.
    public func locale(for requested: String?) -> String {
        guard let requested else { return defaultLocale }
        if locales.contains(requested) { return requested }
        let language = requested.split(separator: "-").first.map(String.init) ?? requested
        return locales.first { $0 == language || $0.hasPrefix(language + "-") } ?? defaultLocale
    }

    /// Renders a message; `variant`'s own template (`trigger.variant`) wins over the trigger's.
    /// `variables` is what Mustache reads: a dictionary, or a `MustacheParent` that looks values
    /// up as the template names them.
    public func render(_ template: String, variant: String? = nil, channel: Channel, locale: String, variables: Any) -> RenderedMessage? {
        let name = variant.map { "\(template).\($0)" }.flatMap { has($0, channel: channel, locale: locale) ? $0 : nil } ?? template
        guard let compiled = templates[Key(locale: locale, template: name, channel: channel)] else { return nil }
        return RenderedMessage(parts: compiled.map { ($0.part, $0.render(variables)) })
    }

    /// A subject or title: each line break (CR, LF or CRLF) becomes one space, and the ends lose
    /// their white space. The usual text has neither, and is returned as it is without walking
    /// its characters (the slow path segments graphemes and goes through Foundation).
    public static func oneLine(_ text: String) -> String {
        let utf8 = text.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte >= 0x80 }
        if let first = utf8.first, let last = utf8.last, !isBlank(first), !isBlank(last),
           !utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            return text
        }
        return String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 }).trimmingCharacters(in: .whitespaces)
    }

    /// Every (template, channel, locale) there is, for start-up checks.
    public var entries: [(template: String, channel: Channel, locale: String)] {
        Set(templates.keys.map { "\($0.template)\u{1F}\($0.channel.rawValue)\u{1F}\($0.locale)" }).sorted().map {
            let f = $0.split(separator: "\u{1F}").map(String.init)
            return (f[0], Channel(rawValue: f[1])!, f[2])
        }
    }
}
