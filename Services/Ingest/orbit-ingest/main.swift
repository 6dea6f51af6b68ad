import Foundation
import OrbitIngest
import OrbitRuntime

/// orbit-ingest [--config FILE]
///
/// Reads `orbit.user-events`, writes `orbit.user-events.valid` and `orbit.user-events.dlq`.
/// Configuration: FILE (default deploy/config/ingest.yaml, or $ORBIT_CONFIG) plus ORBIT__* overrides.
exit(await ServiceMain.run(
    name: "orbit-ingest", defaultConfig: "deploy/config/ingest.yaml", defaultHTTPPort: 9101,
    settings: IngestSettings.init(document:), topology: IngestService.topology))
