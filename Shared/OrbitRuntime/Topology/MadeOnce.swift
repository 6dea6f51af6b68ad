/// A value a stage's pipelines share, made when the first of them is built and reused by the
/// rest (a delivery stage's channel senders and their connection pools). Made only when pipelines
/// are built, so `--check-config` never opens a client. Pipelines are built one after another on
/// one thread (``ServiceTopology/pipelines(runtime:logger:)``), so no lock is needed.
public final class MadeOnce<Value> {
    private var value: Value?

    /// - Parameter value: a value given up front (a test's senders); nil to make it on first use.
    public init(_ value: Value? = nil) {
        self.value = value
    }

    /// The value, made by `make` the first time.
    public func get(orMake make: () throws -> Value) rethrows -> Value {
        if let value { return value }
        let made = try make()
        value = made
        return made
    }
}
