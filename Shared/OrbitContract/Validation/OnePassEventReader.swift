/// Ingestion's fast path: reads the common event in one pass over its bytes and writes the
/// normalised `.valid` record directly, without a JSON tree, a `UserEvent` or a `String` per
/// field. Building and freeing that tree (retains, releases, an array per object) was the largest
/// share of ingestion's CPU.
///
/// It answers only when it is sure, and returns nil for anything else, which the full
/// ``EventValidator`` then decides: a string with an escape or a byte outside printable ASCII,
/// a kind with rarer rules (subscriptions, overdue payments, complaints), an upper-case type, an
/// object of more than 16 members or nesting deeper than 16 (``ByteCursor``), and every invalid
/// input. So every rejection, and every unusual event, goes through the one set of
/// rules docs/CONTRACT.md describes, and this reader adds none of its own. What it accepts it
/// writes byte for byte as `validate(_:referenceTimeMillis:)` and ``UserEvent/encoded()`` would;
/// `OnePassEventReaderTests` and the validator fuzz target hold the two paths equal.
struct OnePassEventReader {
    let policy: ValidationPolicy

    func read(_ payload: [UInt8], referenceTimeMillis: Int64) -> ValidEventRecord? {
        guard !payload.isEmpty, payload.count <= policy.maxPayloadBytes else { return nil }
        return payload.withUnsafeBufferPointer { bytes in
            try? read(bytes, referenceTimeMillis: referenceTimeMillis)
        }
    }

    /// The event's top-level members, in any order. `properties` is written as it is read when
    /// `id`, `user_id`, `type` and `time` came before it (the usual order); otherwise it is
    /// checked, and read again once they are known.
    private func read(_ bytes: UnsafeBufferPointer<UInt8>, referenceTimeMillis: Int64) throws(NotOnePass) -> ValidEventRecord {
        var cursor = ByteCursor(bytes)
        var id: Range<Int>?, user: Range<Int>?, type: Range<Int>?, time: Range<Int>?
        var properties: (start: Int, end: Int)?
        var writer: JSONWriter?
        var millis: Int64 = 0
        var seen: UInt8 = 0
        try cursor.expect(.openBrace)
        repeat {
            let name = try cursor.plainString()
            try cursor.expect(.colon)
            guard let field = TopLevelField(bytes[name]), seen & field.rawValue == 0 else { throw NotOnePass() }
            seen |= field.rawValue
            switch field {
            case .id: id = try cursor.plainString()
            case .userID: user = try cursor.plainString()
            case .type: type = try cursor.plainString()
            case .time: time = try cursor.plainString()
            case .schemaVersion:
                if try cursor.peek() == .letterN { try cursor.literal("null"); break }
                guard let version = cursor.bytes.smallInteger(try cursor.number()), version >= 1, version <= policy.maxSchemaVersion else { throw NotOnePass() }
            case .properties:
                if try cursor.peek() == .letterN { try cursor.literal("null"); break }
                guard try cursor.peek() == .openBrace else { throw NotOnePass() }
                if let id, let user, let type, let time {
                    let kind: Kind
                    (kind, millis) = try header(bytes, id: id, user: user, type: type, time: time, referenceTimeMillis: referenceTimeMillis)
                    var output = Self.beginRecord(bytes, id: id, user: user, type: type, time: time, millis: millis)
                    try writeProperties(&cursor, kind: kind, user: user, to: &output)
                    writer = output
                } else {
                    let start = cursor.index
                    var discard = DiscardingSink()
                    try cursor.copyValue(to: &discard, depth: 1)
                    properties = (start, cursor.index)
                }
            }
        } while cursor.consume(.comma)
        try cursor.expect(.closeBrace)
        cursor.skipWhitespace()
        guard cursor.index == bytes.count, let id, let user, let type, let time else { throw NotOnePass() }
        if writer == nil {
            let kind: Kind
            (kind, millis) = try header(bytes, id: id, user: user, type: type, time: time, referenceTimeMillis: referenceTimeMillis)
            var output = Self.beginRecord(bytes, id: id, user: user, type: type, time: time, millis: millis)
            if let properties {
                var reader = ByteCursor(bytes, at: properties.start)
                try writeProperties(&reader, kind: kind, user: user, to: &output)
                guard reader.index == properties.end else { throw NotOnePass() }
            } else {
                // No properties: fine for the kinds whose properties are all optional; the others
                // miss a required one, which the full validator words.
                guard kind == .passThrough || kind == .community else { throw NotOnePass() }
                output.beginObject()
                output.endObject()
            }
            writer = output
        }
        writer!.endObject()
        return ValidEventRecord(
            id: String(decoding: UnsafeBufferPointer(rebasing: bytes[id]), as: UTF8.self),
            key: Array(UnsafeBufferPointer(rebasing: bytes[user])), timeMillis: millis, value: writer!.bytes)
    }

