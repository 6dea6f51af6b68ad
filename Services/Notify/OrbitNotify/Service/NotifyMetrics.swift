import Metrics

/// `orbit_notify_deliveries_total{channel,status}`: every delivery record written (sent,
/// retrying, failed, suppressed), by the notify stage (suppressions) and the delivery stage. The
/// 16 series are made once per processor, so counting a record on the hot path is one increment,
/// not a registry lookup.
struct DeliveryCounters: Sendable {
    private let table: [Channel: [DeliveryRecord.Status: Counter]]

    init() {
        table = Dictionary(uniqueKeysWithValues: Channel.allCases.map { channel in
            (channel, Dictionary(uniqueKeysWithValues: DeliveryRecord.Status.allCases.map { status in
                (status, Counter(label: "orbit_notify_deliveries_total", dimensions: [("channel", channel.rawValue), ("status", status.rawValue)]))
            }))
        })
    }

    func count(channel: Channel, status: DeliveryRecord.Status) { table[channel]?[status]?.increment() }
}

enum NotifyMetrics {
    /// `orbit_notify_experiment_users_total{experiment,variant,outcome}`: users assigned to a
    /// variant (holdout included) and users converted. Experiments and variants come from the
    /// configuration, so the series are looked up when counted.
    static func experiment(_ experiment: String, variant: String, outcome: String) {
        Counter(label: "orbit_notify_experiment_users_total", dimensions: [("experiment", experiment), ("variant", variant), ("outcome", outcome)]).increment()
    }
}
