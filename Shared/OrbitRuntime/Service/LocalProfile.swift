/// Settings for services that talk to the local broker (librdkafka's mock cluster), passed as
/// environment overrides by `orbit up`, `orbit demo` and the tests. Production uses none of them.
public enum LocalProfile {
    /// The mock broker makes later group joins wait `session.timeout.ms` - 1 s (44 s at the
    /// default); 6 s keeps rebalances quick. It also waits the full `fetch.wait.max.ms` when a
    /// partition is idle, so a short wait keeps latency low.
    public static let kafkaOverrides: [String: String] = [
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "1000",
        "fetch.wait.max.ms": "100",
    ]

    /// The same, as `ORBIT__KAFKA__*` environment variables, plus the bootstrap address.
    public static func environment(bootstrap: String) -> [String: String] {
        var environment = ["ORBIT__KAFKA__BOOTSTRAP_SERVERS": bootstrap]
        for (key, value) in kafkaOverrides {
            environment["ORBIT__KAFKA__" + key.replacingOccurrences(of: ".", with: "_").uppercased()] = value
        }
        return environment
    }
}
