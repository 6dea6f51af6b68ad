extension UserEvent {
    /// Reads a record of `orbit.user-events.valid` back, as ``decode(_:)-(some Collection<UInt8>)``
    /// does, with the same result and the same errors.
    ///
    /// Every service downstream of ingestion reads every event, and building the record's JSON tree
    /// only to take five members out of it was a tenth of the scorer's CPU. Records as ingestion
    /// writes them (printable ASCII, no escapes at the top level) are read in one pass, with only
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
        try cursor.expect(UInt8(ascii: "{"))
        repeat {
            let name = try cursor.plainString()
            try keys.add(name, in: bytes)
            try cursor.expect(UInt8(ascii: ":"))
            let field = bytes[name]
            if field.equals("id") { id = try cursor.plainString() }
            else if field.equals("user_id") { user = try cursor.plainString() }
            else if field.equals("type") { type = try cursor.plainString() }
            else if field.equals("time") { time = try cursor.plainString() }
            else {
                let start = cursor.index
                var discard = DiscardingSink()
                try cursor.copyValue(to: &discard, depth: 1)
                guard field.equals("properties") else { continue }
                let value: JSONValue
                // One level less than a whole record's parse allows: `properties` sits one level in.
                do { value = try JSONParser.parse(UnsafeBufferPointer(rebasing: bytes[start..<cursor.index]), maxDepth: JSONParser.defaultMaxDepth - 1) } catch { throw NotOnePass() }
                switch value {
                case .null: properties = JSONObject()
                case .object(let given): properties = given
                default: throw NotOnePass()
                }
            }
        } while cursor.consume(UInt8(ascii: ","))
        try cursor.expect(UInt8(ascii: "}"))
        cursor.skipWhitespace()
        guard cursor.index == bytes.count, let id, let user, let type, let time else { throw NotOnePass() }
        let millis: Int64
        do { millis = try RFC3339.parse(utf8: UnsafeBufferPointer(rebasing: bytes[time])) } catch { throw NotOnePass() }
        func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        return UserEvent(id: string(id), userID: string(user), type: EventType(string(type)), timeMillis: millis, properties: properties)
    }
}
