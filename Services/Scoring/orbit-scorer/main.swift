import Foundation
import OrbitRuntime
import OrbitScoring

/// orbit-scorer [--config FILE]
///
/// Reads `orbit.user-events.valid`, writes `orbit.user-profiles` and `orbit.segment-changes`.
/// Configuration: FILE (default deploy/config/scoring.yaml, or $ORBIT_CONFIG) plus ORBIT__* overrides.
exit(await ServiceMain.run(
    name: "orbit-scorer", defaultConfig: "deploy/config/scoring.yaml", defaultHTTPPort: 9102,
    settings: ScoringSettings.init(document:), topology: ScorerService.topology))
