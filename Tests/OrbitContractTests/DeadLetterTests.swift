import OrbitContract
import XCTest

final class DeadLetterTests: XCTestCase {
    private let source = DeadLetter.Source(topic: OrbitTopics.userEvents, partition: 3, offset: 42, timestampMillis: 1_772_366_400_000)

    private func decode(_ letter: DeadLetter, file: StaticString = #filePath, line: UInt = #line) throws -> JSONObject {
        let bytes = letter.encoded()
        return try XCTUnwrap(try JSONParser.parse(bytes).objectValue, "dead letter is not a JSON object", file: file, line: line)
    }

    // MARK: Base64

    func testBase64KnownVectors() {
        // RFC 4648, section 10.
        XCTAssertEqual(Base64.encode([]), "")
        XCTAssertEqual(Base64.encode(Array("f".utf8)), "Zg==")
        XCTAssertEqual(Base64.encode(Array("fo".utf8)), "Zm8=")
        XCTAssertEqual(Base64.encode(Array("foo".utf8)), "Zm9v")
        XCTAssertEqual(Base64.encode(Array("foob".utf8)), "Zm9vYg==")
        XCTAssertEqual(Base64.encode(Array("fooba".utf8)), "Zm9vYmE=")
        XCTAssertEqual(Base64.encode(Array("foobar".utf8)), "Zm9vYmFy")
    }

    func testBase64UsesStandardAlphabet() {
        XCTAssertEqual(Base64.encode([0xFB, 0xFF]), "+/8=")
        XCTAssertEqual(Base64.encode([0xFF, 0xFE, 0x00]), "//4A")
        XCTAssertEqual(Base64.encode([0x00, 0x00, 0x00]), "AAAA")
        XCTAssertEqual(Base64.encode(Array(0...255)).count, 344)
    }

    // MARK: Encoding

