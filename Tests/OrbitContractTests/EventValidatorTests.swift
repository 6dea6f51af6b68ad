import OrbitContract
import XCTest

/// Builds input events as JSON text. Values are raw JSON fragments, so a test can put any type
/// (or any escape sequence) in any field; `q` quotes a plain string.
private struct EventJSON {
    /// 2026-03-01T12:00:00Z: the receive time used as the reference in these tests.
    static let reference: Int64 = 1_772_366_400_000

    private(set) var members: [(key: String, raw: String)]

    init(type: String = "login", time: String = "2026-03-01T11:00:00Z", properties: String? = nil) {
        members = [("id", q("evt-1")), ("user_id", q("user-1")), ("type", q(type)), ("time", q(time))]
        if let properties { members.append(("properties", properties)) }
    }

    /// Replaces a member in place, or appends it.
    func with(_ key: String, raw: String) -> EventJSON {
        var copy = self
        if let index = copy.members.firstIndex(where: { $0.key == key }) {
            copy.members[index].raw = raw
        } else {
            copy.members.append((key, raw))
        }
        return copy
    }

    func with(_ key: String, string: String) -> EventJSON { with(key, raw: q(string)) }

    /// Appends a member even when the key is already present (for duplicate-key input).
    func appending(_ key: String, raw: String) -> EventJSON {
        var copy = self
        copy.members.append((key, raw))
        return copy
    }

    func without(_ key: String) -> EventJSON {
        var copy = self
        copy.members.removeAll { $0.key == key }
        return copy
    }

    var text: String { "{" + members.map { "\"\($0.key)\":\($0.raw)" }.joined(separator: ",") + "}" }
    var bytes: [UInt8] { Array(text.utf8) }
}

/// Quotes a string that needs no JSON escaping.
private func q(_ text: String) -> String { "\"" + text + "\"" }

/// The text's UTF-8 with every `@` replaced by `bytes` (to splice invalid UTF-8 into valid JSON).
private func splice(_ text: String, _ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for byte in text.utf8 {
        if byte == UInt8(ascii: "@") { out.append(contentsOf: bytes) } else { out.append(byte) }
    }
    return out
}

private func item(sku: String = "sku-1", quantity: String = "1", price: String = #""1.00""#, extra: String = "") -> String {
    #"{"sku":"\#(sku)","quantity":\#(quantity),"price":\#(price)\#(extra)}"#
}

