/// A value a keyed store can keep (OrbitRuntime's `KeyedStore`): it writes itself to bytes for
/// the changelog and reads itself back. Declared with the value, in the pure rules, so the
/// format of a service's state is part of its core and tested without a broker.
public protocol StateCodable: Sendable {
    init(stateBytes: [UInt8]) throws
    func stateBytes() -> [UInt8]
}
