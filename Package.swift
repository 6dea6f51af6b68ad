// swift-tools-version:6.0
import Foundation
import PackageDescription

/// `ORBIT_FUZZ=1` (set by scripts/fuzz.sh, with its own scratch path): Orbit's modules are
/// compiled with libFuzzer's coverage and AddressSanitizer, and the `orbit-fuzz` executable
/// exists. Normal builds never see either.
let fuzzing = ProcessInfo.processInfo.environment["ORBIT_FUZZ"] == "1"
let fuzzed: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []

/// Orbit: Swift microservices that talk only through Kafka.
///
/// Layout (see DEVELOPERS.md):
/// - `Shared/`   message schemas (OrbitContract), the Kafka layer (OrbitKafka), the service runtime (OrbitRuntime)
/// - `Services/` one executable per service, plus the `orbit` command-line tool
/// - `Tests/`    unit tests for the pure core, integration tests against the embedded broker
let package = Package(
    name: "Orbit",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "orbit", targets: ["orbit"]),
        .executable(name: "orbit-ingest", targets: ["orbit-ingest"]),
        .executable(name: "orbit-scorer", targets: ["orbit-scorer"]),
        .executable(name: "orbit-members", targets: ["orbit-members"]),
        .executable(name: "orbit-notify", targets: ["orbit-notify"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Notification: templates, the SMTP client (SwiftNIO + TLS), webhooks and their signatures.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // librdkafka, from Debian's librdkafka-dev (scripts/install-deps.sh installs it).
        .systemLibrary(
            name: "CRdKafka",
            path: "Shared/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // SQLite 3, from Debian's libsqlite3-dev: the optional disk-backed state store. Its C API
        // directly, not GRDB: the store is two tables and six prepared statements, and GRDB's
        // record and query layers would add minutes of build for none of them.
        .systemLibrary(
            name: "CSQLite",
            path: "Shared/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // jemalloc, from Debian's libjemalloc-dev: every Orbit executable allocates with it (see
        // OrbitRuntime's Allocator for why and what it measured).
        .systemLibrary(
            name: "CJemalloc",
            path: "Shared/CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        // The message contract: pure Swift, no I/O. Other teams' schema lives in deploy/schemas.
        .target(name: "OrbitContract", path: "Shared/OrbitContract"),
        // What the rules and the runtime share, pure: configuration documents with errors that name
        // file, line and field; compact state coding; the replay guard. Links no Kafka.
        .target(
            name: "OrbitCore",
            dependencies: ["OrbitContract", .product(name: "Yams", package: "Yams")],
            path: "Shared/OrbitCore"
        ),
        // A safe Swift layer over librdkafka. No C pointer leaves this module.
        .target(
            name: "OrbitKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Shared/OrbitKafka"
        ),
        // The service runtime: configuration, the consume-process-produce-commit loop, metrics, lifecycle.
        .target(
            name: "OrbitRuntime",
            dependencies: [
                "OrbitKafka",
                "OrbitContract",
                "OrbitCore",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                // HMAC-SHA256 for pseudonyms (privacy erasure).
                .product(name: "Crypto", package: "swift-crypto"),
                // The HTTP port (metrics, health, queries): SwiftNIO's HTTP/1 server.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Shared/OrbitRuntime"
        ),
        // Ingestion: validate, normalise and deduplicate user events.
        .target(
            name: "OrbitIngest",
            dependencies: ["OrbitContract", "OrbitRuntime", "OrbitKafka"],
            path: "Services/Ingest/OrbitIngest"
        ),
        // Each service is two modules: its pure rules (`Orbit<Service>Rules`: plain values in and
        // out, no Kafka, no runtime, tested without a broker) and the service (`Orbit<Service>`:
        // settings, the processor and its declared topology, on the runtime).
        // Scoring's rules: RFM, segments, lifecycle, value tiers, super users, churn models.
        .target(name: "OrbitScoringRules", dependencies: ["OrbitContract", "OrbitCore"], path: "Services/Scoring/OrbitScoringRules"),
        // Scoring as a service: the processor over the user store.
        .target(
            name: "OrbitScoring",
            dependencies: ["OrbitScoringRules", "OrbitContract", "OrbitRuntime", "OrbitKafka", .product(name: "Metrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log")],
            path: "Services/Scoring/OrbitScoring"
        ),
        // Membership's rules: earning rules, the ledger, lots, levels, member state and commands.
        .target(name: "OrbitMembershipRules", dependencies: ["OrbitContract", "OrbitCore"], path: "Services/Membership/OrbitMembershipRules"),
        // Membership as a service: the router and the ledger over the member store.
        .target(
            name: "OrbitMembership",
            dependencies: ["OrbitMembershipRules", "OrbitContract", "OrbitRuntime", "OrbitKafka", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics")],
            path: "Services/Membership/OrbitMembership"
        ),
        // Notification's rules: triggers, campaigns, policies, templates, experiments, recipients.
        .target(
            name: "OrbitNotifyRules",
            dependencies: [
                "OrbitContract", "OrbitCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Services/Notify/OrbitNotifyRules"
        ),
        // Notification as a service: the router, notify and delivery stages, the channel senders.
        .target(
            name: "OrbitNotify",
            dependencies: [
                "OrbitNotifyRules", "OrbitContract", "OrbitRuntime", "OrbitKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Services/Notify/OrbitNotify"
        ),
        .executableTarget(
            name: "orbit-notify",
            dependencies: ["OrbitNotify", "OrbitRuntime"],
            path: "Services/Notify/orbit-notify"
        ),
        .executableTarget(
            name: "orbit-members",
            dependencies: ["OrbitMembership", "OrbitRuntime"],
            path: "Services/Membership/orbit-members"
        ),
        .executableTarget(
            name: "orbit-scorer",
            dependencies: ["OrbitScoring", "OrbitRuntime"],
            path: "Services/Scoring/orbit-scorer"
        ),
        .executableTarget(
            name: "orbit-ingest",
            dependencies: ["OrbitIngest", "OrbitRuntime"],
            path: "Services/Ingest/orbit-ingest"
        ),
        // The operations report (`orbit report --html`): plain values in, one HTML page out.
        .target(
            name: "OrbitReport",
            dependencies: ["OrbitContract", "OrbitScoringRules", "OrbitNotifyRules", "OrbitMembershipRules"],
            path: "Services/CLI/OrbitReport"
        ),
        // The local stand-ins for mail and webhook endpoints (deploy/local) that `orbit up`,
        // `orbit demo` and the tests run beside the services. Not part of any service.
        .target(name: "OrbitLocalPeers", path: "Services/CLI/OrbitLocalPeers"),
        // The demo's synthetic population and its contacts, as plain records: `orbit demo` publishes
        // them, the demo digest test runs them through every service in process.
        .target(name: "OrbitDemoData", dependencies: ["OrbitContract", "OrbitMembershipRules"], path: "Services/CLI/OrbitDemoData"),
        // The command-line tool: broker, publish, tail, up, demo, bench.
        .executableTarget(
            name: "orbit",
            dependencies: [
                "OrbitContract", "OrbitKafka", "OrbitRuntime", "OrbitIngest", "OrbitScoring", "OrbitMembership", "OrbitNotify", "OrbitReport", "OrbitLocalPeers", "OrbitDemoData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // `orbit user` asks the services' query API (already built for orbit-notify's webhooks).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Services/CLI/orbit"
        ),
        // Test helpers: child processes of the built services, topic readers, tiny HTTP client.
        .target(
            name: "OrbitTestSupport",
            dependencies: ["OrbitKafka", "OrbitRuntime", "OrbitContract", "OrbitNotify", "OrbitLocalPeers"],
            path: "Tests/OrbitTestSupport"
        ),
        // The test kit: drives processors and whole declared topologies in process, without a broker
        // (Kafka Streams' TopologyTestDriver). Test-only: no production module depends on it.
        .target(
            name: "OrbitTestKit",
            dependencies: ["OrbitKafka", "OrbitRuntime"],
            path: "Tests/OrbitTestKit"
        ),
        // The fuzz targets: parsers of what others write, with the invariants they must keep.
        .target(
            name: "OrbitFuzzTargets",
            // The notify rules, not the service: the fuzz build (its own, with AddressSanitizer)
            // then compiles no SwiftNIO, TLS or HTTP client.
            dependencies: ["OrbitContract", "OrbitCore", "OrbitRuntime", "OrbitIngest", "OrbitScoring", "OrbitMembership", "OrbitNotifyRules"],
            path: "Tests/Fuzz/OrbitFuzzTargets"
        ),
        // Every committed corpus input and crash regression, replayed through the fuzz targets.
        .testTarget(name: "OrbitFuzzTests", dependencies: ["OrbitFuzzTargets"]),
        .testTarget(name: "OrbitContractTests", dependencies: ["OrbitContract", "OrbitRuntime", "OrbitKafka", "OrbitTestSupport"]),
        .testTarget(name: "OrbitMembershipTests", dependencies: ["OrbitMembership", "OrbitContract", "OrbitKafka", "OrbitRuntime", "OrbitTestKit"]),
        .testTarget(name: "OrbitScoringTests", dependencies: ["OrbitScoring", "OrbitKafka", "OrbitRuntime", "OrbitContract", "OrbitTestKit"], exclude: ["Fixtures"]),
        .testTarget(name: "OrbitRuntimeTests", dependencies: ["OrbitRuntime", "OrbitKafka", "OrbitContract", "OrbitTestSupport", "OrbitTestKit"]),
        .testTarget(name: "OrbitKafkaTests", dependencies: ["OrbitKafka", "OrbitRuntime", "OrbitTestSupport"]),
        .testTarget(
            name: "OrbitIngestTests",
            // Depending on the executable makes `swift test` build it: the multi-process tests run it.
            dependencies: ["OrbitIngest", "OrbitKafka", "OrbitRuntime", "OrbitContract", "OrbitTestSupport", "OrbitTestKit", "orbit-ingest"]
        ),
        .testTarget(
            name: "OrbitScorerServiceTests",
            dependencies: ["OrbitScoring", "OrbitKafka", "OrbitRuntime", "OrbitContract", "OrbitTestSupport", "OrbitTestKit", "orbit-scorer"]
        ),
        .testTarget(name: "OrbitNotifyTests", dependencies: ["OrbitNotify", "OrbitContract", "OrbitRuntime", "OrbitKafka", "OrbitTestSupport", "OrbitTestKit", "OrbitLocalPeers"]),
        .testTarget(name: "OrbitCLITests", dependencies: ["OrbitTestSupport", "OrbitContract", "OrbitRuntime", "OrbitIngest", "OrbitScoring", "OrbitMembership", "OrbitReport", .product(name: "Yams", package: "Yams"),
                                                   "orbit", "orbit-ingest", "orbit-scorer", "orbit-members", "orbit-notify"]),
        .testTarget(name: "OrbitDemoTests", dependencies: ["OrbitDemoData", "OrbitIngest", "OrbitScoring", "OrbitMembership", "OrbitNotify", "OrbitContract",
                                                    "OrbitKafka", "OrbitRuntime", "OrbitTestKit"], exclude: ["demo-digest.txt"]),
        .testTarget(
            name: "OrbitMembersServiceTests",
            dependencies: ["OrbitMembership", "OrbitKafka", "OrbitRuntime", "OrbitContract", "OrbitTestSupport", "orbit-members"]
        ),
    ]
)

// jemalloc serves every process's malloc (see OrbitRuntime's Allocator), except under
// AddressSanitizer: ASan interposes malloc itself, and memory one allocator made the other then
// freed (the fuzz run's first `free` aborted with "not malloc()-ed").
if !fuzzing, let runtime = package.targets.first(where: { $0.name == "OrbitRuntime" }) {
    runtime.dependencies.append("CJemalloc")
}

if fuzzing {
    package.products.append(.executable(name: "orbit-fuzz", targets: ["orbit-fuzz"]))
    // libFuzzer without its `main` (the toolchain's libclang_rt.fuzzer_no_main, found by
    // scripts/fuzz.sh): SwiftPM gives every executable its own entry point.
    let driver = ProcessInfo.processInfo.environment["ORBIT_FUZZ_RUNTIME"] ?? "libclang_rt.fuzzer_no_main-x86_64.a"
    package.targets.append(.systemLibrary(name: "CFuzzerDriver", path: "Tests/Fuzz/CFuzzerDriver"))
    package.targets.append(.executableTarget(
        name: "orbit-fuzz",
        dependencies: ["OrbitFuzzTargets", "CFuzzerDriver"],
        path: "Tests/Fuzz/orbit-fuzz",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])],
        linkerSettings: [.unsafeFlags(["-sanitize=address", "-Xlinker", driver, "-lstdc++"])]
    ))
    let instrumented: Set<String> = ["OrbitContract", "OrbitCore", "OrbitRuntime", "OrbitIngest", "OrbitScoringRules", "OrbitScoring", "OrbitMembershipRules",
                                     "OrbitMembership", "OrbitNotifyRules", "OrbitNotify", "OrbitFuzzTargets", "orbit-fuzz"]
    for target in package.targets where instrumented.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + fuzzed
    }
}

// Release builds optimise across Orbit's own modules: the services call the JSON writer, the
// keyed store and the Kafka layer once or more per record, and without this each call stays an
// opaque cross-module call (measured with `perf` on the scorer; see the README's benchmarks).
for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
}
