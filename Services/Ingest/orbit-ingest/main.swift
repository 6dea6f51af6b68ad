import Foundation
import Logging
import OrbitIngest
import OrbitRuntime

/// orbit-ingest [--config FILE]
///
/// Reads `orbit.user-events`, writes `orbit.user-events.valid` and `orbit.user-events.dlq`.
/// Configuration: FILE (default deploy/config/ingest.yaml, or $ORBIT_CONFIG) plus ORBIT__* overrides.
let exitCode = await ServiceMain.run(
    name: "orbit-ingest", defaultConfig: "deploy/config/ingest.yaml", defaultHTTPPort: 9101,
    settings: { document in try IngestSettings(document: document) },
    build: { ingest, runtime, logger in
        try IngestService.checkTopics(runtime: runtime, ingest: ingest, logger: logger)
        return IngestService.makePipeline(runtime: runtime, ingest: ingest, logger: logger)
    })
exit(exitCode)
