/// Reads the members of one JSON object in a single pass, for decoders of Orbit's own records
/// that take a dozen fields out of each record on a hot path (the delivery stage's outbox).
///
/// `JSONParser.parse` builds the whole tree, and a decoder then finds each field by comparing its
/// name with every member's, after the parser has compared every name with every other one to
/// refuse duplicates: for a record of fifteen members, two hundred string comparisons and an
/// array of members that is thrown away. Here each member's name is compared as bytes, once, with
/// the names the caller wants, and its value is parsed where it lies by `JSONParser` (the same
/// grammar, the same strings). A record this reader does not take, because a name has an escape
/// or a byte outside printable ASCII, there are more than 16 members, a name repeats, or it is not
/// JSON at all, throws ``NotReadable``: the caller then decodes with the full parser, which gives
/// the result or the error, so a record reads the same either way.
public enum JSONMembers {
    /// Not for this reader: the caller uses `JSONParser`.
    public struct NotReadable: Error {}

    /// Calls `member` with each member of the object `bytes` holds, in order: its name and its
    /// value, parsed with at most `maxDepth - 1` further levels (the object is the first).
    public static func forEach(in bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth,
                               _ member: (_ name: JSONMemberName, _ value: JSONValue) -> Void) throws(NotReadable) {
        let outcome = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(NotOnePass) in try readMembers(buffer, maxDepth: maxDepth, member) }
        }
        guard case .success = outcome else { throw NotReadable() }
    }

    /// Reads the object `bytes` holds into `empty`'s copy, member by member, in one pass when this
    /// reader takes the record and with the full parser when not (from `empty` again): `take` is
    /// given each member's value and a test of its name. Nil when the bytes are not one JSON
    /// object (or repeat a name). For the decoders of a service's own small records, which then
    /// read the same either way.
    public static func read<Fields>(_ bytes: [UInt8], into empty: Fields, maxDepth: Int = JSONParser.defaultMaxDepth,
                                    _ take: (inout Fields, _ value: JSONValue, _ named: (StaticString) -> Bool) -> Void) -> Fields? {
        var fields = empty
        do {
            try forEach(in: bytes, maxDepth: maxDepth) { name, value in take(&fields, value) { name.is($0) } }
            return fields
        } catch {
            guard let object = try? JSONParser.parse(bytes, maxDepth: maxDepth).objectValue else { return nil }
            fields = empty
            for member in object.members { take(&fields, member.value) { member.key == $0.description } }
            return fields
        }
    }

    private static func readMembers(_ buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int, _ member: (JSONMemberName, JSONValue) -> Void) throws(NotOnePass) {
        var cursor = ByteCursor(buffer)
        var keys = KeyList()
        try cursor.expect(.openBrace)
        if !cursor.consume(.closeBrace) {
            repeat {
                let name = try cursor.plainString()
                try keys.add(name, in: buffer)
                try cursor.expect(.colon)
                cursor.skipWhitespace()
                let parsed: (value: JSONValue, end: Int)
                do { parsed = try JSONParser.parseValue(in: buffer, at: cursor.index, maxDepth: maxDepth - 1) } catch { throw NotOnePass() }
                cursor = ByteCursor(buffer, at: parsed.end)
                member(JSONMemberName(bytes: buffer[name]), parsed.value)
            } while cursor.consume(.comma)
            try cursor.expect(.closeBrace)
        }
        cursor.skipWhitespace()
        guard cursor.index == buffer.count else { throw NotOnePass() }
    }
}

/// A member's name as ``JSONMembers/forEach(in:maxDepth:_:)`` read it: printable ASCII without
/// escapes. It points into the record's bytes, so it is valid only inside the call it is given
/// to: compare it there, never keep it.
public struct JSONMemberName {
    private let bytes: Slice<UnsafeBufferPointer<UInt8>>

    init(bytes: Slice<UnsafeBufferPointer<UInt8>>) { self.bytes = bytes }

    /// Whether the name is `name`.
    public func `is`(_ name: StaticString) -> Bool { bytes.equals(name) }
}
