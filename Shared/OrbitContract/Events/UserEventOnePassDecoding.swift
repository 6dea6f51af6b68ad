extension UserEvent {
    /// Reads a record of `orbit.user-events.valid` back, as ``decode(_:)-(some Collection<UInt8>)``
    /// does, with the same result and the same errors.
    ///
    /// Every service downstream of ingestion reads every event, and building the record's JSON tree
    /// only to take five members out of it was a tenth of the scorer's CPU. Records as ingestion
    /// writes them (printable ASCII, no escapes outside `properties`) are read in one pass, with only
    /// `properties` parsed as a tree; anything else, including every record that fails to decode,
    /// goes through the full parser.
    public static func decode(_ bytes: [UInt8]) throws -> UserEvent {
        if let event = bytes.withUnsafeBufferPointer({ try? readInOnePass($0) }) { return event }
        return try decode(bytes[...])
    }

    private static func readInOnePass(_ bytes: UnsafeBufferPointer<UInt8>) throws(NotOnePass) -> UserEvent {
        var cursor = ByteCursor(bytes)
        var id: Range<Int>?, user: Range<Int>?, type: Range<Int>?, time: Range<Int>?
        var properties = JSONObject()
        var keys = KeyList()
        try cursor.expect(.openBrace)
        repeat {
            let name = try cursor.plainString()
            try keys.add(name, in: bytes)
            try cursor.expect(.colon)
            let field = bytes[name]
            if field.equals("id") { id = try cursor.plainString() }
            else if field.equals("user_id") { user = try cursor.plainString() }
            else if field.equals("type") { type = try cursor.plainString() }
            else if field.equals("time") { time = try cursor.plainString() }
            else if field.equals("properties") {
                // Parsed where it lies, by the full parser, which also finds where it ends: any
                // string the parser takes (escapes, non-ASCII) is read here as the full decoding
                // reads it. One level less than a whole record's parse allows: `properties` sits
                // one level in.
                cursor.skipWhitespace()
                let value: JSONValue, end: Int
                do { (value, end) = try JSONParser.parseValue(in: bytes, at: cursor.index, maxDepth: JSONParser.defaultMaxDepth - 1) } catch { throw NotOnePass() }
                cursor = ByteCursor(bytes, at: end)
                switch value {
                case .null: properties = JSONObject()
                case .object(let given): properties = given
                default: throw NotOnePass()
                }
            } else {
                var discard = DiscardingSink()
                try cursor.copyValue(to: &discard, depth: 1)
            }
        } while cursor.consume(.comma)
        try cursor.expect(.closeBrace)
        cursor.skipWhitespace()
        guard cursor.index == bytes.count, let id, let user, let type, let time else { throw NotOnePass() }
        let millis: Int64
        do { millis = try RFC3339.parse(utf8: UnsafeBufferPointer(rebasing: bytes[time])) } catch { throw NotOnePass() }
        func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        return UserEvent(id: string(id), userID: string(user), type: EventType(string(type)), timeMillis: millis, properties: properties)
    }
}
