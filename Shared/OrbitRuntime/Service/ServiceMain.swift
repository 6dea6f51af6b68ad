import Foundation
import Logging
import OrbitKafka

/// The `main` of every Orbit service: read `--config` (or `$ORBIT_CONFIG`), load and validate the
/// configuration, build the pipeline, run it until SIGTERM. Returns the process exit code:
/// 0 after a clean stop, 78 (EX_CONFIG) for configuration errors, 75 (EX_TEMPFAIL) for a fatal
/// Kafka client error, 1 for other failures.
public enum ServiceMain {
    /// - Parameters:
    ///   - settings: reads the service's own sections; every setting is validated before Kafka is contacted.
    ///   - topology: declares the service's stages (``ServiceTopology``); pure, so `--check-config`
    ///     also checks that the configuration asks nothing of the runtime that the stages cannot do.
    public static func run<Settings>(
        name: String, defaultConfig: String, defaultHTTPPort: Int, arguments: [String] = CommandLine.arguments,
        settings readSettings: (ConfigDocument) throws -> Settings,
        topology declare: (Settings, RuntimeSettings) throws -> ServiceTopology
    ) async -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        var path = environment["ORBIT_CONFIG"]
        var explicit = path != nil
        var checkOnly = false
        var index = 1
        while index < arguments.count {
            switch arguments[index] {
            case "--config" where index + 1 < arguments.count:
                path = arguments[index + 1]
                explicit = true
                index += 2
            case "--check-config":
                checkOnly = true
                index += 1
            case "--help", "-h":
                print("usage: \(name) [--config FILE] [--check-config]\n  FILE defaults to \(defaultConfig); ORBIT__SECTION__KEY=value overrides any setting.\n  --check-config: validate the file and the environment's overrides, then exit (0: valid, 78: not), without contacting Kafka.")
                return 0
            default:
                FileHandle.standardError.write(Data("\(name): unknown argument \(arguments[index]) (see --help)\n".utf8))
                return 64
            }
        }
        let file = path ?? defaultConfig
        let document: ConfigDocument
        var runtime: RuntimeSettings
        let topology: ServiceTopology
        let pipelines: [StreamPipeline]
        let logger: Logger
        do {
            if !explicit && !FileManager.default.fileExists(atPath: file) {
                document = try ConfigDocument(yaml: "", file: "(built-in defaults)", environment: environment)
            } else {
                document = try ConfigDocument.load(path: file, environment: environment)
            }
            runtime = try RuntimeSettings(document: document, defaultServiceName: name, defaultHTTPPort: defaultHTTPPort)
            let service = try readSettings(document)
            topology = try declare(service, runtime)
            try topology.checkHonoured(by: runtime, state: document.section("state"), service: document.section("service"))
            if checkOnly {
                print("\(name): configuration OK (\(document.file))")
                return 0
            }
            try runtime.resolveBootstrapServers()
        } catch {
            FileHandle.standardError.write(Data("\(name): configuration error: \(error)\n".utf8))
            return 78
        }
        let registry = ServiceRunner.bootstrap(runtime)
        logger = Logger(label: runtime.serviceName)
        do {
            pipelines = try topology.pipelines(runtime: runtime, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            return 1
        }
        do {
            try await ServiceRunner.run(pipelines, settings: runtime, registry: registry, logger: logger)
            return 0
        } catch let error as KafkaError where error.isFatal {
            logger.critical("stopped by a fatal Kafka error (exit \(Self.fatalKafkaExitCode)): \(error)")
            return Self.fatalKafkaExitCode
        } catch {
            logger.critical("stopped by failure: \(error)")
            return 1
        }
    }

    /// A Kafka client raised a fatal error (for example a fenced producer): the process stops
    /// rather than go on with a broken client, and its supervisor restarts it with a new one.
    /// 75 is EX_TEMPFAIL: try again.
    public static let fatalKafkaExitCode: Int32 = 75
}
