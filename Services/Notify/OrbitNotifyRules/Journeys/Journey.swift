import OrbitContract
import OrbitCore

/// A journey an operator defines (`orbit journeys apply`): users enter on a trigger, on entering
/// a segment, or as a whole audience at once, then walk its steps (send, wait, branch, grant,
/// exit) until they finish, convert or leave. orbit-notify keeps each user's place in it with the
/// rest of the user's state, so every policy of a message (consent, quiet hours, caps, holdout)
/// applies to a journey's messages as to any other.
///
/// A journey is immutable once applied: a changed definition is a new version. Enrolled users
/// finish on the version they entered unless the operator migrates them (``JourneyMigration``).
public struct Journey: Sendable, Equatable {
    public static let maxSteps = 32
    /// The longest wait a step may hold a user (a year).
    public static let maxWaitMillis: Int64 = 366 * 86_400_000

    public var id: String
    public var version: Int
    public var name: String
    /// The message category of its sends (consent, caps and quiet hours follow it).
    public var category: String
    public var entry: Entry
    public var steps: [Step]
    public var exits: Exits
    public var recurrence: Recurrence?
    /// Variants (a step's template may differ by variant, and a branch may test it) and a holdout
    /// that walks the journey without being sent anything, to measure the journey's uplift.
    public var experiment: Experiment?
    /// What counts as a conversion, and for how long after the user entered.
    public var conversionEvent: String
    public var conversionWindowMillis: Int64
    /// Whether a user who finished may enter again (never: one enrolment per user, ever).
    public var reentry: Reentry

    public init(id: String, version: Int, name: String, category: String, entry: Entry, steps: [Step], exits: Exits = Exits(),
                recurrence: Recurrence? = nil, experiment: Experiment? = nil, conversionEvent: String = "purchase",
                conversionWindowMillis: Int64 = 14 * 86_400_000, reentry: Reentry = .afterExit) {
        (self.id, self.version, self.name, self.category, self.entry, self.steps) = (id, version, name, category, entry, steps)
        (self.exits, self.recurrence, self.experiment, self.conversionEvent, self.conversionWindowMillis, self.reentry) =
            (exits, recurrence, experiment, conversionEvent, conversionWindowMillis, reentry)
    }

    /// The experiment id its outcomes carry on `orbit.experiment-outcomes`: `journey:<id>`.
    public var experimentID: String { "journey:\(id)" }

    /// The index of the step named `id`.
    public func index(of step: String) -> Int? { steps.firstIndex { $0.id == step } }

    // MARK: Parts

    public enum Entry: Sendable, Equatable {
        /// An input record that meets a trigger's conditions (as notify.yaml's triggers).
        case trigger(TriggerSource, [FieldCondition])
        /// Entering a segment: a dimension of `orbit.segment-changes` and the value entered
        /// (`custom:<id>` and `true` for an operator's segment).
        case segment(dimension: String, value: String)
        /// Every user the audience matches when the version starts (each partition evaluates its
        /// own users on its next clock tick), once per version.
        case audience(AudienceFilter)
        /// A buyer whose expected next purchase (BG/NBD, from the profile the scorer computed
        /// with the deployed model) passed `graceDays` ago without a purchase; once per expected date.
        case repurchaseDue(graceDays: Int)

        /// The segment a user must stay in, for a segment entry.
        public var segment: (dimension: String, value: String)? {
            if case .segment(let d, let v) = self { return (d, v) }
            return nil
        }
    }

    public struct Step: Sendable, Equatable {
        public var id: String
        public var action: Action
        public init(id: String, _ action: Action) { (self.id, self.action) = (id, action) }
    }

    public enum Action: Sendable, Equatable {
        /// A template on channels; the journey's category unless the step names one.
        case send(template: String, channels: [Channel], category: String?)
        case wait(Wait)
        /// To `then` when the condition holds, else to `otherwise` (nil: the next step).
        case branch(JourneyCondition, then: String?, otherwise: String?)
        /// Points for the user, as a member command (`adjust`) with a request id of the
        /// enrolment and step, so a replay grants once.
        case grant(points: Int64, reason: String)
        /// Ends the enrolment here (`completed` at this step).
        case exit
    }

    /// Where a wait ends. Durations are elapsed time; a local time of day is the next one (in the
    /// user's time zone, daylight saving included) after the duration. A wait for an event or a
    /// segment change ends when it happens (to `onEvent`), or at its timeout (to `onTimeout`).
    public struct Wait: Sendable, Equatable {
        public var durationMillis: Int64 = 0
        /// Minutes after local midnight.
        public var localMinute: Int?
        public var until: Until?
        public var onEvent: String?
        public var onTimeout: String?
        public init(durationMillis: Int64 = 0, localMinute: Int? = nil, until: Until? = nil, onEvent: String? = nil, onTimeout: String? = nil) {
            (self.durationMillis, self.localMinute, self.until, self.onEvent, self.onTimeout) = (durationMillis, localMinute, until, onEvent, onTimeout)
        }
    }

    public enum Until: Sendable, Equatable {
        /// An event of this type (`orbit.user-events.valid`).
        case event(String)
        /// A segment change to this value of this dimension.
        case segment(dimension: String, value: String)
    }

    /// What ends an enrolment before its last step.
    public struct Exits: Sendable, Equatable {
        /// Event types that end it (a purchase in a win-back journey).
        public var events: Set<String> = []
        /// The user withdrew marketing consent or opted out of the journey's category.
        public var optOut = true
        /// The conversion event within the window: counted for the step that led to it, and the end.
        public var converted = true
        /// The user left the segment they entered by (segment entries).
        public var leftSegment = true
        public init() {}
    }

    /// Runs again, `every` after a run started, while the user still qualifies (still in the entry
    /// segment; still in the audience), at most `max` runs in all.
    public struct Recurrence: Sendable, Equatable {
        public var everyMillis: Int64
        public var max: Int
        public init(everyMillis: Int64, max: Int) { (self.everyMillis, self.max) = (everyMillis, max) }
    }

    public enum Reentry: String, Sendable, CaseIterable {
        /// A user who finished (or left) may enter again on a later entry.
        case afterExit = "after_exit"
        case never
    }
}

/// The state of a journey on `orbit.journeys`: what `orbit journeys pause | resume | retire` set.
public enum JourneyStatus: String, Sendable, CaseIterable {
    /// Enrols and advances users.
    case active
    /// Holds every enrolment where it is and enrols nobody; a wait that ends meanwhile ends on resume.
    case paused
    /// Ends every enrolment (reason `retired`) and enrols nobody.
    case retired
}

/// Moves enrolled users of one version onto the current version: each mapped step of the old
/// version to a step of the new one. Users at an unmapped step finish on their version.
public struct JourneyMigration: Sendable, Equatable {
    public var fromVersion: Int
    public var steps: [String: String]
    public init(fromVersion: Int, steps: [String: String]) { (self.fromVersion, self.steps) = (fromVersion, steps) }
}
