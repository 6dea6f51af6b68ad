import OrbitContract
import XCTest

final class JSONParserTests: XCTestCase {
    // MARK: Helpers

    /// Parses and fails the test (returning nil) when the parser throws.
    private func parse(_ text: String, maxDepth: Int = JSONParser.defaultMaxDepth, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        do throws(JSONParseError) {
            return try JSONParser.parse(text, maxDepth: maxDepth)
        } catch {
            XCTFail("unexpected parse error \(error.kind): \(error.message)", file: file, line: line)
            return nil
        }
    }

    /// The error thrown for `bytes`, or nil (and a test failure) when parsing succeeds.
    private func parseError(_ bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth, file: StaticString = #filePath, line: UInt = #line) -> JSONParseError? {
        do throws(JSONParseError) {
            let value = try JSONParser.parse(bytes, maxDepth: maxDepth)
            XCTFail("expected a parse error, got \(value)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    private func parseError(_ text: String, maxDepth: Int = JSONParser.defaultMaxDepth, file: StaticString = #filePath, line: UInt = #line) -> JSONParseError? {
        parseError(Array(text.utf8), maxDepth: maxDepth, file: file, line: line)
    }

    private func assertKind(_ text: String, _ kind: JSONParseError.Kind, maxDepth: Int = JSONParser.defaultMaxDepth, file: StaticString = #filePath, line: UInt = #line) {
        guard let error = parseError(text, maxDepth: maxDepth, file: file, line: line) else { return }
        XCTAssertEqual(error.kind, kind, "input: \(text.debugDescription) message: \(error.message)", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
    }

    private func nested(_ depth: Int, open: String = "[", close: String = "]", inner: String = "1") -> String {
        String(repeating: open, count: depth) + inner + String(repeating: close, count: depth)
    }

    // MARK: Valid documents

    func testParsesScalars() {
        XCTAssertEqual(parse("null"), .null)
        XCTAssertEqual(parse("true"), .bool(true))
        XCTAssertEqual(parse("false"), .bool(false))
        XCTAssertEqual(parse(#""hi""#), .string("hi"))
        XCTAssertEqual(parse("42"), .number(JSONNumber(lexeme: "42")))
        XCTAssertEqual(parse(" \t\r\n 7 \n"), .number(JSONNumber(lexeme: "7")))
    }

    func testParsesNestedDocumentInSourceOrder() throws {
        let text = #"{"b":[1,{"c":null,"d":true}],"a":{"e":[],"f":{}},"z":"x"}"#
        let value = try XCTUnwrap(parse(text))
        let root = try XCTUnwrap(value.objectValue)
        XCTAssertEqual(root.keys, ["b", "a", "z"])
        let array = try XCTUnwrap(root["b"]?.arrayValue)
        XCTAssertEqual(array.count, 2)
        XCTAssertEqual(array[0].numberValue?.lexeme, "1")
        let inner = try XCTUnwrap(array[1].objectValue)
        XCTAssertEqual(inner["c"], .null)
        XCTAssertEqual(inner["d"], .bool(true))
        XCTAssertEqual(root["a"]?.objectValue?["e"], .array([]))
        XCTAssertEqual(root["a"]?.objectValue?["f"], .object(JSONObject()))
        XCTAssertEqual(root["z"]?.stringValue, "x")
        XCTAssertNil(root["missing"])
    }

    func testParsesWhitespaceBetweenTokens() {
        let value = parse(" { \"a\" : [ 1 , 2 ] , \"b\" : { } } ")
        XCTAssertEqual(value, .object(JSONObject([
            ("a", .array([.number(JSONNumber(1)), .number(JSONNumber(2))])),
            ("b", .object(JSONObject())),
        ])))
    }

    func testDecodesSimpleEscapes() {
        XCTAssertEqual(parse(#""q\"b\\s\/b\bf\fn\nr\rt\t""#), .string("q\"b\\s/b\u{08}f\u{0C}n\nr\rt\t"))
    }

    func testDecodesUnicodeEscapes() {
        XCTAssertEqual(parse(#""caf\u00e9""#), .string("café"))
        XCTAssertEqual(parse(#""caf\u00E9""#), .string("café"))
        XCTAssertEqual(parse(#""\u0041\u00e9\u4e2d""#), .string("Aé中"))
        XCTAssertEqual(parse(#""smile \ud83d\ude00!""#), .string("smile 😀!"))
        XCTAssertEqual(parse(#""\uD83D\uDE00""#), .string("😀"))
    }

    func testKeepsRawUTF8InStrings() {
        XCTAssertEqual(parse("\"naïve 😀 中文\""), .string("naïve 😀 中文"))
        // Raw UTF-8 after an escape goes through the slow path.
        XCTAssertEqual(parse("\"\\n naïve 😀\""), .string("\n naïve 😀"))
    }

    func testNumbersKeepTheirLexeme() throws {
        let value = try XCTUnwrap(parse("[19.990, 1e3, -0, 0.5, 1E+2, -1.5e-3, 0, 123456789012345678901234567890]"))
        let lexemes = try XCTUnwrap(value.arrayValue).map { $0.numberValue?.lexeme }
        XCTAssertEqual(lexemes, ["19.990", "1e3", "-0", "0.5", "1E+2", "-1.5e-3", "0", "123456789012345678901234567890"])
    }

    func testNumberAccessors() {
        XCTAssertEqual(JSONNumber(lexeme: "42").int64Value, 42)
        XCTAssertNil(JSONNumber(lexeme: "1.0").int64Value)
        XCTAssertNil(JSONNumber(lexeme: "1e3").int64Value)
        XCTAssertNil(JSONNumber(lexeme: "99999999999999999999").int64Value)
        XCTAssertEqual(JSONNumber(lexeme: "1e3").doubleValue, 1000)
        XCTAssertEqual(JSONNumber(Int64(-7)).lexeme, "-7")
        XCTAssertEqual(JSONNumber(12).description, "12")
    }

    func testTypeNames() {
        XCTAssertEqual(JSONValue.null.typeName, "null")
        XCTAssertEqual(JSONValue.bool(true).typeName, "boolean")
        XCTAssertEqual(JSONValue.number(JSONNumber(1)).typeName, "number")
        XCTAssertEqual(JSONValue.string("").typeName, "string")
        XCTAssertEqual(JSONValue.array([]).typeName, "array")
        XCTAssertEqual(JSONValue.object(JSONObject()).typeName, "object")
    }

    func testObjectSetReplacesInPlaceAndAppendsNewKeys() {
        var object = JSONObject([("a", .number(JSONNumber(1))), ("b", .null)])
        object.set("a", .bool(false))
        object.set("c", .string("x"))
        XCTAssertEqual(object.keys, ["a", "b", "c"])
        XCTAssertEqual(object["a"], .bool(false))
        XCTAssertEqual(object.count, 3)
    }

    func testObjectEqualityIsOrderSensitive() {
        let ab = JSONObject([("a", .null), ("b", .null)])
        let ba = JSONObject([("b", .null), ("a", .null)])
        XCTAssertNotEqual(ab, ba)
        XCTAssertEqual(ab, JSONObject([("a", .null), ("b", .null)]))
    }

    func testAcceptsNestingExactlyAtMaxDepth() {
        XCTAssertNotNil(parse(nested(JSONParser.defaultMaxDepth)))
        XCTAssertNotNil(parse("[[1]]", maxDepth: 2))
        XCTAssertNotNil(parse(#"{"a":{"b":1}}"#, maxDepth: 2))
    }

    func testParsesFromByteCollections() throws {
        let bytes: [UInt8] = Array(#"{"k":[true]}"#.utf8)
        let fromArray = try JSONParser.parse(bytes)
        let fromSlice = try JSONParser.parse(bytes[...])
        XCTAssertEqual(fromArray, fromSlice)
        XCTAssertEqual(fromArray.objectValue?["k"], .array([.bool(true)]))
    }

    // MARK: Errors

    func testTruncatedDocumentsAreMalformed() {
        for text in ["", "   ", "{", "[", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,"#, "[1,2", #""abc"#, #""ab\"#, "tru", "nul", "-", "1.", "1e", "1e+", #""\u12""#] {
            assertKind(text, .malformed)
        }
    }

    func testTrailingGarbageIsMalformed() {
        for text in ["{} x", "1 2", "[1]]", "{}}", "null,", "true false", #""a" "b""#] {
            assertKind(text, .malformed)
        }
    }

    func testTrailingGarbageOffsetPointsAtTheGarbage() throws {
        let error = try XCTUnwrap(parseError("{}  x"))
        XCTAssertEqual(error.kind, .malformed)
        XCTAssertEqual(error.offset, 4)
    }

    func testLeadingZerosAreMalformed() {
        for text in ["01", "-01", "[00]", #"{"a":012}"#] {
            assertKind(text, .malformed)
        }
    }

    func testOtherGrammarViolationsAreMalformed() {
        for text in [
            "[1,]", #"{"a":1,}"#, "{a:1}", "{'a':1}", "[01.5]", "+1", ".5", "NaN", "Infinity", "True", "nulL",
            #"{"a" 1}"#, "[1 2]", #""\x""#, #""\u00zz""#, "'single'", #"{"a":1 "b":2}"#,
        ] {
            assertKind(text, .malformed)
        }
    }

    func testDuplicateKeyIsReportedWithKeyAndOffset() throws {
        let error = try XCTUnwrap(parseError(#"{"a":1,"a":2}"#))
        XCTAssertEqual(error.kind, .duplicateKey("a"))
        XCTAssertEqual(error.offset, 7)
        XCTAssertTrue(error.message.contains("\"a\""), error.message)
    }

    func testDuplicateKeyInNestedObject() {
        assertKind(#"{"outer":{"x":1,"y":2,"x":3}}"#, .duplicateKey("x"))
        assertKind(#"[{"k":null,"k":null}]"#, .duplicateKey("k"))
    }

    func testDuplicateKeyInLargeObjectUsesSetPath() {
        // More than 16 members before the repeat, so the parser has switched to its set.
        let members = (0..<20).map { #""k\#($0)":\#($0)"# }
        assertKind("{" + members.joined(separator: ",") + #","k3":0}"#, .duplicateKey("k3"))
        assertKind("{" + members.joined(separator: ",") + #","k19":0}"#, .duplicateKey("k19"))
        // Exactly at the switch: 16 members, then a repeat of the first one.
        let sixteen = (0..<16).map { #""k\#($0)":\#($0)"# }
        assertKind("{" + sixteen.joined(separator: ",") + #","k0":0}"#, .duplicateKey("k0"))
        // Repeats after the switch, between keys that were themselves added after it.
        let thirty = (0..<30).map { #""k\#($0)":\#($0)"# }
        assertKind("{" + thirty.joined(separator: ",") + #","k25":0}"#, .duplicateKey("k25"))
    }

    func testLargeObjectWithoutDuplicatesParses() throws {
        let members = (0..<200).map { #""key\#($0)":\#($0)"# }
        let value = try XCTUnwrap(parse("{" + members.joined(separator: ",") + "}"))
        let object = try XCTUnwrap(value.objectValue)
        XCTAssertEqual(object.count, 200)
        XCTAssertEqual(object["key199"]?.numberValue?.lexeme, "199")
        XCTAssertEqual(object.keys.first, "key0")
    }

    func testNestingDeeperThanMaxDepthIsTooDeep() {
        assertKind(nested(JSONParser.defaultMaxDepth + 1), .tooDeep)
        assertKind(nested(1000), .tooDeep)
        assertKind(nested(40, open: #"{"a":"#, close: "}"), .tooDeep)
        assertKind("[[[1]]]", .tooDeep, maxDepth: 2)
        assertKind(#"{"a":{"b":{}}}"#, .tooDeep, maxDepth: 2)
        assertKind(#"[{"a":[1]}]"#, .tooDeep, maxDepth: 2)
    }

    func testLoneSurrogatesAreInvalidStrings() {
        for text in [
            #""\ud83d""#,          // lone high surrogate at the end
            #""\ud83dx""#,         // high surrogate followed by a plain character
            #""\ude00""#,          // lone low surrogate
            #""\ud83d\u0041""#,    // high surrogate followed by a non-surrogate escape
            #""\ud83d\ud83d""#,    // two high surrogates
            #"{"id":"a\udfffb"}"#,
        ] {
            assertKind(text, .invalidString)
        }
    }

    func testRawControlCharacterInStringIsMalformed() {
        for control: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] {
            var bytes = Array(#""a"#.utf8)
            bytes.append(control)
            bytes.append(contentsOf: Array(#"b""#.utf8))
            let error = parseError(bytes)
            XCTAssertEqual(error?.kind, .malformed, "control byte \(control)")
            XCTAssertEqual(error?.offset, 2, "control byte \(control)")
        }
        // After an escape (the slow path) too.
        let slow: [UInt8] = Array(#""\n"#.utf8) + [0x0A, UInt8(ascii: "\"")]
        XCTAssertEqual(parseError(slow)?.kind, .malformed)
    }

    func testDeleteCharacterIsAllowedRaw() {
        XCTAssertEqual(parse("\"a\u{7F}b\""), .string("a\u{7F}b"))
    }

    // MARK: Writer

    func testWriterRoundTripReparsesEqual() throws {
        let documents = [
            #"{"b":[1,{"c":null,"d":true}],"a":{"e":[],"f":{}},"z":"x"}"#,
            #"[19.990,1e3,-0,0.5,1E+2,-1.5e-3,false,null,"",{}]"#,
            #"{"s":"q\"b\\s\/b\bf\fn\nr\rt\t\u0001\u001f caf\u00e9 \ud83d\ude00"}"#,
            #""just a string""#,
            "12345678901234567890.5e-7",
            "{ \"spaced\" : [ 1 , 2 ] }",
        ]
        for text in documents {
            let value = try XCTUnwrap(parse(text))
            let encoded = JSONWriter.encode(value)
            let reparsed = try JSONParser.parse(encoded)
            XCTAssertEqual(reparsed, value, text)
            // Encoding is a fixed point after one round.
            XCTAssertEqual(JSONWriter.encode(reparsed), encoded, text)
        }
    }

    func testWriterIsCompactAndKeepsOrder() throws {
        let value = try XCTUnwrap(parse(" { \"z\" : 1 , \"a\" : [ true , null ] , \"m\" : { } } "))
        XCTAssertEqual(String(decoding: JSONWriter.encode(value), as: UTF8.self), #"{"z":1,"a":[true,null],"m":{}}"#)
    }

    func testWriterEscapesQuotesBackslashAndNewline() {
        let encoded = String(decoding: JSONWriter.encode(.string("say \"hi\"\\now\nthen\r\tend")), as: UTF8.self)
        XCTAssertEqual(encoded, #""say \"hi\"\\now\nthen\r\tend""#)
    }

    func testWriterEscapesControlCharactersAsUnicode() {
        let encoded = String(decoding: JSONWriter.encode(.string("a\u{00}b\u{01}c\u{08}d\u{0C}e\u{1F}f")), as: UTF8.self)
        XCTAssertEqual(encoded, #""a\u0000b\u0001c\u0008d\u000ce\u001ff""#)
    }

    func testWriterLeavesNonASCIIAndSlashUnescaped() {
        let encoded = JSONWriter.encode(.string("café/😀"))
        XCTAssertEqual(encoded, Array("\"café/😀\"".utf8))
        // Slow path (something needs escaping) keeps multi-byte sequences intact too.
        let mixed = JSONWriter.encode(.string("é\"😀"))
        XCTAssertEqual(mixed, Array(#""é\"😀""#.utf8))
    }

    func testWriterEscapesKeys() throws {
        let value = JSONValue.object(JSONObject([("we\"ird\nkey", .number(JSONNumber(1)))]))
        let encoded = JSONWriter.encode(value)
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #"{"we\"ird\nkey":1}"#)
        XCTAssertEqual(try JSONParser.parse(encoded), value)
    }

    func testWriterStringInPartsEqualsTheWholeString() throws {
        var parts = JSONWriter()
        parts.beginArray()
        parts.beginString(); parts.stringPart("u\"1"); parts.stringPart(ascii: ":"); parts.stringPart(Int64(-20431)); parts.stringPart("é\n"); parts.endString()
        parts.beginString(); parts.endString()
        parts.endArray()
        XCTAssertEqual(parts.bytes, JSONWriter.encode(.array([.string("u\"1:-20431é\n"), .string("")])))
    }

    func testWriterCommasAcrossNestedLevels() throws {
        let text = #"{"a":[[],{},[1,{"b":[2,3]}],4],"c":{"d":{}},"e":5}"#
        XCTAssertEqual(String(decoding: JSONWriter.encode(try JSONParser.parse(text)), as: UTF8.self), text)
    }

    func testWriterStreamingAPI() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a"); writer.int(1)
        writer.key("b")
        writer.beginArray()
        writer.bool(true); writer.null(); writer.string("s"); writer.int(Int64(-2)); writer.number(JSONNumber(lexeme: "1.50"))
        writer.endArray()
        writer.key("c"); writer.beginObject(); writer.endObject()
        writer.key("t"); writer.timestamp(millis: 0)
        writer.endObject()
        XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self),
                       #"{"a":1,"b":[true,null,"s",-2,1.50],"c":{},"t":"1970-01-01T00:00:00.000Z"}"#)
    }

    func testWriterIsDeterministic() throws {
        let value = try XCTUnwrap(parse(#"{"a":[1,2,{"b":"c\n"}],"d":"é"}"#))
        XCTAssertEqual(JSONWriter.encode(value), JSONWriter.encode(value))
    }

    /// Commas stay right below, at and beyond the 64 levels the writer keeps in one word.
    func testWriterCommasAcrossMoreThanSixtyFourLevels() throws {
        for depth in [63, 64, 65, 130] {
            var value = JSONValue.array([.number(JSONNumber(1)), .string("x")])
            for level in 0..<depth {
                value = level.isMultiple(of: 2)
                    ? .array([.number(JSONNumber(level)), value, .bool(true)])
                    : .object(JSONObject([("a", .null), ("b", value), ("c", .number(JSONNumber(level)))]))
            }
            let bytes = JSONWriter.encode(value)
            XCTAssertEqual(try JSONParser.parse(bytes, maxDepth: depth + 2), value, "depth \(depth)")
        }
    }
}
