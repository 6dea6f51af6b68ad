/// What a valid identifier is: an event's `id`, a `user_id`, a `request_id`, a
/// `referred_user_id`, an order id. The same rules everywhere an identifier enters Orbit, so a
/// user id accepted on one topic is accepted on every other (see docs/CONTRACT.md, "Identifiers").
///
/// Identifiers are opaque machine keys that become Kafka keys, state-store keys, log fields and
/// CSV cells. They are compared byte for byte, never normalised or trimmed by Orbit: quietly
/// changing one would merge two keys, or split one user in two on another topic that Orbit did
/// not rewrite. So a form that is likely a mistake, or that shows one thing and means another,
/// is rejected with the reason, and the producer fixes it at the source:
/// - 1 to 128 Unicode scalars;
/// - no white space at either end, and nothing but white space is not an id;
/// - inside, white space is the plain space (U+0020) only: a no-break or ideographic space
///   looks like a space and is a different key;
/// - no control characters (Cc), line or paragraph separators (Zl, Zp), format characters (Cf:
///   zero-width joiners, bidirectional overrides such as U+202E that make a log line read
///   backwards), private-use, unassigned or noncharacter code points;
/// - in Unicode Normalization Form C, the form every platform produces by default: the
///   decomposed "e + U+0301" and the composed "é" would otherwise be two users.
///
/// Confusable letters from different scripts (Latin "a" and Cyrillic "а") are allowed: ids in
/// any script are legitimate, and telling a spoof from a real id needs a display context that
/// a key does not have. The invisible and direction-changing characters above are the spoofing
/// vectors that matter for keys and logs, and they are rejected.
public enum IdentifierRules {
    public static let maxLength = 128

    /// Why a string is not a valid identifier.
    public enum Violation: Sendable, Equatable, CustomStringConvertible {
        case empty
        case tooLong
        case blank
        case surroundingWhiteSpace
        case otherWhiteSpace(UInt32)
        case invisibleOrControl(UInt32)
        case unassigned(UInt32)
        case notNFC

        public var description: String {
            switch self {
            case .empty: "must not be empty"
            case .tooLong: "is longer than \(IdentifierRules.maxLength) characters"
            case .blank: "must not be blank"
            case .surroundingWhiteSpace: "must not start or end with white space"
            case .otherWhiteSpace(let v): "contains white space other than a plain space (\(Self.codePoint(v)))"
            case .invisibleOrControl(let v): "contains a control, format or separator character (\(Self.codePoint(v)))"
            case .unassigned(let v): "contains an unassigned, private-use or noncharacter code point (\(Self.codePoint(v)))"
            case .notNFC: "is not in Unicode Normalization Form C (send the composed form)"
            }
        }

        static func codePoint(_ v: UInt32) -> String {
            let hex = String(v, radix: 16, uppercase: true)
            return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }

    /// Nil when `s` is a valid identifier, else the first rule it breaks.
    public static func violation(_ s: String) -> Violation? {
        let utf8 = s.utf8
        guard !utf8.isEmpty else { return .empty }
        // Fast path: printable ASCII, no space at either end. ASCII is always NFC.
        if utf8.count <= maxLength, utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            if utf8.first == 0x20 || utf8.last == 0x20 {
                return utf8.allSatisfy({ $0 == 0x20 }) ? .blank : .surroundingWhiteSpace
            }
            return nil
        }
        let scalars = s.unicodeScalars
        var count = 0
        var onlyWhiteSpace = true
        for scalar in scalars {
            count += 1
            if count > maxLength { return .tooLong }
            let properties = scalar.properties
            if properties.isWhitespace {
                if scalar.value != 0x20 {
                    switch properties.generalCategory {
                    case .control, .lineSeparator, .paragraphSeparator: return .invisibleOrControl(scalar.value)
                    default: return .otherWhiteSpace(scalar.value)
                    }
                }
                continue
            }
            onlyWhiteSpace = false
            switch properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate:
                return .invisibleOrControl(scalar.value)
            case .privateUse, .unassigned:
                return .unassigned(scalar.value)
            default:
                if properties.isNoncharacterCodePoint { return .unassigned(scalar.value) }
            }
        }
        if onlyWhiteSpace { return .blank }
        if scalars.first!.value == 0x20 || scalars.last!.value == 0x20 { return .surroundingWhiteSpace }
        if !isNFC(s) { return .notNFC }
        return nil
    }

    /// Whether `s` is already in NFC: its bytes equal those of its NFC form. Only non-ASCII ids
    /// get here (ASCII is always NFC). `_nfcCodeUnits` is the standard library's own normaliser
    /// (public, underscored; it backs `String` comparison), used instead of Foundation's so the
    /// contract module stays free of Foundation.
    static func isNFC(_ s: String) -> Bool {
        s.utf8.elementsEqual(s._nfcCodeUnits)
    }
}
