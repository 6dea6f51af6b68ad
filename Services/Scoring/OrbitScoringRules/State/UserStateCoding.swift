import OrbitCore
/// The state store's value format for ``UserState`` (version 1). Fields are only appended.
extension UserState {
    static let formatVersion: UInt64 = 1

    public func encoded() -> [UInt8] {
        var w = CompactWriter(capacity: 160)
        w.unsigned(Self.formatVersion)
        w.unsigned(UInt64(appliedOffsets.count)); for o in appliedOffsets { w.signed(o) }
        w.unsigned(UInt64(recentIDs.count)); for id in recentIDs { w.fixed64(id) }
        w.int32(signupDay ?? .min)
        w.int32(firstSeenDay); w.int32(lastActivityDay); w.signed(lastEventMillis)
        w.int32(purchases); w.int32(firstPurchaseDay ?? .min); w.int32(lastPurchaseDay ?? .min)
        w.signed(firstPurchaseMinor); w.signed(grossMinor); w.signed(refundedMinor); w.int32(refunds)
        w.unsigned(UInt64(months.count)); for m in months { w.int32(m.index); w.int32(m.purchases); w.signed(m.netMinor) }
        w.fixed64(categories)
        w.string(referredBy); w.int32(referrals); w.int32(convertedReferrals); w.signed(referralSpendMinor)
        w.unsigned(UInt64(communityDays.count)); for d in communityDays { w.int32(d.day); w.int32(d.count) }
        w.int32(checkInLastDay ?? .min); w.int32(checkInStreak); w.int32(checkInLongest)
        w.int32(overduePayments); w.int32(complaints); w.unsigned(subscriptionActive ? 1 : 0)
        w.string(lastLifecycle?.rawValue); w.int32(lastLifecycleSince); w.string(lastSegment?.rawValue)
        w.string(lastTier?.rawValue); w.unsigned(lastSuperUser ? 1 : 0)
        w.int32(activeSinceDay ?? .min); w.int32(reactivatedDay ?? .min)
        w.fixed64(lastProfileHash)
        w.signed(referredAtMillis)
        w.unsigned(UInt64(referees.count))
        for r in referees { w.fixed64(r.referee); w.int32(r.purchases); w.signed(r.grossMinor); w.unsigned(r.revoked ? 1 : 0) }
        w.unsigned(profilingWithheld ? 1 : 0)
        w.unsigned(UInt64(customSegments.count)); for id in customSegments { w.string(id) }
        // The portrait.
        w.unsigned(UInt64(attributes.count))
        for attribute in attributes {
            w.string(attribute.name)
            switch attribute.value {
            case .text(let s): w.unsigned(0); w.string(s)
            case .number(let n): w.unsigned(1); w.double(n)
            case .date(let d): w.unsigned(2); w.int32(d)
            case .list(let l): w.unsigned(3); w.unsigned(UInt64(l.count)); for s in l { w.string(s) }
            }
        }
        w.string(firstTouch?.channel); w.signed(firstTouch?.timeMillis ?? .max)
        w.unsigned(UInt64(categorySpend.count)); for c in categorySpend { w.string(c.name); w.signed(c.minor) }
        w.unsigned(UInt64(activityClock.count)); for c in activityClock { w.unsigned(UInt64(c)) }
        w.unsigned(UInt64(recentEvents.count)); for e in recentEvents { w.int32(e.day); w.unsigned(UInt64(e.type)); w.unsigned(UInt64(e.count)) }
        w.string(member.level); w.signed(member.levelMillis); w.unsigned(member.paid ? 1 : 0); w.signed(member.paidMillis)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = CompactReader(bytes)
        guard try r.unsigned() == Self.formatVersion else { throw CompactReader.Failure.malformed }
        func optional(_ v: Int32) -> Int32? { v == .min ? nil : v }
        self.init()
        let offsets = try r.unsigned()
        guard offsets <= 16 else { throw CompactReader.Failure.malformed }
        appliedOffsets = try (0..<offsets).map { _ throws(CompactReader.Failure) in try r.signed() }
        while appliedOffsets.count < 2 { appliedOffsets.append(-1) }
        let ids = try r.unsigned()
        guard ids <= UInt64(Self.recentIDLimit) else { throw CompactReader.Failure.malformed }
        recentIDs = try (0..<ids).map { _ throws(CompactReader.Failure) in try r.fixed64() }
        signupDay = optional(try r.int32())
        firstSeenDay = try r.int32(); lastActivityDay = try r.int32(); lastEventMillis = try r.signed()
        purchases = try r.int32(); firstPurchaseDay = optional(try r.int32()); lastPurchaseDay = optional(try r.int32())
        firstPurchaseMinor = try r.signed(); grossMinor = try r.signed(); refundedMinor = try r.signed(); refunds = try r.int32()
        let monthCount = try r.unsigned()
        guard monthCount <= UInt64(Self.monthsKept) else { throw CompactReader.Failure.malformed }
        months = try (0..<monthCount).map { _ throws(CompactReader.Failure) in Month(index: try r.int32(), purchases: try r.int32(), netMinor: try r.signed()) }
        categories = try r.fixed64()
        referredBy = try r.string(); referrals = try r.int32(); convertedReferrals = try r.int32(); referralSpendMinor = try r.signed()
        let dayCount = try r.unsigned()
        guard dayCount <= 400 else { throw CompactReader.Failure.malformed }
        communityDays = try (0..<dayCount).map { _ throws(CompactReader.Failure) in DayCount(day: try r.int32(), count: try r.int32()) }
        checkInLastDay = optional(try r.int32()); checkInStreak = try r.int32(); checkInLongest = try r.int32()
        overduePayments = try r.int32(); complaints = try r.int32(); subscriptionActive = try r.unsigned() == 1
        lastLifecycle = try r.string().flatMap(LifecycleStage.init(rawValue:)); lastLifecycleSince = try r.int32()
        lastSegment = try r.string().flatMap(RFMSegment.init(rawValue:))
        lastTier = try r.string().flatMap(ValueTier.init(rawValue:)); lastSuperUser = try r.unsigned() == 1
        activeSinceDay = optional(try r.int32()); reactivatedDay = optional(try r.int32())
        lastProfileHash = try r.fixed64()
        referredAtMillis = try r.signed()
        guard !r.atEnd else { return }  // appended later: older values have no referee totals
        let refereeCount = try r.unsigned()
        guard refereeCount <= 1_000_000 else { throw CompactReader.Failure.malformed }
        referees = try (0..<refereeCount).map { _ throws(CompactReader.Failure) in
            RefereeTotals(referee: try r.fixed64(), purchases: try r.int32(), grossMinor: try r.signed(), revoked: try r.unsigned() == 1)
        }
        guard !r.atEnd else { return }  // appended later: older values have consent to profiling
        profilingWithheld = try r.unsigned() == 1
        guard !r.atEnd else { return }  // appended later: older values are in no operator's segment
        let segments = try r.unsigned()
        guard segments <= UInt64(SegmentDefinition.maxDefinitions) else { throw CompactReader.Failure.malformed }
        customSegments = try (0..<segments).map { _ throws(CompactReader.Failure) in
            guard let id = try r.string() else { throw CompactReader.Failure.malformed }
            return id
        }
        guard !r.atEnd else { return }  // appended later: older values have no portrait
        let attributeCount = try r.unsigned()
        guard attributeCount <= UInt64(AttributeSchema.maxDeclarations) else { throw CompactReader.Failure.malformed }
        attributes = try (0..<attributeCount).map { _ throws(CompactReader.Failure) in
            let name = try r.requiredString()
            let value: AttributeValue
            switch try r.unsigned() {
            case 0: value = .text(try r.requiredString())
            case 1: value = .number(try r.double())
            case 2: value = .date(try r.int32())
            case 3:
                let count = try r.unsigned()
                guard count <= 1000 else { throw CompactReader.Failure.malformed }
                value = .list(try (0..<count).map { _ throws(CompactReader.Failure) in try r.requiredString() })
            default: throw CompactReader.Failure.malformed
            }
            return UserAttribute(name: name, value: value)
        }
        let channel = try r.string(); let touched = try r.signed()
        firstTouch = channel.map { FirstTouch(channel: $0, timeMillis: touched) }
        let categoryCount = try r.unsigned()
        guard categoryCount <= 1000 else { throw CompactReader.Failure.malformed }
        categorySpend = try (0..<categoryCount).map { _ throws(CompactReader.Failure) in CategorySpend(name: try r.requiredString(), minor: try r.signed()) }
        let slots = try r.unsigned()
        guard slots == 0 || slots == UInt64(ActivityClock.slots) else { throw CompactReader.Failure.malformed }
        activityClock = try (0..<slots).map { _ throws(CompactReader.Failure) in UInt16(truncatingIfNeeded: try r.unsigned()) }
        let recentCount = try r.unsigned()
        guard recentCount <= UInt64(RecentEvents.maxEntries) else { throw CompactReader.Failure.malformed }
        recentEvents = try (0..<recentCount).map { _ throws(CompactReader.Failure) in
            RecentEventCount(day: try r.int32(), type: UInt8(truncatingIfNeeded: try r.unsigned()), count: UInt16(truncatingIfNeeded: try r.unsigned()))
        }
        member.level = try r.string(); member.levelMillis = try r.signed(); member.paid = try r.unsigned() == 1; member.paidMillis = try r.signed()
    }
}
