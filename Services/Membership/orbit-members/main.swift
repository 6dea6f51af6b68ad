import Foundation
import Logging
import OrbitMembership
import OrbitRuntime

/// orbit-members [--config FILE]
///
/// Reads `orbit.user-events.valid`, `orbit.segment-changes` and `orbit.member-commands`; writes
/// `orbit.points-ledger`, `orbit.member-accounts` and `orbit.member-events`.
let exitCode = await ServiceMain.run(
    name: "orbit-members", defaultConfig: "deploy/config/membership.yaml", defaultHTTPPort: 9103,
    settings: { document in try MembershipSettings(document: document) },
    stages: { settings, runtime, logger in
        try MembershipService.makePipelines(runtime: runtime, settings: settings, logger: logger)
    })
exit(exitCode)