    /// Checks the identifiers, the kind and the time; returns the kind and the time.
    private func header(_ bytes: UnsafeBufferPointer<UInt8>, id: Range<Int>, user: Range<Int>, type: Range<Int>, time: Range<Int>, referenceTimeMillis: Int64) throws(NotOnePass) -> (Kind, Int64) {
        guard bytes.isPlainIdentifier(id), bytes.isPlainIdentifier(user) else { throw NotOnePass() }
        let kind = try self.kind(bytes[type])
        let millis: Int64
        do { millis = try RFC3339.parse(utf8: UnsafeBufferPointer(rebasing: bytes[time])) } catch { throw NotOnePass() }
        guard millis <= referenceTimeMillis + policy.maxFutureSkewMillis else { throw NotOnePass() }
        return (kind, millis)
    }

    /// The `.valid` record up to its `properties` value, as ``UserEvent/encoded()`` writes it.
    private static func beginRecord(_ bytes: UnsafeBufferPointer<UInt8>, id: Range<Int>, user: Range<Int>, type: Range<Int>, time: Range<Int>, millis: Int64) -> JSONWriter {
        var writer = JSONWriter(reservingCapacity: bytes.count + 64)
        writer.beginObject()
        writer.field("schema_version"); writer.int(UserEvent.schemaVersion)
        writer.field("id"); writer.plainString(bytes, id)
        writer.field("user_id"); writer.plainString(bytes, user)
        writer.field("type"); writer.plainString(bytes, type)
        writer.field("time")
        // A time already in the form written (UTC, milliseconds: `2026-06-01T10:00:00.000Z`, as
        // Orbit's own tools and many clients send it) is copied; it parsed, so its digits are those
        // `RFC3339.append` would write.
        if time.count == 24, bytes[time.lowerBound + 10] == UInt8(ascii: "T"), bytes[time.lowerBound + 19] == .dot,
           bytes[time.lowerBound + 23] == UInt8(ascii: "Z") {
            writer.plainString(bytes, time)
        } else {
            writer.timestamp(millis: millis)
        }
        writer.field("properties")
        return writer
    }

    // MARK: Kinds

    /// The kinds this reader normalises, by what their properties need.
    enum Kind {
        /// signup, login, check_in and configured kinds: properties pass through unchanged.
        case passThrough
        /// post, comment, like, share: optional `content_id` and `channel` identifiers.
        case community
        case purchase
        case refund
        case referral
    }

    private func kind(_ name: Slice<UnsafeBufferPointer<UInt8>>) throws(NotOnePass) -> Kind {
        // An upper-case type is lower-cased by the full validator; leave it to it.
        guard !name.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { throw NotOnePass() }
        for (builtIn, kind) in Self.builtInKinds where name.elementsEqual(builtIn) {
            guard let kind else { throw NotOnePass() }
            return kind
        }
        guard policy.extraEventTypes.contains(EventType(String(decoding: UnsafeBufferPointer(rebasing: name), as: UTF8.self))) else {
            throw NotOnePass()
        }
        return .passThrough
    }

    /// Every built-in kind, and how this reader handles it (nil: the full validator does).
    private static let builtInKinds: [([UInt8], Kind?)] = EventType.builtIn.map { type in
        let kind: Kind?
        switch type {
        case .signup, .login, .checkIn: kind = .passThrough
        case .post, .comment, .like, .share: kind = .community
        case .purchase: kind = .purchase
        case .refund: kind = .refund
        case .referral: kind = .referral
        default: kind = nil
        }
        return (Array(type.name.utf8), kind)
    }

    // MARK: Properties

