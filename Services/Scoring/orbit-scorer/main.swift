import Foundation
import Logging
import OrbitRuntime
import OrbitScoring

/// orbit-scorer [--config FILE]
///
/// Reads `orbit.user-events.valid`, writes `orbit.user-profiles` and `orbit.segment-changes`.
/// Configuration: FILE (default deploy/config/scoring.yaml, or $ORBIT_CONFIG) plus ORBIT__* overrides.
let exitCode = await ServiceMain.run(
    name: "orbit-scorer", defaultConfig: "deploy/config/scoring.yaml", defaultHTTPPort: 9102,
    settings: { document in try ScoringSettings(document: document) },
    stages: { scoring, runtime, logger in
        try ScorerService.makePipelines(runtime: runtime, scoring: scoring, logger: logger)
    })
exit(exitCode)