    func testEncodedDeadLetterCarriesErrorSourceAndPayload() throws {
        let payload = Array(#"{"user_id":"u-1","type":"login"}"#.utf8)
        let letter = DeadLetter(rejection: EventRejection(.missingField, field: "id", "id is required"),
                                source: source, key: Array("u-1".utf8), payload: payload)
        let root = try decode(letter)
        XCTAssertEqual(root["schema_version"], .number(JSONNumber(1)))

        let error = try XCTUnwrap(root["error"]?.objectValue)
        XCTAssertEqual(error["code"], .string("missing_field"))
        XCTAssertEqual(error["field"], .string("id"))
        XCTAssertEqual(error["message"], .string("id is required"))

        let origin = try XCTUnwrap(root["source"]?.objectValue)
        XCTAssertEqual(origin["topic"], .string("orbit.user-events"))
        XCTAssertEqual(origin["partition"]?.numberValue?.int64Value, 3)
        XCTAssertEqual(origin["offset"]?.numberValue?.int64Value, 42)
        XCTAssertEqual(origin["timestamp"], .string("2026-03-01T12:00:00.000Z"))

        XCTAssertEqual(root["key"], .string("u-1"))
        XCTAssertEqual(root["key_encoding"], .string("utf8"))
        XCTAssertEqual(root["payload"], .string(#"{"user_id":"u-1","type":"login"}"#))
        XCTAssertEqual(root["payload_encoding"], .string("utf8"))
        XCTAssertNil(root["payload_truncated"])
        XCTAssertNil(root["payload_size"])
    }

    func testEncodedBytesAreExactAndDeterministic() {
        let letter = DeadLetter(rejection: EventRejection(.notAnObject, "the value must be a JSON object, not array"),
                                source: DeadLetter.Source(topic: "t", partition: 0, offset: 7, timestampMillis: nil),
                                key: nil, payload: Array("[1]".utf8))
        let expected = #"{"schema_version":1,"error":{"code":"not_an_object","field":null,"message":"the value must be a JSON object, not array"},"#
            + #""source":{"topic":"t","partition":0,"offset":7,"timestamp":null},"key":null,"payload":"[1]","payload_encoding":"utf8"}"#
        XCTAssertEqual(String(decoding: letter.encoded(), as: UTF8.self), expected)
        XCTAssertEqual(letter.encoded(), letter.encoded())
    }

    func testPayloadWithQuotesAndControlCharactersSurvivesAsText() throws {
        let original = "{\"a\":\"line\nbreak\",\u{01}\"b\\\"}"
        let letter = DeadLetter(rejection: EventRejection(.malformedJSON, "bad"), source: source, key: nil, payload: Array(original.utf8))
        let root = try decode(letter)
        XCTAssertEqual(root["payload"], .string(original))
        XCTAssertEqual(root["payload_encoding"], .string("utf8"))
    }

    func testNonUTF8PayloadIsBase64() throws {
        let letter = DeadLetter(rejection: EventRejection(.invalidEncoding, "value is not valid UTF-8"), source: source,
                                key: [0xC3], payload: [0xFF, 0xFE, 0x00])
        let root = try decode(letter)
        XCTAssertEqual(root["error"]?.objectValue?["code"], .string("invalid_encoding"))
        XCTAssertEqual(root["error"]?.objectValue?["field"], .null)
        XCTAssertEqual(root["payload"], .string("//4A"))
        XCTAssertEqual(root["payload_encoding"], .string("base64"))
        XCTAssertEqual(root["key"], .string("ww=="))
        XCTAssertEqual(root["key_encoding"], .string("base64"))
    }

    func testMissingKeyAndPayloadAreNull() throws {
        let letter = DeadLetter(rejection: EventRejection(.emptyPayload, "the record has no value"), source: source, key: nil, payload: nil)
        let root = try decode(letter)
        XCTAssertEqual(root["key"], .null)
        XCTAssertEqual(root["payload"], .null)
        XCTAssertNil(root["payload_encoding"])
        XCTAssertNil(root["key_encoding"])
        XCTAssertEqual(root["error"]?.objectValue?["code"], .string("empty_payload"))
    }

    func testEmptyPayloadIsEmptyText() throws {
        let letter = DeadLetter(rejection: EventRejection(.emptyPayload, "the record has no value"), source: source, key: [], payload: [])
        let root = try decode(letter)
        XCTAssertEqual(root["payload"], .string(""))
        XCTAssertEqual(root["payload_encoding"], .string("utf8"))
        XCTAssertEqual(root["key"], .string(""))
    }

    func testLargePayloadIsTruncated() throws {
        let payload = Array(String(repeating: "x", count: 20).utf8)
        let letter = DeadLetter(rejection: EventRejection(.payloadTooLarge, "too large"), source: source, key: nil, payload: payload, maxPayloadBytes: 8)
        let root = try decode(letter)
        XCTAssertEqual(root["payload"], .string("xxxxxxxx"))
        XCTAssertEqual(root["payload_encoding"], .string("utf8"))
        XCTAssertEqual(root["payload_size"]?.numberValue?.int64Value, 20)
        XCTAssertEqual(root["payload_truncated"], .bool(true))
    }

    func testPayloadAtTheLimitIsNotTruncated() throws {
        let payload = Array("12345678".utf8)
        let letter = DeadLetter(rejection: EventRejection(.malformedJSON, "bad"), source: source, key: nil, payload: payload, maxPayloadBytes: 8)
        let root = try decode(letter)
        XCTAssertEqual(root["payload"], .string("12345678"))
        XCTAssertNil(root["payload_truncated"])
        XCTAssertNil(root["payload_size"])
    }

    func testTruncationInsideAMultiByteCharacterFallsBackToBase64() throws {
        let payload = Array("ééééé".utf8)  // 10 bytes; a 3-byte cut splits the second character
        let letter = DeadLetter(rejection: EventRejection(.payloadTooLarge, "too large"), source: source, key: nil, payload: payload, maxPayloadBytes: 3)
        let root = try decode(letter)
        XCTAssertEqual(root["payload"], .string("w6nD"))
        XCTAssertEqual(root["payload_encoding"], .string("base64"))
        XCTAssertEqual(root["payload_size"]?.numberValue?.int64Value, 10)
        XCTAssertEqual(root["payload_truncated"], .bool(true))
    }

    func testDefaultLimitKeepsLargePayloadsUpTo512KiB() throws {
        let payload = [UInt8](repeating: UInt8(ascii: "a"), count: 512 * 1024 + 100)
        let letter = DeadLetter(rejection: EventRejection(.payloadTooLarge, "too large"), source: source, key: nil, payload: payload)
        let root = try decode(letter)
        XCTAssertEqual(root["payload"]?.stringValue?.utf8.count, 512 * 1024)
        XCTAssertEqual(root["payload_size"]?.numberValue?.int64Value, Int64(payload.count))
        XCTAssertEqual(root["payload_truncated"], .bool(true))
    }

    func testLongKeyIsTruncatedAt4096Bytes() throws {
        let key = [UInt8](repeating: UInt8(ascii: "k"), count: 5000)
        let letter = DeadLetter(rejection: EventRejection(.malformedJSON, "bad"), source: source, key: key, payload: Array("x".utf8))
        let root = try decode(letter)
        XCTAssertEqual(root["key"]?.stringValue?.utf8.count, 4096)
        XCTAssertEqual(root["key_size"]?.numberValue?.int64Value, 5000)
        XCTAssertEqual(root["key_truncated"], .bool(true))
        XCTAssertNil(root["payload_truncated"])
    }

    func testRejectionFromValidatorBecomesADeadLetter() throws {
        let payload = Array(#"{"id":42,"user_id":"u","type":"login","time":"2026-03-01T11:00:00Z"}"#.utf8)
        guard case .failure(let rejection) = EventValidator(policy: ValidationPolicy()).validate(payload, referenceTimeMillis: 1_772_366_400_000) else {
            return XCTFail("expected a rejection")
        }
        let root = try decode(DeadLetter(rejection: rejection, source: source, key: Array("u".utf8), payload: payload))
        XCTAssertEqual(root["error"]?.objectValue?["code"], .string("wrong_type"))
        XCTAssertEqual(root["error"]?.objectValue?["field"], .string("id"))
        // The original value is kept untouched and can be validated again.
        let kept = try XCTUnwrap(root["payload"]?.stringValue)
        XCTAssertEqual(Array(kept.utf8), payload)
    }
}