    /// Writes the normalised properties object, as `EventValidator.normalize` does: the keys the
    /// kind defines first, converted, in the validator's order; the caller's other keys after
    /// them, untouched, in source order.
    private func writeProperties(_ cursor: inout ByteCursor, kind: Kind, user: Range<Int>, to writer: inout JSONWriter) throws(NotOnePass) {
        if kind == .passThrough { return try cursor.copyValue(to: &writer, depth: 1) }
        let bytes = cursor.bytes
        let members = try cursor.members(known: Self.knownProperties(kind))
        writer.beginObject()
        var produced: [StaticString] = Self.producesNothing
        switch kind {
        case .community:
            for (slot, key) in Self.communityProperties.enumerated() {
                switch members.known[slot] {
                case nil, .null?: continue
                case .string(let range)? where bytes.isPlainIdentifier(range):
                    writer.field(key); writer.plainString(bytes, range)
                default: throw NotOnePass()
                }
            }
        case .purchase, .refund:
            guard case .string(let order)? = members.known[0], bytes.isPlainIdentifier(order) else { throw NotOnePass() }
            let (currency, digits) = try self.currency(members.known[2], bytes)
            let minor = try amount(members.known[1], digits: digits, bytes)
            writer.field("order_id"); writer.plainString(bytes, order)
            writer.field("amount_minor"); writer.int(minor)
            writer.field("currency"); writer.string(currency)
            produced = Self.producesAmount
            if kind == .purchase, let items = members.known[3] {
                guard case .array(let start) = items else { throw NotOnePass() }
                var reader = ByteCursor(bytes, at: start)
                writer.field("items")
                try writeItems(&reader, digits: digits, to: &writer)
            }
        case .referral:
            guard case .string(let referred)? = members.known[0], bytes.isPlainIdentifier(referred),
                  !bytes[referred].elementsEqual(bytes[user]) else { throw NotOnePass() }
            writer.field("referred_user_id"); writer.plainString(bytes, referred)
        case .passThrough:
            break
        }
        try members.copyOthers(to: &writer, unless: produced)
        writer.endObject()
    }

    /// The property names each kind converts; their values are read into `ObjectMembers.known`
    /// in this order.
    private static func knownProperties(_ kind: Kind) -> [StaticString] {
        switch kind {
        case .passThrough: producesNothing
        case .community: communityProperties
        case .purchase: purchaseProperties
        case .refund: refundProperties
        case .referral: referralProperties
        }
    }

    private static let communityProperties: [StaticString] = ["content_id", "channel"]
    private static let purchaseProperties: [StaticString] = ["order_id", "amount", "currency", "items"]
    private static let refundProperties: [StaticString] = ["order_id", "amount", "currency"]
    private static let referralProperties: [StaticString] = ["referred_user_id"]
    private static let itemProperties: [StaticString] = ["sku", "category", "quantity", "price"]
    /// Names Orbit writes that a caller's own property could clash with (the others it writes
    /// are names it has read, so they cannot come twice).
    private static let producesNothing: [StaticString] = []
    private static let producesAmount: [StaticString] = ["amount_minor"]
    private static let producesPrice: [StaticString] = ["price_minor"]

    private func writeItems(_ cursor: inout ByteCursor, digits: Int, to writer: inout JSONWriter) throws(NotOnePass) {
        let bytes = cursor.bytes
        try cursor.expect(.openBracket)
        writer.beginArray()
        if !cursor.consume(.closeBracket) {
            var count = 0
            repeat {
                count += 1
                guard count <= EventValidator.maxItems, try cursor.peek() == .openBrace else { throw NotOnePass() }
                let item = try cursor.members(known: Self.itemProperties)
                guard case .string(let sku)? = item.known[0], bytes.isPlainIdentifier(sku),
                      case .number(let quantityLexeme)? = item.known[2],
                      let quantity = bytes.smallInteger(quantityLexeme), quantity >= 1, quantity <= 1_000_000 else { throw NotOnePass() }
                let price = try amount(item.known[3], digits: digits, bytes)
                writer.beginObject()
                writer.field("sku"); writer.plainString(bytes, sku)
                switch item.known[1] {
                case nil, .null?: break
                case .string(let category)? where bytes.isPlainIdentifier(category):
                    writer.field("category"); writer.plainString(bytes, category)
                default: throw NotOnePass()
                }
                writer.field("quantity"); writer.numberLexeme(bytes, quantityLexeme)
                writer.field("price_minor"); writer.int(price)
                try item.copyOthers(to: &writer, unless: Self.producesPrice)
                writer.endObject()
            } while cursor.consume(.comma)
            try cursor.expect(.closeBracket)
        }
        writer.endArray()
    }

    /// A configured currency's code (upper-cased, as the full validator does) and its digits.
    private func currency(_ value: PropertyValue?, _ bytes: UnsafeBufferPointer<UInt8>) throws(NotOnePass) -> (String, Int) {
        guard case .string(let range)? = value, range.count <= 8 else { throw NotOnePass() }
        var code = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        if code.utf8.contains(where: { $0 >= 0x61 && $0 <= 0x7A }) { code = code.uppercased() }
        guard let digits = policy.currencies.digits(for: code) else { throw NotOnePass() }
        return (code, digits)
    }

