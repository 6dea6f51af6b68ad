import Foundation
import OrbitMembership
import OrbitRuntime

/// orbit-members [--config FILE]
///
/// Reads `orbit.user-events.valid`, `orbit.segment-changes` and `orbit.member-commands`; writes
/// `orbit.points-ledger`, `orbit.member-accounts` and `orbit.member-events`.
exit(await ServiceMain.run(
    name: "orbit-members", defaultConfig: "deploy/config/membership.yaml", defaultHTTPPort: 9103,
    settings: MembershipSettings.init(document:), topology: MembershipService.topology))
