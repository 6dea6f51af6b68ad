import OrbitCore

/// A user's place in a journey, kept with the rest of the user's state (``Recipient``): the
/// version and step, when the current wait ends, and the last steps taken.
public struct JourneyEnrolment: Sendable, Equatable {
    /// One step taken: which, when, and how (`sent`, `waited`, `event`, `timeout`, `then`, `else`,
    /// `granted`).
    public struct Mark: Sendable, Equatable {
        public var step: String
        public var atMillis: Int64
        public var how: String
        public init(step: String, atMillis: Int64, how: String) { (self.step, self.atMillis, self.how) = (step, atMillis, how) }
    }

    public static let historyLimit = 8

    public var journey: String
    public var version: Int
    /// This user's nth enrolment in the journey (message ids and grants carry it, so a user who
    /// enters again gets new ones and a replay the same ones).
    public var sequence: Int
    /// The run, 1-based (recurrence).
    public var run: Int
    /// The step the user is at: a wait in progress, or `steps.count` between two runs.
    public var step: Int
    /// When the wait at `step` ends (its timeout for an event or segment), or the next run starts.
    public var dueMillis: Int64?
    public var enteredMillis: Int64
    public var runStartMillis: Int64
    public var variant: String
    /// The step whose message was sent last: a conversion counts for it.
    public var lastSent: String?
    /// When the user converted in this enrolment (counted once).
    public var convertedAtMillis: Int64?
    public var history: [Mark] = []

    public init(journey: String, version: Int, sequence: Int, variant: String, at time: Int64) {
        (self.journey, self.version, self.sequence, self.variant) = (journey, version, sequence, variant)
        (run, step, enteredMillis, runStartMillis) = (1, 0, time, time)
    }

    /// The prefix of every message id and grant request of this enrolment.
    public func idBase(userID: String) -> String { "journey:\(journey):\(userID):\(sequence)" }

    mutating func mark(_ step: String, _ how: String, at time: Int64) {
        history.append(Mark(step: step, atMillis: time, how: how))
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }

    func write(_ w: inout CompactWriter) {
        w.string(journey); w.int(version); w.int(sequence); w.int(run); w.int(step); w.optionalSigned(dueMillis)
        w.signed(enteredMillis); w.signed(runStartMillis); w.string(variant); w.string(lastSent); w.optionalSigned(convertedAtMillis)
        w.count(history.count); for m in history { w.string(m.step); w.signed(m.atMillis); w.string(m.how) }
    }

    init(reading r: inout CompactReader) throws {
        journey = try r.requiredString(); version = try r.int(); sequence = try r.int(); run = try r.int(); step = try r.int()
        dueMillis = try r.optionalSigned(); enteredMillis = try r.signed(); runStartMillis = try r.signed()
        variant = try r.requiredString(); lastSent = try r.string(); convertedAtMillis = try r.optionalSigned()
        history = try (0..<r.count()).map { _ in Mark(step: try r.requiredString(), atMillis: try r.signed(), how: try r.requiredString()) }
    }
}
