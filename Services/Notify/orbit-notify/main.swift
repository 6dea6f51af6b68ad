import Foundation
import OrbitNotify
import OrbitRuntime

/// orbit-notify [--config FILE]
///
/// Reads `orbit.user-events.valid`, `orbit.segment-changes`, `orbit.member-events`,
/// `orbit.points-ledger`, `orbit.user-profiles`, `orbit.member-accounts`, `orbit.user-contacts`,
/// `orbit.user-preferences`, `orbit.user-tags` and `orbit.notify-commands`; writes
/// `orbit.notifications`, `orbit.notification-deliveries`, `orbit.user-inbox`,
/// `orbit.experiment-outcomes` and `orbit.campaign-progress`, and delivers e-mail and webhooks.
exit(await ServiceMain.run(
    name: "orbit-notify", defaultConfig: "deploy/config/notify.yaml", defaultHTTPPort: 9104,
    settings: NotifySettings.init(document:), topology: { settings, runtime in NotifyService.topology(settings, runtime: runtime) }))
