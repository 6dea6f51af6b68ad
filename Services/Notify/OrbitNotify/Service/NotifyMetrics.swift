import Metrics

/// The notification service's counters for the dashboards, by dimension values known only when a
/// record is written (the metrics registry keeps one series per label set).
enum NotifyMetrics {
    /// `orbit_notify_deliveries_total{channel,status}`: every delivery record written (sent,
    /// retrying, failed, suppressed), by the notify stage (suppressions) and the delivery stage.
    static func delivery(channel: Channel, status: DeliveryRecord.Status) {
        Counter(label: "orbit_notify_deliveries_total", dimensions: [("channel", channel.rawValue), ("status", status.rawValue)]).increment()
    }

    /// `orbit_notify_experiment_users_total{experiment,variant,outcome}`: users assigned to a
    /// variant (holdout included) and users converted.
    static func experiment(_ experiment: String, variant: String, outcome: String) {
        Counter(label: "orbit_notify_experiment_users_total", dimensions: [("experiment", experiment), ("variant", variant), ("outcome", outcome)]).increment()
    }
}
