/// Decides whether one input record is a valid user event and normalises it.
///
/// Pure: the same bytes and reference time always give the same answer, which is what makes a
/// replay after a crash produce identical records. The reference time is the record's receive time
/// (see `IngestProcessor`), never the wall clock at validation.
public struct EventValidator: Sendable {
    public let policy: ValidationPolicy

    public static let topLevelFields: Set<String> = ["id", "user_id", "type", "time", "properties", "schema_version"]
    public static let maxIdentifierLength = 128
    public static let maxItems = 500

    public init(policy: ValidationPolicy) { self.policy = policy }

    public func validate(_ payload: [UInt8]?, referenceTimeMillis: Int64) -> Result<UserEvent, EventRejection> {
        do throws(EventRejection) {
            return .success(try validateOrThrow(payload, referenceTimeMillis: referenceTimeMillis))
        } catch {
            return .failure(error)
        }
    }

    func validateOrThrow(_ payload: [UInt8]?, referenceTimeMillis: Int64) throws(EventRejection) -> UserEvent {
        guard let payload, !payload.isEmpty else { throw EventRejection(.emptyPayload, "the record has no value") }
        guard payload.count <= policy.maxPayloadBytes else {
            throw EventRejection(.payloadTooLarge, "value is \(payload.count) bytes; the limit is \(policy.maxPayloadBytes)")
        }
        guard UTF8Check.isValid(payload) else {
            throw EventRejection(.invalidEncoding, "value is not valid UTF-8")
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(payload)
        } catch {
            switch error.kind {
            case .duplicateKey(let key): throw EventRejection(.duplicateKey, field: key, error.message)
            case .tooDeep: throw EventRejection(.nestingTooDeep, error.message)
            case .malformed, .invalidString: throw EventRejection(.malformedJSON, error.message)
            }
        }
        guard case .object(let root) = document else {
            throw EventRejection(.notAnObject, "the value must be a JSON object, not \(document.typeName)")
        }
        for member in root.members {
            switch member.key {
            case "id", "user_id", "type", "time", "properties", "schema_version": continue
            default: throw EventRejection(.unknownField, field: member.key, "field \"\(member.key)\" is not part of the event contract")
            }
        }
        if let version = root["schema_version"], version != .null {
            guard case .number(let n) = version, let v = n.int64Value else {
                throw EventRejection(.wrongType, field: "schema_version", "schema_version must be an integer")
            }
            guard v >= 1, v <= Int64(policy.maxSchemaVersion) else {
                throw EventRejection(.unsupportedSchemaVersion, field: "schema_version", "schema_version \(v) is not supported (1...\(policy.maxSchemaVersion))")
            }
        }
        let id = try identifier(root["id"], field: "id")
        let userID = try identifier(root["user_id"], field: "user_id")
        let rawType = try requiredString(root["type"], field: "type")
        let typeName = rawType.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A || $0 >= 0x80 }) ? rawType.lowercased() : rawType
        let type = EventType(typeName)
        guard policy.isKnown(type) else {
            throw EventRejection(.unknownEventType, field: "type", "event type \"\(typeName)\" is not known")
        }
        let timeText = try requiredString(root["time"], field: "time")
        let time = try timestamp(timeText, field: "time")
        guard time <= referenceTimeMillis + policy.maxFutureSkewMillis else {
            throw EventRejection(.timeInFuture, field: "time", "time \(timeText) is more than \(policy.maxFutureSkewMillis / 1000) s ahead of receipt at \(RFC3339.format(millis: referenceTimeMillis))")
        }
        let properties: JSONObject
        switch root["properties"] {
        case nil, .null?: properties = JSONObject()
        case .object(let object)?: properties = object
        case let other?: throw EventRejection(.wrongType, field: "properties", "properties must be an object, not \(other.typeName)")
        }
        let normalized = try normalize(properties, type: type, userID: userID)
        return UserEvent(id: id, userID: userID, type: type, timeMillis: time, properties: normalized)
    }

    // MARK: Properties per type

    private func normalize(_ input: JSONObject, type: EventType, userID: String) throws(EventRejection) -> JSONObject {
        var reader = PropertyReader(input: input)
        switch type {
        case .purchase:
            try reader.identifier("order_id", self)
            let currency = try reader.money(amountKey: "amount", outputKey: "amount_minor", currencyRequired: true, self)!
            if let items = reader.take("items") {
                try reader.put("items", self.items(items, currency: currency))
            }
        case .refund:
            try reader.identifier("order_id", self)
            _ = try reader.money(amountKey: "amount", outputKey: "amount_minor", currencyRequired: true, self)
        case .referral:
            let referred = try reader.identifier("referred_user_id", self)!
            guard referred != userID else {
                throw EventRejection(.invalidValue, field: "properties.referred_user_id", "a user cannot refer themselves")
            }
        case .post, .comment, .like, .share:
            try reader.identifier("content_id", self, required: false)
            try reader.identifier("channel", self, required: false)
        case .subscriptionStarted, .subscriptionRenewed, .subscriptionCancelled:
            try reader.identifier("plan", self)
            _ = try reader.money(amountKey: "amount", outputKey: "amount_minor", currencyRequired: true, self, required: false)
            if let end = reader.take("period_end"), end != .null {
                guard case .string(let text) = end else {
                    throw EventRejection(.wrongType, field: "properties.period_end", "period_end must be an RFC 3339 string")
                }
                let millis = try timestamp(text, field: "properties.period_end")
                try reader.put("period_end", .string(RFC3339.format(millis: millis)))
            }
        case .paymentOverdue:
            try reader.identifier("invoice_id", self)
            _ = try reader.money(amountKey: "amount", outputKey: "amount_minor", currencyRequired: false, self)
            let days = try reader.integer("days_overdue", range: 0...36_500)
            try reader.put("days_overdue", .number(JSONNumber(days)))
        case .complaint:
            try reader.identifier("ticket_id", self)
            let severity = try requiredString(reader.take("severity"), field: "properties.severity").lowercased()
            guard ["low", "medium", "high", "critical"].contains(severity) else {
                throw EventRejection(.invalidValue, field: "properties.severity", "severity must be low, medium, high or critical")
            }
            try reader.put("severity", .string(severity))
        case .couponUsed:
            // The code in its canonical form, however it was typed (CouponCode).
            let text = try requiredString(reader.take("code"), field: "properties.code")
            guard let code = CouponCode.canonical(text) else {
                throw EventRejection(.invalidValue, field: "properties.code",
                                     "properties.code is not a coupon code (\(CouponCode.length) symbols of 0-9 and A-Z without I, L, O, U; hyphens allowed)")
            }
            try reader.put("code", .string(code))
            try reader.identifier("order_id", self)
        default:
            break  // signup, login, check_in and configured kinds: properties pass through.
        }
        return try reader.finish()
    }

    private func items(_ value: JSONValue, currency: String) throws(EventRejection) -> JSONValue {
        guard case .array(let elements) = value else {
            throw EventRejection(.wrongType, field: "properties.items", "items must be an array")
        }
        guard elements.count <= Self.maxItems else {
            throw EventRejection(.invalidValue, field: "properties.items", "at most \(Self.maxItems) items")
        }
        var output: [JSONValue] = []
        output.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .object(let item) = element else {
                throw EventRejection(.wrongType, field: "properties.items[\(index)]", "each item must be an object")
            }
            var reader = PropertyReader(input: item, path: "properties.items", index: index)
            try reader.identifier("sku", self)
            try reader.identifier("category", self, required: false)
            let quantity = try reader.integer("quantity", range: 1...1_000_000)
            try reader.put("quantity", .number(JSONNumber(quantity)))
            guard let price = reader.take("price"), price != .null else {
                throw EventRejection(.missingField, field: reader.field("price"), "price is required")
            }
            let minor = try amount(price, currency: currency, field: reader.field("price"))
            try reader.put("price_minor", .number(JSONNumber(minor)))
            output.append(.object(try reader.finish()))
        }
        return .array(output)
    }

    // MARK: Field rules

    // The field names below are autoclosures: a nested name such as "properties.items[3].sku" is
    // built only for a rejection, not for every valid event (it was a tenth of ingestion's core).

    func requiredString(_ value: JSONValue?, field: @autoclosure () -> String) throws(EventRejection) -> String {
        switch value {
        case .string(let s)?: return s
        case nil, .null?:
            let field = field()
            throw EventRejection(.missingField, field: field, "\(field) is required")
        case let other?:
            let field = field()
            throw EventRejection(.wrongType, field: field, "\(field) must be a string, not \(other.typeName)")
        }
    }

    /// Identifiers follow ``IdentifierRules`` (length, white space, invisible characters, NFC).
    func identifier(_ value: JSONValue?, field: @autoclosure () -> String) throws(EventRejection) -> String {
        let s = try requiredString(value, field: field())
        if let violation = IdentifierRules.violation(s) {
            let field = field()
            throw EventRejection(.invalidValue, field: field, "\(field) \(violation)")
        }
        return s
    }

    func timestamp(_ text: String, field: @autoclosure () -> String) throws(EventRejection) -> Int64 {
        do {
            return try RFC3339.parse(text)
        } catch {
            let field = field()
            throw EventRejection(.invalidTime, field: field, "\(field) \"\(text.prefix(64))\": \(error.message)")
        }
    }

    func currencyCode(_ value: JSONValue?, field: @autoclosure () -> String, required: Bool) throws(EventRejection) -> String? {
        switch value {
        case nil, .null?:
            if required {
                let field = field()
                throw EventRejection(.missingField, field: field, "\(field) is required")
            }
            return nil
        case .string(let s)?:
            let code = s.uppercased()
            guard policy.currencies.digits(for: code) != nil else {
                throw EventRejection(.unknownCurrency, field: field(), "currency \"\(s.prefix(16))\" is not configured")
            }
            return code
        case let other?:
            let field = field()
            throw EventRejection(.wrongType, field: field, "\(field) must be a string, not \(other.typeName)")
        }
    }

    func amount(_ value: JSONValue, currency: String, field: @autoclosure () -> String) throws(EventRejection) -> Int64 {
        let lexeme: String
        switch value {
        case .number(let n): lexeme = n.lexeme
        case .string(let s): lexeme = s
        default:
            let field = field()
            throw EventRejection(.wrongType, field: field, "\(field) must be a number or a decimal string, not \(value.typeName)")
        }
        let digits = policy.currencies.digits(for: currency) ?? 2
        do {
            return try MinorUnits.parse(lexeme, digits: digits)
        } catch {
            let reason: String
            switch error {
            case .notADecimal: reason = "is not a decimal number"
            case .negative: reason = "must not be negative"
            case .tooManyDecimals(let allowed): reason = "has more than \(allowed) decimals, which \(currency) allows"
            case .tooLarge: reason = "is too large"
            }
            let field = field()
            throw EventRejection(.invalidAmount, field: field, "\(field) \"\(lexeme.prefix(40))\" \(reason)")
        }
    }
}

