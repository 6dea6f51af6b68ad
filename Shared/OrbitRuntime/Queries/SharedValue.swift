import Synchronization

/// A value one thread writes and others read, behind a lock: what a processor publishes for the
/// queries answered on the HTTP server's threads (the last batch's day and thresholds, say).
public final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }

    /// Changes the value in place, under the lock (a read then a write would lose a concurrent change).
    public func update<Result>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