private func purchase(amount: String = #""19.99""#, currency: String? = #""USD""#, items: [String]? = nil, extra: String = "") -> EventJSON {
    var properties = #"{"order_id":"o-1","amount":\#(amount)"#
    if let currency { properties += #","currency":\#(currency)"# }
    if let items {
        let list = items.joined(separator: ",")
        properties += #","items":[\#(list)]"#
    }
    properties += extra + "}"
    return EventJSON(type: "purchase", properties: properties)
}

final class EventValidatorTests: XCTestCase {
    // MARK: Helpers

    private func validate(_ payload: [UInt8]?, policy: ValidationPolicy, reference: Int64) -> Result<UserEvent, EventRejection> {
        EventValidator(policy: policy).validate(payload, referenceTimeMillis: reference)
    }

    private func accept(_ payload: [UInt8]?, policy: ValidationPolicy = ValidationPolicy(), reference: Int64 = EventJSON.reference,
                        file: StaticString = #filePath, line: UInt = #line) -> UserEvent? {
        switch validate(payload, policy: policy, reference: reference) {
        case .success(let event):
            return event
        case .failure(let rejection):
            XCTFail("rejected with \(rejection.code.rawValue) (\(rejection.field ?? "no field")): \(rejection.message)", file: file, line: line)
            return nil
        }
    }

    private func accept(_ event: EventJSON, policy: ValidationPolicy = ValidationPolicy(), reference: Int64 = EventJSON.reference,
                        file: StaticString = #filePath, line: UInt = #line) -> UserEvent? {
        accept(event.bytes, policy: policy, reference: reference, file: file, line: line)
    }

    /// Asserts the exact code and the exact field (nil when the rejection has no field).
    private func assertRejected(_ payload: [UInt8]?, _ code: RejectionCode, field: String?, policy: ValidationPolicy = ValidationPolicy(),
                                reference: Int64 = EventJSON.reference, file: StaticString = #filePath, line: UInt = #line) {
        switch validate(payload, policy: policy, reference: reference) {
        case .success(let event):
            XCTFail("accepted \(event), expected \(code.rawValue)", file: file, line: line)
        case .failure(let rejection):
            XCTAssertEqual(rejection.code, code, "message: \(rejection.message)", file: file, line: line)
            XCTAssertEqual(rejection.field, field, "message: \(rejection.message)", file: file, line: line)
            XCTAssertFalse(rejection.message.isEmpty, file: file, line: line)
        }
    }

    private func assertRejected(_ event: EventJSON, _ code: RejectionCode, field: String?, policy: ValidationPolicy = ValidationPolicy(),
                                reference: Int64 = EventJSON.reference, file: StaticString = #filePath, line: UInt = #line) {
        assertRejected(event.bytes, code, field: field, policy: policy, reference: reference, file: file, line: line)
    }

    private func assertRejected(_ text: String, _ code: RejectionCode, field: String?, policy: ValidationPolicy = ValidationPolicy(),
                                file: StaticString = #filePath, line: UInt = #line) {
        assertRejected(Array(text.utf8), code, field: field, policy: policy, file: file, line: line)
    }

    private func json(_ object: JSONObject) -> String { String(decoding: JSONWriter.encode(.object(object)), as: UTF8.self) }

    // MARK: Accepted events

    func testMinimalLoginIsAccepted() throws {
        let event = try XCTUnwrap(accept(EventJSON()))
        XCTAssertEqual(event.id, "evt-1")
        XCTAssertEqual(event.userID, "user-1")
        XCTAssertEqual(event.type, .login)
        XCTAssertEqual(event.timeMillis, EventJSON.reference - 3_600_000)
        XCTAssertEqual(event.properties, JSONObject())
    }

    func testPurchaseIsNormalised() throws {
        let input = EventJSON(type: "PURCHASE", time: "2026-03-01T13:00:00+02:00", properties: #"""
            {"order_id":"o-1","amount":"19.99","currency":"USD","coupon":"SPRING",
             "items":[{"sku":"sku-1","quantity":2,"price":9.99,"color":"red"}],"meta":{"a":[1,2.50]}}
            """#)
        let event = try XCTUnwrap(accept(input))
        XCTAssertEqual(event.type, .purchase)
        XCTAssertEqual(event.type.name, "purchase")
        XCTAssertEqual(event.timeMillis, try RFC3339.parse("2026-03-01T11:00:00Z"))
        XCTAssertEqual(event.properties["amount_minor"], .number(JSONNumber(1999)))
        XCTAssertNil(event.properties["amount"])
        XCTAssertEqual(event.properties["currency"], .string("USD"))
        // Known keys first, then the caller's own keys in their original order.
        XCTAssertEqual(event.properties.keys, ["order_id", "amount_minor", "currency", "items", "coupon", "meta"])
        XCTAssertEqual(event.properties["coupon"], .string("SPRING"))
        XCTAssertEqual(json(try XCTUnwrap(event.properties["meta"]?.objectValue)), #"{"a":[1,2.50]}"#)
        let items = try XCTUnwrap(event.properties["items"]?.arrayValue)
        XCTAssertEqual(items.count, 1)
        let first = try XCTUnwrap(items[0].objectValue)
        XCTAssertEqual(first.keys, ["sku", "quantity", "price_minor", "color"])
        XCTAssertEqual(first["price_minor"], .number(JSONNumber(999)))
        XCTAssertNil(first["price"])
        XCTAssertEqual(first["quantity"], .number(JSONNumber(2)))
        XCTAssertEqual(first["color"], .string("red"))
    }

    func testPurchaseEncodesToExactBytes() throws {
        let input = EventJSON(type: "PURCHASE", time: "2026-03-01T13:00:00+02:00", properties:
            #"{"order_id":"o-1","amount":"19.99","currency":"usd","coupon":"SPRING","items":[{"sku":"sku-1","quantity":2,"price":9.99,"color":"red"}]}"#)
        let event = try XCTUnwrap(accept(input))
        let expected = #"{"schema_version":1,"id":"evt-1","user_id":"user-1","type":"purchase","time":"2026-03-01T11:00:00.000Z","#
            + #""properties":{"order_id":"o-1","amount_minor":1999,"currency":"USD","#
            + #""items":[{"sku":"sku-1","quantity":2,"price_minor":999,"color":"red"}],"coupon":"SPRING"}}"#
        XCTAssertEqual(String(decoding: event.encoded(), as: UTF8.self), expected)
    }

    func testAmountAsNumberOrStringGivesTheSameMinorUnits() throws {
        let fromString = try XCTUnwrap(accept(purchase(amount: #""19.99""#)))
        let fromNumber = try XCTUnwrap(accept(purchase(amount: "19.99")))
        let fromExponent = try XCTUnwrap(accept(purchase(amount: "1.999e1")))
        XCTAssertEqual(fromString.properties["amount_minor"], .number(JSONNumber(1999)))
        XCTAssertEqual(fromNumber.properties, fromString.properties)
        XCTAssertEqual(fromExponent.properties, fromString.properties)
    }

    func testLowercaseCurrencyIsAcceptedAndUppercased() throws {
        let event = try XCTUnwrap(accept(purchase(currency: #""usd""#)))
        XCTAssertEqual(event.properties["currency"], .string("USD"))
        XCTAssertEqual(event.properties["amount_minor"], .number(JSONNumber(1999)))
    }

    func testCurrencyDigitsApply() throws {
        let yen = try XCTUnwrap(accept(purchase(amount: "1500", currency: #""JPY""#)))
        XCTAssertEqual(yen.properties["amount_minor"], .number(JSONNumber(1500)))
        let dinar = try XCTUnwrap(accept(purchase(amount: #""1.234""#, currency: #""kwd""#, items: [item(price: #""0.005""#)])))
        XCTAssertEqual(dinar.properties["amount_minor"], .number(JSONNumber(1234)))
        XCTAssertEqual(dinar.properties["currency"], .string("KWD"))
        XCTAssertEqual(dinar.properties["items"]?.arrayValue?.first?.objectValue?["price_minor"], .number(JSONNumber(5)))
    }

    func testEncodedOutputDecodesBackAndIsDeterministic() throws {
        let input = purchase(items: [item(), item(sku: "sku-2", quantity: "3", price: "0.5", extra: #","note":"é \ud83d\ude00""#)])
        let event = try XCTUnwrap(accept(input))
        let first = event.encoded()
        let second = event.encoded()
        XCTAssertEqual(first, second)
        XCTAssertEqual(try UserEvent.decode(first), event)
        // Validating the same bytes again gives the same record, byte for byte (replay safety).
        let again = try XCTUnwrap(accept(input))
        XCTAssertEqual(again.encoded(), first)
        // The output is itself valid JSON that a strict parser accepts.
        let root = try XCTUnwrap(try JSONParser.parse(first).objectValue)
        XCTAssertEqual(root.keys, ["schema_version", "id", "user_id", "type", "time", "properties"])
        XCTAssertEqual(root["schema_version"], .number(JSONNumber(1)))
    }

    func testRoundTripOfEveryBuiltInKind() throws {
        let cases: [EventJSON] = [
            EventJSON(type: "signup", properties: #"{"source":"ad","nested":{"k":[true]}}"#),
            EventJSON(type: "login"),
            EventJSON(type: "check_in", properties: "null"),
            purchase(items: [item()]),
            EventJSON(type: "refund", properties: #"{"order_id":"o-1","amount":"5.00","currency":"EUR"}"#),
            EventJSON(type: "referral", properties: #"{"referred_user_id":"user-2"}"#),
            EventJSON(type: "post", properties: #"{"content_id":"c-1","channel":"general","text":"hi"}"#),
            EventJSON(type: "comment", properties: "{}"),
            EventJSON(type: "like", properties: #"{"content_id":"c-1"}"#),
            EventJSON(type: "share", properties: #"{"channel":null}"#),
            EventJSON(type: "subscription_started", properties: #"{"plan":"pro","amount":"9.99","currency":"EUR","period_end":"2026-04-01T00:00:00+01:00"}"#),
            EventJSON(type: "subscription_renewed", properties: #"{"plan":"pro"}"#),
            EventJSON(type: "subscription_cancelled", properties: #"{"plan":"pro","currency":"gbp"}"#),
            EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"inv-1","amount":"12.50","currency":"USD","days_overdue":3}"#),
            EventJSON(type: "complaint", properties: #"{"ticket_id":"t-1","severity":"HIGH"}"#),
            EventJSON(type: "coupon_used", properties: #"{"code":"0123-4567-89AB-CDEF","order_id":"o-1"}"#),
        ]
        let typeNames = cases.map { event in event.members.first(where: { $0.key == "type" })?.raw ?? "" }
        XCTAssertEqual(Set(typeNames).count, EventType.builtIn.count)
        for input in cases {
            let event = try XCTUnwrap(accept(input), input.text)
            XCTAssertTrue(EventType.builtInSet.contains(event.type), input.text)
            XCTAssertEqual(try UserEvent.decode(event.encoded()), event, input.text)
        }
    }

    func testSubscriptionIsNormalised() throws {
        let event = try XCTUnwrap(accept(EventJSON(type: "subscription_started", properties:
            #"{"plan":"pro","amount":"9.99","currency":"eur","period_end":"2026-04-01T00:00:00+01:00"}"#)))
        XCTAssertEqual(json(event.properties), #"{"plan":"pro","amount_minor":999,"currency":"EUR","period_end":"2026-03-31T23:00:00.000Z"}"#)
        let currencyOnly = try XCTUnwrap(accept(EventJSON(type: "subscription_cancelled", properties: #"{"plan":"pro","currency":"gbp"}"#)))
        XCTAssertEqual(json(currencyOnly.properties), #"{"plan":"pro","currency":"GBP"}"#)
    }

    func testACouponUsedEventCarriesTheCanonicalCodeAndItsOrder() throws {
        let event = try XCTUnwrap(accept(EventJSON(type: "coupon_used", properties: #"{"code":"o123-4567-89ab-cdef","order_id":"o-1"}"#)))
        XCTAssertEqual(event.properties["code"]?.stringValue, "0123456789ABCDEF", "as typed by people, kept as the canonical code")
        XCTAssertEqual(event.properties["order_id"]?.stringValue, "o-1")
        assertRejected(EventJSON(type: "coupon_used", properties: #"{"code":"0123456789ABCDEU","order_id":"o-1"}"#), .invalidValue, field: "properties.code")
        assertRejected(EventJSON(type: "coupon_used", properties: #"{"code":"0123","order_id":"o-1"}"#), .invalidValue, field: "properties.code")
        assertRejected(EventJSON(type: "coupon_used", properties: #"{"order_id":"o-1"}"#), .missingField, field: "properties.code")
        assertRejected(EventJSON(type: "coupon_used", properties: #"{"code":"0123456789ABCDEF"}"#), .missingField, field: "properties.order_id")
        assertRejected(EventJSON(type: "coupon_used", properties: #"{"code":12,"order_id":"o-1"}"#), .wrongType, field: "properties.code")
    }

    func testComplaintSeverityIsLowercased() throws {
        let event = try XCTUnwrap(accept(EventJSON(type: "complaint", properties: #"{"ticket_id":"t-1","severity":"HIGH","text":"slow"}"#)))
        XCTAssertEqual(json(event.properties), #"{"ticket_id":"t-1","severity":"high","text":"slow"}"#)
    }

    func testPaymentOverdueWithoutCurrencyUsesPolicyDefault() throws {
        let input = EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"inv-1","amount":"12.50","days_overdue":3}"#)
        let usd = try XCTUnwrap(accept(input))
        XCTAssertEqual(json(usd.properties), #"{"invoice_id":"inv-1","amount_minor":1250,"currency":"USD","days_overdue":3}"#)

        let yenInput = EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"inv-1","amount":1250,"days_overdue":0}"#)
        let yen = try XCTUnwrap(accept(yenInput, policy: ValidationPolicy(defaultCurrency: "JPY")))
        XCTAssertEqual(json(yen.properties), #"{"invoice_id":"inv-1","amount_minor":1250,"currency":"JPY","days_overdue":0}"#)
        // The default currency's digits apply: 12.50 is too precise for yen.
        assertRejected(input, .invalidAmount, field: "properties.amount", policy: ValidationPolicy(defaultCurrency: "JPY"))
    }

    func testConfiguredKindsPassPropertiesThrough() throws {
        let policy = ValidationPolicy(extraEventTypes: [EventType("teleport")])
        let event = try XCTUnwrap(accept(EventJSON(type: "teleport", properties: #"{"to":"mars","amount":"not checked"}"#), policy: policy))
        XCTAssertEqual(event.type, EventType("teleport"))
        XCTAssertEqual(json(event.properties), #"{"to":"mars","amount":"not checked"}"#)
        let upper = try XCTUnwrap(accept(EventJSON(type: "TELEPORT"), policy: policy))
        XCTAssertEqual(upper.type.name, "teleport")
    }

    func testNullPropertiesAndSchemaVersionAreAccepted() throws {
        let event = try XCTUnwrap(accept(EventJSON().with("properties", raw: "null").with("schema_version", raw: "null")))
        XCTAssertEqual(event.properties.count, 0)
        XCTAssertNotNil(accept(EventJSON().with("schema_version", raw: "1")))
    }

    func testWhitespaceAroundTheDocumentIsAccepted() {
        XCTAssertNotNil(accept(Array(("  \n" + EventJSON().text + "\n\t ").utf8)))
    }

    func testIdentifierLimits() throws {
        XCTAssertNotNil(accept(EventJSON().with("id", string: String(repeating: "a", count: 128))))
        // 128 Unicode scalars of two bytes each is still within the limit.
        XCTAssertNotNil(accept(EventJSON().with("id", string: String(repeating: "é", count: 128))))
        let unicode = try XCTUnwrap(accept(EventJSON().with("user_id", raw: #""u-\u00e9-😀""#)))
        XCTAssertEqual(unicode.userID, "u-é-😀")
    }

    func testFutureSkewBoundary() {
        XCTAssertNotNil(accept(EventJSON(time: "2026-03-01T12:04:00Z")))
        XCTAssertNotNil(accept(EventJSON(time: "2026-03-01T12:05:00Z")))
        assertRejected(EventJSON(time: "2026-03-01T12:05:00.001Z"), .timeInFuture, field: "time")
        // A later receive time accepts the same event.
        XCTAssertNotNil(accept(EventJSON(time: "2026-03-01T13:00:00Z"), reference: EventJSON.reference + 3_600_000))
        // Old events are fine.
        XCTAssertNotNil(accept(EventJSON(time: "1970-01-01T00:00:00Z")))
    }

    func testMaxItemsBoundary() {
        let fiveHundred = (0..<500).map { item(sku: "s-\($0)") }
        XCTAssertNotNil(accept(purchase(items: fiveHundred)))
        assertRejected(purchase(items: fiveHundred + [item()]), .invalidValue, field: "properties.items")
    }

    func testPayloadSizeBoundary() {
        let policy = ValidationPolicy(maxPayloadBytes: 256)
        let base = EventJSON(properties: #"{"pad":""}"#).bytes.count
        let exact = EventJSON(properties: #"{"pad":"\#(String(repeating: "x", count: 256 - base))"}"#)
        XCTAssertEqual(exact.bytes.count, 256)
        XCTAssertNotNil(accept(exact, policy: policy))
        let over = EventJSON(properties: #"{"pad":"\#(String(repeating: "x", count: 257 - base))"}"#)
        assertRejected(over, .payloadTooLarge, field: nil, policy: policy)
    }

    // MARK: Rejections, one test per code

    func testRejectionCodesAreTheContract() {
        XCTAssertEqual(RejectionCode.allCases.map(\.rawValue), [
            "empty_payload", "payload_too_large", "invalid_encoding", "malformed_json", "duplicate_key", "nesting_too_deep",
            "not_an_object", "missing_field", "unknown_field", "wrong_type", "invalid_value", "unsupported_schema_version",
            "unknown_event_type", "invalid_time", "time_in_future", "invalid_amount", "unknown_currency",
            "undecodable_record", "missing_key",
        ])
    }

    func testEmptyPayload() {
        assertRejected(nil as [UInt8]?, .emptyPayload, field: nil)
        assertRejected([UInt8](), .emptyPayload, field: nil)
    }

    func testPayloadTooLarge() {
        let small = ValidationPolicy(maxPayloadBytes: 256)
        let padded = EventJSON(properties: #"{"pad":"\#(String(repeating: "x", count: 300))"}"#)
        assertRejected(padded, .payloadTooLarge, field: nil, policy: small)
        // Size is checked before anything else: a huge non-UTF-8 value is too large, not badly encoded.
        assertRejected([UInt8](repeating: 0xFF, count: 64 * 1024 + 1), .payloadTooLarge, field: nil)
    }

    func testInvalidEncoding() {
        assertRejected([0xFF, 0xFE], .invalidEncoding, field: nil)
        let template = EventJSON().with("id", raw: #""evt-@""#).text
        assertRejected(splice(template, [0xC3]), .invalidEncoding, field: nil)               // truncated sequence
        assertRejected(splice(template, [0xC0, 0x80]), .invalidEncoding, field: nil)         // overlong NUL
        assertRejected(splice(template, [0xED, 0xA0, 0x80]), .invalidEncoding, field: nil)   // UTF-8-encoded surrogate
        assertRejected(splice(template, [0x63, 0x61, 0x66, 0xE9]), .invalidEncoding, field: nil)  // Latin-1 "café"
        assertRejected(splice(template, [0xF4, 0x90, 0x80, 0x80]), .invalidEncoding, field: nil)  // beyond U+10FFFF
        // Valid multi-byte UTF-8 in the same place passes.
        XCTAssertEqual(accept(splice(template, Array("é".utf8)))?.id, "evt-é")
    }

    func testMalformedJSON() {
        assertRejected("{", .malformedJSON, field: nil)
        assertRejected("not json", .malformedJSON, field: nil)
        assertRejected(#"{"id":"evt-1",}"#, .malformedJSON, field: nil)
        assertRejected(EventJSON().text + "x", .malformedJSON, field: nil)
        assertRejected(EventJSON().text + EventJSON().text, .malformedJSON, field: nil)
        // A lone surrogate escape cannot become a Unicode string.
        assertRejected(EventJSON().with("id", raw: #""\ud800""#), .malformedJSON, field: nil)
        // A raw control character inside a string must be escaped.
        assertRejected(splice(EventJSON().with("id", raw: #""a@b""#).text, [0x01]), .malformedJSON, field: nil)
        assertRejected(EventJSON().with("schema_version", raw: "01"), .malformedJSON, field: nil)
    }

    func testDuplicateKey() {
        assertRejected(EventJSON().appending("id", raw: q("evt-2")), .duplicateKey, field: "id")
        assertRejected(EventJSON(properties: #"{"x":1,"x":2}"#), .duplicateKey, field: "x")
        assertRejected(#"{"time":"2026-03-01T11:00:00Z","id":"e","user_id":"u","type":"login","time":"2026-03-01T11:00:00Z"}"#,
                       .duplicateKey, field: "time")
    }

    func testNestingTooDeep() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        assertRejected(EventJSON(properties: #"{"deep":\#(deep)}"#), .nestingTooDeep, field: nil)
        assertRejected(deep, .nestingTooDeep, field: nil)
    }

    func testNotAnObject() {
        for text in ["[1]", "[]", "42", #""evt-1""#, "null", "true"] {
            assertRejected(text, .notAnObject, field: nil)
        }
    }

    func testMissingField() {
        for field in ["id", "user_id", "type", "time"] {
            assertRejected(EventJSON().without(field), .missingField, field: field)
        }
        assertRejected(EventJSON().with("id", raw: "null"), .missingField, field: "id")
        assertRejected("{}", .missingField, field: "id")
        assertRejected(purchase().with("properties", raw: #"{"order_id":"o-1","currency":"USD"}"#), .missingField, field: "properties.amount")
        assertRejected(purchase(currency: nil), .missingField, field: "properties.currency")
        assertRejected(EventJSON(type: "purchase", properties: #"{"amount":"1.00","currency":"USD"}"#), .missingField, field: "properties.order_id")
        assertRejected(purchase(items: [#"{"sku":"s","quantity":1}"#]), .missingField, field: "properties.items[0].price")
        assertRejected(purchase(items: [item(), #"{"sku":"s","price":"1.00"}"#]), .missingField, field: "properties.items[1].quantity")
        assertRejected(purchase(items: [#"{"quantity":1,"price":"1.00"}"#]), .missingField, field: "properties.items[0].sku")
        assertRejected(EventJSON(type: "referral", properties: "{}"), .missingField, field: "properties.referred_user_id")
        assertRejected(EventJSON(type: "complaint", properties: #"{"ticket_id":"t-1"}"#), .missingField, field: "properties.severity")
        assertRejected(EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"i","amount":"1.00"}"#),
                       .missingField, field: "properties.days_overdue")
        assertRejected(EventJSON(type: "subscription_started"), .missingField, field: "properties.plan")
    }

    func testUnknownField() {
        assertRejected(EventJSON().with("userId", string: "user-1"), .unknownField, field: "userId")
        assertRejected(EventJSON().with("timestamp", raw: "0"), .unknownField, field: "timestamp")
        assertRejected(EventJSON().with("ID", string: "x"), .unknownField, field: "ID")
        // Reported before a missing field: the typo is the real problem.
        assertRejected(EventJSON().without("user_id").with("userId", string: "user-1"), .unknownField, field: "userId")
    }

    func testWrongType() {
        assertRejected(EventJSON().with("id", raw: "42"), .wrongType, field: "id")
        assertRejected(EventJSON().with("id", raw: #"{"v":"x"}"#), .wrongType, field: "id")
        assertRejected(EventJSON().with("user_id", raw: "true"), .wrongType, field: "user_id")
        assertRejected(EventJSON().with("type", raw: #"["login"]"#), .wrongType, field: "type")
        assertRejected(EventJSON().with("time", raw: "1772366400"), .wrongType, field: "time")
        assertRejected(EventJSON().with("schema_version", raw: #""1""#), .wrongType, field: "schema_version")
        assertRejected(EventJSON().with("schema_version", raw: "1.0"), .wrongType, field: "schema_version")
        assertRejected(EventJSON().with("schema_version", raw: "99999999999999999999"), .wrongType, field: "schema_version")
        assertRejected(EventJSON(properties: "[]"), .wrongType, field: "properties")
        assertRejected(EventJSON(properties: #""a=b""#), .wrongType, field: "properties")
        assertRejected(purchase(amount: "true"), .wrongType, field: "properties.amount")
        assertRejected(purchase(currency: "840"), .wrongType, field: "properties.currency")
        assertRejected(purchase().with("properties", raw: #"{"order_id":"o-1","amount":"1.00","currency":"USD","items":{}}"#),
                       .wrongType, field: "properties.items")
        assertRejected(purchase(items: ["1"]), .wrongType, field: "properties.items[0]")
        assertRejected(purchase(items: [item(quantity: #""2""#)]), .wrongType, field: "properties.items[0].quantity")
        assertRejected(purchase(items: [item(quantity: "1.5")]), .wrongType, field: "properties.items[0].quantity")
        assertRejected(purchase(items: [item(price: "[1]")]), .wrongType, field: "properties.items[0].price")
        assertRejected(EventJSON(type: "purchase", properties: #"{"order_id":12,"amount":"1.00","currency":"USD"}"#),
                       .wrongType, field: "properties.order_id")
        assertRejected(EventJSON(type: "subscription_started", properties: #"{"plan":"pro","period_end":5}"#),
                       .wrongType, field: "properties.period_end")
        assertRejected(EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"i","amount":"1.00","days_overdue":"3"}"#),
                       .wrongType, field: "properties.days_overdue")
        assertRejected(EventJSON(type: "complaint", properties: #"{"ticket_id":"t-1","severity":3}"#), .wrongType, field: "properties.severity")
    }

    func testInvalidValue() {
        assertRejected(EventJSON().with("id", string: ""), .invalidValue, field: "id")
        assertRejected(EventJSON().with("id", string: String(repeating: "a", count: 129)), .invalidValue, field: "id")
        assertRejected(EventJSON().with("id", string: String(repeating: "é", count: 129)), .invalidValue, field: "id")
        assertRejected(EventJSON().with("id", raw: #""a\u0007b""#), .invalidValue, field: "id")
        assertRejected(EventJSON().with("id", raw: #""a\u007fb""#), .invalidValue, field: "id")
        assertRejected(EventJSON().with("id", raw: #""a\u0085b""#), .invalidValue, field: "id")
        assertRejected(EventJSON().with("user_id", raw: #""user\t1""#), .invalidValue, field: "user_id")
        assertRejected(EventJSON().with("user_id", raw: #""user\n1""#), .invalidValue, field: "user_id")
        assertRejected(EventJSON(type: "referral", properties: #"{"referred_user_id":"user-1"}"#), .invalidValue, field: "properties.referred_user_id")
        assertRejected(purchase(items: [item(quantity: "0")]), .invalidValue, field: "properties.items[0].quantity")
        assertRejected(purchase(items: [item(quantity: "1000001")]), .invalidValue, field: "properties.items[0].quantity")
        assertRejected(purchase(items: [item(sku: "")]), .invalidValue, field: "properties.items[0].sku")
        assertRejected(EventJSON(type: "complaint", properties: #"{"ticket_id":"t-1","severity":"meh"}"#), .invalidValue, field: "properties.severity")
        assertRejected(purchase(extra: #","amount_minor":1999"#), .invalidValue, field: "properties.amount_minor")
        assertRejected(purchase(items: [item(extra: #","price_minor":100"#)]), .invalidValue, field: "properties.items[0].price_minor")
        assertRejected(EventJSON(type: "payment_overdue", properties: #"{"invoice_id":"i","amount":"1.00","days_overdue":-1}"#),
                       .invalidValue, field: "properties.days_overdue")
        assertRejected(EventJSON(type: "purchase", properties: #"{"order_id":"","amount":"1.00","currency":"USD"}"#),
                       .invalidValue, field: "properties.order_id")
    }

    func testUnsupportedSchemaVersion() {
        for version in ["2", "0", "-1", "1000"] {
            assertRejected(EventJSON().with("schema_version", raw: version), .unsupportedSchemaVersion, field: "schema_version")
        }
        // A deployment that reads version 2 accepts it.
        XCTAssertNotNil(accept(EventJSON().with("schema_version", raw: "2"), policy: ValidationPolicy(maxSchemaVersion: 2)))
    }

    func testUnknownEventType() {
        assertRejected(EventJSON(type: "teleport"), .unknownEventType, field: "type")
        assertRejected(EventJSON(type: ""), .unknownEventType, field: "type")
        assertRejected(EventJSON(type: "log in"), .unknownEventType, field: "type")
        assertRejected(EventJSON(type: "warp"), .unknownEventType, field: "type", policy: ValidationPolicy(extraEventTypes: [EventType("teleport")]))
        // Accepted once configured.
        let event = accept(EventJSON(type: "teleport"), policy: ValidationPolicy(extraEventTypes: [EventType("teleport")]))
        XCTAssertEqual(event?.type, EventType("teleport"))
    }

    func testInvalidTime() {
        for time in ["yesterday", "2026-03-01T11:00:00", "2026-03-01 11:00:00Z", "2026-02-29T11:00:00Z", "2026-03-01T11:00:60Z", "1969-12-31T23:59:59Z", ""] {
            assertRejected(EventJSON(time: time), .invalidTime, field: "time")
        }
        assertRejected(EventJSON(type: "subscription_renewed", properties: #"{"plan":"pro","period_end":"soon"}"#),
                       .invalidTime, field: "properties.period_end")
    }

    func testTimeInFuture() {
        assertRejected(EventJSON(time: "2026-03-01T13:00:00Z"), .timeInFuture, field: "time")
        assertRejected(EventJSON(time: "2026-03-01T15:00:00+02:00"), .timeInFuture, field: "time")
        // Four minutes ahead is within the default five-minute skew.
        XCTAssertNotNil(accept(EventJSON(time: "2026-03-01T12:04:00Z")))
        // With no skew allowed, one millisecond ahead is too far.
        let strict = ValidationPolicy(maxFutureSkewMillis: 0)
        assertRejected(EventJSON(time: "2026-03-01T12:00:00.001Z"), .timeInFuture, field: "time", policy: strict)
        XCTAssertNotNil(accept(EventJSON(time: "2026-03-01T12:00:00Z"), policy: strict))
    }

    func testInvalidAmount() {
        assertRejected(purchase(amount: "-5"), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: #""-0.01""#), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: #""abc""#), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: q("")), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: #""1.999""#), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: "1e400"), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(amount: #""10.5""#, currency: #""JPY""#), .invalidAmount, field: "properties.amount")
        assertRejected(purchase(items: [item(price: #""0.001""#)]), .invalidAmount, field: "properties.items[0].price")
        assertRejected(purchase(items: [item(), item(price: "-1")]), .invalidAmount, field: "properties.items[1].price")
        assertRejected(EventJSON(type: "refund", properties: #"{"order_id":"o-1","amount":"1.2.3","currency":"USD"}"#),
                       .invalidAmount, field: "properties.amount")
    }

    func testUnknownCurrency() {
        assertRejected(purchase(currency: #""XXX""#), .unknownCurrency, field: "properties.currency")
        assertRejected(purchase(currency: q("")), .unknownCurrency, field: "properties.currency")
        assertRejected(purchase(currency: #""US Dollar""#), .unknownCurrency, field: "properties.currency")
        let euroOnly = ValidationPolicy(currencies: CurrencyCatalog(["EUR": 2]), defaultCurrency: "EUR")
        assertRejected(purchase(currency: #""USD""#), .unknownCurrency, field: "properties.currency", policy: euroOnly)
        XCTAssertNotNil(accept(purchase(currency: #""EUR""#), policy: euroOnly))
        assertRejected(EventJSON(type: "subscription_cancelled", properties: #"{"plan":"pro","currency":"ZZZ"}"#),
                       .unknownCurrency, field: "properties.currency")
    }

    func testEveryCodeIsReachable() {
        let small = ValidationPolicy(maxPayloadBytes: 256)
        let samples: [(payload: [UInt8]?, policy: ValidationPolicy)] = [
            (nil, ValidationPolicy()),
            (EventJSON(properties: #"{"pad":"\#(String(repeating: "x", count: 300))"}"#).bytes, small),
            ([0xFF, 0xFE], ValidationPolicy()),
            (Array("{".utf8), ValidationPolicy()),
            (Array(#"{"id":"a","id":"b"}"#.utf8), ValidationPolicy()),
            (Array((String(repeating: "[", count: 40) + String(repeating: "]", count: 40)).utf8), ValidationPolicy()),
            (Array("[1]".utf8), ValidationPolicy()),
            (EventJSON().without("id").bytes, ValidationPolicy()),
            (EventJSON().with("userId", string: "u").bytes, ValidationPolicy()),
            (EventJSON().with("id", raw: "42").bytes, ValidationPolicy()),
            (EventJSON().with("id", string: "").bytes, ValidationPolicy()),
            (EventJSON().with("schema_version", raw: "2").bytes, ValidationPolicy()),
            (EventJSON(type: "teleport").bytes, ValidationPolicy()),
            (EventJSON(time: "yesterday").bytes, ValidationPolicy()),
            (EventJSON(time: "2026-03-01T13:00:00Z").bytes, ValidationPolicy()),
            (purchase(amount: "-5").bytes, ValidationPolicy()),
            (purchase(currency: #""XXX""#).bytes, ValidationPolicy()),
        ]
        var seen: [RejectionCode] = []
        for sample in samples {
            if case .failure(let rejection) = validate(sample.payload, policy: sample.policy, reference: EventJSON.reference) {
                seen.append(rejection.code)
            }
        }
        // The last two are the services' own (their dead-letter topics), not the validator's.
        XCTAssertEqual(seen, RejectionCode.allCases.filter { ![.undecodableRecord, .missingKey].contains($0) })
    }
}