/// UTF-8 validation without building a `String`: ASCII (the usual case) is checked eight bytes at
/// a time; anything else goes through the standard library's validator.
enum UTF8Check {
    static func isValid(_ bytes: [UInt8]) -> Bool {
        let ascii = bytes.withUnsafeBytes { raw -> Bool in
            var index = 0
            let count = raw.count
            while index + 8 <= count {
                if raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
                index += 8
            }
            while index < count {
                if raw[index] >= 0x80 { return false }
                index += 1
            }
            return true
        }
        return ascii || String(validating: bytes, as: UTF8.self) != nil
    }
}

/// Walks one properties object: known keys are taken and normalised, unknown keys are kept in
/// source order after them.
///
/// Allocation-light on purpose, because it runs for every event: taking a key removes it in
/// place, the produced keys are the output's own keys (a handful, scanned linearly), and a
/// field's dotted name is built only when it goes into a rejection.
struct PropertyReader {
    private var remaining: [(key: String, value: JSONValue)]
    private var output: [(key: String, value: JSONValue)] = []
    /// "properties", or "properties.items" with the item's index.
    private let base: String
    private let index: Int?

    init(input: JSONObject, path: String = "properties", index: Int? = nil) {
        self.remaining = input.members
        self.base = path
        self.index = index
        output.reserveCapacity(input.count + 2)
    }

