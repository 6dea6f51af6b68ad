/// The rules that decide whether an input record is a valid event. Built from configuration.
public struct ValidationPolicy: Sendable {
    /// Larger values are rejected unparsed (`payload_too_large`).
    public var maxPayloadBytes: Int
    /// How far `time` may be ahead of the record's receive time.
    public var maxFutureSkewMillis: Int64
    public var currencies: CurrencyCatalog
    /// Used by kinds whose contract makes `currency` optional (payment_overdue).
    public var defaultCurrency: String
    /// Kinds declared in configuration on top of the built-in ones; their properties pass through.
    public var extraEventTypes: Set<EventType>
    /// The highest `schema_version` this deployment reads.
    public var maxSchemaVersion: Int

    public init(
        maxPayloadBytes: Int = 64 * 1024,
        maxFutureSkewMillis: Int64 = 5 * 60 * 1000,
        currencies: CurrencyCatalog = .standard,
        defaultCurrency: String = "USD",
        extraEventTypes: Set<EventType> = [],
        maxSchemaVersion: Int = UserEvent.schemaVersion
    ) {
        self.maxPayloadBytes = maxPayloadBytes
        self.maxFutureSkewMillis = maxFutureSkewMillis
        self.currencies = currencies
        self.defaultCurrency = defaultCurrency
        self.extraEventTypes = extraEventTypes
        self.maxSchemaVersion = maxSchemaVersion
    }

    public func isKnown(_ type: EventType) -> Bool {
        EventType.builtInSet.contains(type) || extraEventTypes.contains(type)
    }
}
