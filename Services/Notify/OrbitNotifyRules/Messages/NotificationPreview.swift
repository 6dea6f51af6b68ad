import OrbitContract

/// What a user would get from a trigger now: the recipient is built from the latest records of
/// the user's profile, account, contacts, preferences and tags (as the service joins them), the
/// trigger's latest source record of the user supplies `event`, and consent, contact and quiet
/// hours are applied. Caps and deduplication depend on what the service sent, which lives in its
/// state, so the preview does not apply them. For `orbit notify preview`.
public enum NotificationPreview {
    public struct Result: Sendable {
        public var channel: Channel
        public var locale: String
        public var to: String?
        /// Why it would not go out now (`opted_out`, `no_contact`, `quiet_hours_deferred until ...`), or nil.
        public var suppression: String?
        public var content: RenderedMessage?
    }

    public struct UnknownTemplate: Error, CustomStringConvertible { public let description: String }

    public static func preview(policy: NotifyPolicy, template: String, userID: String, profile: [UInt8]?, account: [UInt8]?, contacts: [UInt8]?,
                               preferences: [UInt8]?, tags: [UInt8]?, event: [UInt8]?, channel: Channel?, locale: String?, now: Int64) throws -> [Result] {
        var r = Recipient()
        if let o = profile.flatMap({ try? JSONParser.parse($0).objectValue }) { r.profile = ProfileInput.facts(o) }
        if let o = account.flatMap({ try? JSONParser.parse($0).objectValue }) { r.account = ProfileInput.account(o) }
        if let contacts, case .success(let c) = ContactsInput.contacts(contacts) { r.contacts = c }
        if let preferences, case .success(let p) = ContactsInput.preferences(preferences) { r.preferences = p }
        if let o = tags.flatMap({ try? JSONParser.parse($0).objectValue }) { r.tags = (o["tags"]?.arrayValue ?? []).compactMap(\.stringValue) }
        let trigger = policy.trigger(named: template)
        let channels = channel.map { [$0] } ?? trigger?.channels ?? Channel.allCases.filter { c in policy.templates.locales.contains { policy.templates.has(template, channel: c, locale: $0) } }
        guard !channels.isEmpty else { throw UnknownTemplate(description: "no trigger or template named \(template)") }
        let chosenLocale = locale ?? policy.templates.locale(for: r.contacts.locale)
        let eventObject = event.flatMap { try? JSONParser.parse($0).objectValue } ?? JSONObject()
        let variant = trigger?.experiment?.assign(userID: userID)
        var variables = TemplateVariables(userID: userID, recipient: r, event: eventObject, trigger: template, campaign: trigger == nil ? template : nil,
                                          variant: variant, digest: trigger?.digestWindowMillis ?? 0 > 0 ? (1, 0) : nil, policy: policy)
        var results: [Result] = []
        for channel in channels {
            var suppression: String?
            if variant == Experiment.holdout { suppression = SuppressionReason.holdout.rawValue }
            let categoryName = trigger?.category ?? "marketing"
            if suppression == nil, let reason = policy.delivery.channelSuppression(channel, category: categoryName, recipient: r) { suppression = reason.rawValue }
            if suppression == nil, let category = policy.delivery.categories[categoryName],
               case .deferUntil(let due) = policy.delivery.firing(category: category, recipient: r, at: now) {
                suppression = "\(SuppressionReason.quietHoursDeferred.rawValue) until \(RFC3339.format(millis: due))"
            }
            variables.notification = ("preview:\(template):\(userID):\(channel.rawValue)", channel.rawValue)
            let content = policy.templates.render(template, variant: variant, channel: channel, locale: chosenLocale, variables: variables)
            results.append(Result(channel: channel, locale: chosenLocale, to: r.contacts.address(for: channel), suppression: suppression, content: content))
        }
        return results
    }
}