    /// The object's path in rejections: `properties` or `properties.items[3]`.
    var path: String { index.map { "\(base)[\($0)]" } ?? base }

    /// A member's path in rejections: `properties.amount`, `properties.items[3].price`.
    func field(_ key: String) -> String { "\(path).\(key)" }

    mutating func take(_ key: String) -> JSONValue? {
        guard let position = remaining.firstIndex(where: { $0.key == key }) else { return nil }
        return remaining.remove(at: position).value
    }

    mutating func put(_ key: String, _ value: JSONValue) throws(EventRejection) {
        if let position = output.firstIndex(where: { $0.key == key }) {
            output[position].value = value
        } else {
            output.append((key, value))
        }
    }

    @discardableResult
    mutating func identifier(_ key: String, _ validator: EventValidator, required: Bool = true) throws(EventRejection) -> String? {
        let value = take(key)
        if !required, value == nil || value == .null { return nil }
        let id = try validator.identifier(value, field: field(key))
        try put(key, .string(id))
        return id
    }

    mutating func integer(_ key: String, range: ClosedRange<Int64>) throws(EventRejection) -> Int64 {
        switch take(key) {
        case .number(let n)?:
            guard let value = n.int64Value else {
                let field = field(key)
                throw EventRejection(.wrongType, field: field, "\(field) must be an integer")
            }
            guard range.contains(value) else {
                let field = field(key)
                throw EventRejection(.invalidValue, field: field, "\(field) must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        case nil, .null?:
            let field = field(key)
            throw EventRejection(.missingField, field: field, "\(field) is required")
        case let other?:
            let field = field(key)
            throw EventRejection(.wrongType, field: field, "\(field) must be an integer, not \(other.typeName)")
        }
    }

    /// Reads `amountKey` and `currency`, writes `outputKey` (minor units) and `currency`.
    /// Returns the currency, or nil when the amount is optional and absent.
    mutating func money(amountKey: String, outputKey: String, currencyRequired: Bool, _ validator: EventValidator, required: Bool = true) throws(EventRejection) -> String? {
        let amountValue = take(amountKey)
        let currencyValue = take("currency")
        if amountValue == nil || amountValue == .null {
            if required {
                let field = field(amountKey)
                throw EventRejection(.missingField, field: field, "\(field) is required")
            }
            if let code = try validator.currencyCode(currencyValue, field: field("currency"), required: false) {
                try put("currency", .string(code))
            }
            return nil
        }
        let currency = try validator.currencyCode(currencyValue, field: field("currency"), required: currencyRequired)
            ?? validator.policy.defaultCurrency
        let minor = try validator.amount(amountValue!, currency: currency, field: field(amountKey))
        try put(outputKey, .number(JSONNumber(minor)))
        try put("currency", .string(currency))
        return currency
    }

    /// The normalised object: produced keys first, then the caller's own keys untouched.
    mutating func finish() throws(EventRejection) -> JSONObject {
        let producedCount = output.count
        for member in remaining {
            // The remaining keys are unique (the parser rejects duplicates), so a clash can only
            // be with a key Orbit produced.
            guard !output[..<producedCount].contains(where: { $0.key == member.key }) else {
                let field = field(member.key)
                throw EventRejection(.invalidValue, field: field, "\(field) is computed by Orbit and must not be sent")
            }
            output.append(member)
        }
        return JSONObject(output)
    }
}