    /// An amount (a number, or a decimal string) in minor units, by ``MinorUnits``.
    private func amount(_ value: PropertyValue?, digits: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws(NotOnePass) -> Int64 {
        let lexeme: Range<Int>
        switch value {
        case .number(let range)?, .string(let range)?: lexeme = range
        default: throw NotOnePass()
        }
        do {
            return try MinorUnits.parse(String(decoding: UnsafeBufferPointer(rebasing: bytes[lexeme]), as: UTF8.self), digits: digits)
        } catch {
            throw NotOnePass()
        }
    }
}

/// The contract's top-level fields, as bits of the set of those seen.
private enum TopLevelField: UInt8 {
    case id = 1, userID = 2, type = 4, time = 8, properties = 16, schemaVersion = 32

    init?(_ name: Slice<UnsafeBufferPointer<UInt8>>) {
        guard let first = name.first else { return nil }
        switch (name.count, first) {
        case (2, UInt8(ascii: "i")) where name.equals("id"): self = .id
        case (7, UInt8(ascii: "u")) where name.equals("user_id"): self = .userID
        case (4, UInt8(ascii: "t")) where name.equals("type"): self = .type
        case (4, UInt8(ascii: "t")) where name.equals("time"): self = .time
        case (10, UInt8(ascii: "p")) where name.equals("properties"): self = .properties
        case (14, UInt8(ascii: "s")) where name.equals("schema_version"): self = .schemaVersion
        default: return nil
        }
    }
}

/// A property value as the reader keeps it: where it is in the source.
enum PropertyValue: Equatable {
    case null
    case string(Range<Int>)
    case number(Range<Int>)
    /// An array, by the index of its `[` (read later, when the currency is known).
    case array(Int)
}

/// One object's members, read once: the kind's known properties by slot, and where every other
/// member is, to be copied after the known ones.
struct ObjectMembers {
    let bytes: UnsafeBufferPointer<UInt8>
    /// By the slot of the name in the caller's list (at most four names).
    var known = InlineArray<4, PropertyValue?>(repeating: nil)
    /// Other members: the key, and the index of the value.
    var others: [(key: Range<Int>, value: Int)] = []

    /// Copies the other members in source order. A name Orbit writes itself (`amount_minor`)
    /// sent by the caller is a rejection, which the full validator words.
    func copyOthers(to writer: inout JSONWriter, unless produced: [StaticString]) throws(NotOnePass) {
        for (key, value) in others {
            for name in produced where bytes[key].equals(name) {
                throw NotOnePass()
            }
            writer.plainKey(bytes, key)
            var cursor = ByteCursor(bytes, at: value)
            try cursor.copyValue(to: &writer, depth: 2)
        }
    }
}

extension ByteCursor {
    /// An object whose `known` names are read into slots (strings, numbers, null, or an array's
    /// position) and whose other members are checked and remembered, to be copied later.
    mutating func members(known names: [StaticString]) throws(NotOnePass) -> ObjectMembers {
        var members = ObjectMembers(bytes: bytes)
        var keys = KeyList()
        try expect(.openBrace)
        if consume(.closeBrace) { return members }
        repeat {
            let key = try plainString()
            try keys.add(key, in: bytes)
            try expect(.colon)
            if let slot = names.firstIndex(where: { bytes[key].equals($0) }) {
                switch try peek() {
                case .quote: members.known[slot] = .string(try plainString())
                case .letterN: try literal("null"); members.known[slot] = .null
                case .minus, .digitZero ... .digitNine: members.known[slot] = .number(try number())
                case .openBracket:
                    members.known[slot] = .array(index)
                    var discard = DiscardingSink()
                    try copyValue(to: &discard, depth: 2)
                default: throw NotOnePass()
                }
            } else {
                skipWhitespace()
                members.others.append((key, index))
                var discard = DiscardingSink()
                try copyValue(to: &discard, depth: 2)
            }
        } while consume(.comma)
        try expect(.closeBrace)
        return members
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// ``IdentifierRules`` for printable ASCII (the only bytes the reader's strings hold):
    /// 1 to 128 characters, no space at either end.
    func isPlainIdentifier(_ range: Range<Int>) -> Bool {
        !range.isEmpty && range.count <= IdentifierRules.maxLength && self[range.lowerBound] != 0x20 && self[range.upperBound - 1] != 0x20
    }

    /// A number lexeme of at most nine plain digits as an integer (so `1`, not `1.0` or `1e0`,
    /// which the full validator does not take as integers either).
    func smallInteger(_ lexeme: Range<Int>) -> Int? {
        guard !lexeme.isEmpty, lexeme.count <= 9 else { return nil }
        var value = 0
        for byte in self[lexeme] {
            guard byte >= .digitZero, byte <= .digitNine else { return nil }
            value = value * 10 + Int(byte - .digitZero)
        }
        return value
    }
}
