import Foundation
import Logging
import Metrics
import OrbitKafka
import Prometheus
import ServiceLifecycle

/// Runs a ``StreamPipeline`` as a service: logs and metrics set up, `/metrics` and `/health`
/// served, SIGTERM and SIGINT handled gracefully (finish the batch, commit, leave the group).
public enum ServiceRunner {
    /// Sets up logging and metrics for the process. Call once, before anything logs.
    public static func bootstrap(_ settings: RuntimeSettings) -> PrometheusCollectorRegistry {
        LogSetup.bootstrap(level: settings.logLevel, format: settings.logFormat)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    public static func run(_ pipeline: StreamPipeline, settings: RuntimeSettings, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        try await run([pipeline], settings: settings, registry: registry, logger: logger)
    }

    /// Several pipelines in one process (a service made of stages); `/health` reports them together.
    public static func run(_ pipelines: [StreamPipeline], settings: RuntimeSettings, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        let statuses = pipelines.map(\.status)
        let queries = pipelines.flatMap(\.queries)
        // Queries of keys held elsewhere are redirected to their owner, found in the instance registry.
        let instanceRegistry = SharedValue<InstanceRegistry?>(nil)
        let routes = QueryRoutes(queries: queries, token: settings.queryToken, statuses: statuses) { query, partition in
            instanceRegistry.value?.owner(topic: query.topic, partition: partition)
        }
        let server = try await HTTPServer.start(host: settings.httpHost, port: settings.httpPort, attempts: settings.httpPortAttempts, limits: settings.httpLimits,
                                                logger: logger) { request in
            switch request.path {
            case "/metrics":
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: buffer)
            case "/health":
                return healthResponse(combined(statuses.map(\.snapshot)), service: settings.serviceName)
            case "/health/live":
                return liveness(combined(statuses.map(\.snapshot)))
            case "/health/ready":
                return readiness(combined(statuses.map(\.snapshot)))
            default:
                return routes.answer(request) ?? .text(404, "not found")
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = pipelines.map {
            .init(service: PipelineService(pipeline: $0), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        if !queries.isEmpty, settings.queryToken != nil {
            let url = settings.advertisedURL ?? "http://\(settings.httpHost == "0.0.0.0" ? ProcessInfo.processInfo.hostName : settings.httpHost):\(server.port)"
            let instances = InstanceRegistry(service: settings.serviceName, url: url, statuses: statuses, kafka: settings.kafka, logger: logger)
            instanceRegistry.value = instances
            logger.info("queries (\(Set(queries.map { $0.prefix + "{id}" + $0.suffix }).sorted().joined(separator: ", "))) advertised at \(url)")
            // The registry only guides redirects: its end never stops the service.
            services.append(.init(service: instances, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// Liveness: whether restarting the process could help. Failed or stopped pipelines: yes (503);
    /// starting, restoring, running, stopping or degraded (Kafka unreachable, which a restart does
    /// not mend): no (200).
    public static func liveness(_ snapshot: PipelineStatus.Snapshot) -> HTTPResponse {
        let live = snapshot.state != .failed && snapshot.state != .stopped
        return .text(live ? 200 : 503, live ? "live: \(snapshot.state.rawValue)" : "not live: \(snapshot.state.rawValue)\(snapshot.failure.map { " (\($0))" } ?? "")")
    }

    /// Readiness: whether to send it traffic (queries). Only when every pipeline is running, so not
    /// while partitions are assigned and their state restored (503 with Retry-After).
    public static func readiness(_ snapshot: PipelineStatus.Snapshot) -> HTTPResponse {
        guard snapshot.state == .running, !snapshot.restoring else {
            return .text(503, "not ready: \(snapshot.restoring ? "restoring state" : snapshot.state.rawValue)", headers: [("Retry-After", "1")])
        }
        return .text(200, "ready")
    }

    /// One status for several pipelines: the worst state, every partition, the sums.
    static func combined(_ snapshots: [PipelineStatus.Snapshot]) -> PipelineStatus.Snapshot {
        guard snapshots.count > 1 else { return snapshots.first ?? .init() }
        let order: [PipelineStatus.State] = [.running, .starting, .stopping, .stopped, .failed]
        var result = PipelineStatus.Snapshot()
        result.state = snapshots.map(\.state).max { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! } ?? .starting
        result.assigned = snapshots.flatMap(\.assigned).sorted()
        result.restoring = snapshots.contains { $0.restoring }
        result.recordsIn = snapshots.reduce(0) { $0 + $1.recordsIn }
        result.recordsOut = snapshots.reduce(0) { $0 + $1.recordsOut }
        result.batchesCommitted = snapshots.reduce(0) { $0 + $1.batchesCommitted }
        result.failure = snapshots.compactMap(\.failure).first
        result.kafka = snapshots.map(\.kafka).max { $0.consecutiveErrors < $1.consecutiveErrors } ?? .init()
        result.blockedOn = snapshots.compactMap(\.blockedOn).min { $0.since < $1.since }
        result.pipelineProblem = snapshots.compactMap(\.pipelineProblem).first
        return result
    }

    static func healthResponse(_ snapshot: PipelineStatus.Snapshot, service: String) -> HTTPResponse {
        let healthy = snapshot.state == .running || snapshot.state == .starting
        var object: [String: Any] = [
            "service": service,
            "status": snapshot.state.rawValue,
            "assigned_partitions": snapshot.assigned.map(\.description),
            "restoring": snapshot.restoring,
            "records_in": snapshot.recordsIn,
            "records_out": snapshot.recordsOut,
            "batches_committed": snapshot.batchesCommitted,
        ]
        if let failure = snapshot.failure { object["failure"] = failure }
        // Degraded: still running (a restart would not help), but Kafka keeps failing; says why.
        let degradedReason = snapshot.degradedReason
        object["degraded"] = degradedReason != nil
        if let degradedReason {
            object["kafka_errors"] = snapshot.kafka.consecutiveErrors
            object["kafka_last_error"] = degradedReason
        }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return .init(status: healthy ? 200 : 503, contentType: "application/json", body: Array(body) + [10])
    }
}

/// The pipeline as a ServiceLifecycle service. The pipeline blocks in librdkafka calls, so it runs
/// on its own thread rather than on the cooperative pool.
struct PipelineService: Service {
    let pipeline: UncheckedPipeline

    init(pipeline: StreamPipeline) { self.pipeline = UncheckedPipeline(pipeline) }

    func run() async throws {
        let stop = StopSignal()
        let pipeline = self.pipeline
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        try pipeline.value.run(until: stop)
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "pipeline"
                thread.start()
            }
        } onGracefulShutdown: {
            stop.set()
        }
    }
}

/// `@unchecked Sendable`: the pipeline is handed to exactly one thread, which is the only one that
/// touches it from then on (its status is read through the Sendable ``PipelineStatus``).
struct UncheckedPipeline: @unchecked Sendable {
    let value: StreamPipeline
    init(_ value: StreamPipeline) { self.value = value }
}
