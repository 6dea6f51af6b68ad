import OrbitContract
import OrbitCore

/// One partition's journeys: every journey's versions still in use, its status, and its funnel in
/// this partition. orbit-notify keeps it in its journeys store under one key per partition, since
/// every input of every user looks at it; `orbit.journeys` records reach every partition (the
/// router copies them), so each partition's table is built from the same inputs in the same order.
public struct JourneyTable: Sendable, Equatable {
    /// A journey in this partition.
    public struct Book: Sendable, Equatable {
        public var status: JourneyStatus
        /// Versions, oldest first; the last is current. At most ``maxVersions`` (users on a
        /// version that falls out move to the current one at the same step, or end).
        public var versions: [Journey]
        public var migration: JourneyMigration?
        /// The last version whose audience was enrolled here (0: none).
        public var audienceVersion = 0
        public var funnel = JourneyFunnel()

        public init(status: JourneyStatus, versions: [Journey], migration: JourneyMigration? = nil) {
            (self.status, self.versions, self.migration) = (status, versions, migration)
        }

        public var current: Journey { versions[versions.count - 1] }
        public func version(_ n: Int) -> Journey? { versions.last { $0.version == n } }
    }

    public static let maxVersions = 8
    public var books: [String: Book] = [:]

    public init() {}

    /// What a record of `orbit.journeys` changes: a new version is kept beside the older ones; an
    /// older or equal version changes only the status. Returns the book as it was.
    @discardableResult
    public mutating func apply(_ record: JourneyRecord) -> Book? {
        let before = books[record.id]
        guard var book = before else {
            books[record.id] = Book(status: record.status, versions: [record.journey], migration: record.migration)
            return nil
        }
        book.status = record.status
        if record.journey.version > book.current.version {
            book.versions.append(record.journey)
            if book.versions.count > Self.maxVersions { book.versions.removeFirst(book.versions.count - Self.maxVersions) }
            book.migration = record.migration
        }
        books[record.id] = book
        return before
    }
}

/// A journey's counts in one partition: how many entered, reached and left each step, and why
/// enrolments ended. `orbit.journey-progress` carries them per partition; the report sums them.
public struct JourneyFunnel: Sendable, Equatable {
    public struct StepCounts: Sendable, Equatable {
        public var entered = 0
        public var sent = 0
        public var suppressed = 0
        public var waited = 0
        public var converted = 0
        public init() {}
    }

    public var entered = 0
    public var converted = 0
    public var exited: [String: Int] = [:]
    public var steps: [String: StepCounts] = [:]

    public init() {}

    func write(_ w: inout JSONWriter, order: [String]) {
        w.key("entered"); w.int(entered)
        w.key("converted"); w.int(converted)
        w.key("exited"); w.beginObject(); for (reason, n) in exited.sorted(by: { $0.key < $1.key }) { w.key(reason); w.int(n) }; w.endObject()
        w.key("steps"); w.beginArray()
        let named = order + steps.keys.filter { !order.contains($0) }.sorted()
        for id in named {
            guard let c = steps[id] else { continue }
            w.beginObject()
            w.key("id"); w.string(id)
            w.key("entered"); w.int(c.entered); w.key("sent"); w.int(c.sent); w.key("suppressed"); w.int(c.suppressed)
            w.key("waited"); w.int(c.waited); w.key("converted"); w.int(c.converted)
            w.endObject()
        }
        w.endArray()
    }

    init(_ o: JSONObject) {
        func n(_ v: JSONValue?) -> Int { Int(v?.numberValue?.int64Value ?? 0) }
        entered = n(o["entered"]); converted = n(o["converted"])
        for m in o["exited"]?.objectValue?.members ?? [] { exited[m.key] = n(m.value) }
        for row in o["steps"]?.arrayValue ?? [] {
            guard let r = row.objectValue, let id = r["id"]?.stringValue else { continue }
            var c = StepCounts()
            c.entered = n(r["entered"]); c.sent = n(r["sent"]); c.suppressed = n(r["suppressed"]); c.waited = n(r["waited"]); c.converted = n(r["converted"])
            steps[id] = c
        }
    }

    /// Adds another partition's counts (the report's sum).
    public mutating func add(_ other: JourneyFunnel) {
        entered += other.entered; converted += other.converted
        for (k, v) in other.exited { exited[k, default: 0] += v }
        for (k, v) in other.steps {
            var c = steps[k] ?? StepCounts()
            c.entered += v.entered; c.sent += v.sent; c.suppressed += v.suppressed; c.waited += v.waited; c.converted += v.converted
            steps[k] = c
        }
    }
}

/// A record of `orbit.journey-progress` (compacted; key `<journey>/<partition>`): a journey's
/// funnel in one partition. The latest of every partition, summed, is the journey's funnel.
public struct JourneyProgress: Sendable, Equatable {
    public var journey: String
    public var partition: Int
    public var version: Int
    public var status: JourneyStatus
    /// The current version's step ids, in order (the funnel's rows).
    public var stepOrder: [String]
    public var funnel: JourneyFunnel

    public init(journey: String, partition: Int, version: Int, status: JourneyStatus, stepOrder: [String], funnel: JourneyFunnel) {
        (self.journey, self.partition, self.version, self.status, self.stepOrder, self.funnel) = (journey, partition, version, status, stepOrder, funnel)
    }

    public func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        w.key("schema_version"); w.int(1)
        w.key("journey"); w.string(journey)
        w.key("partition"); w.int(partition)
        w.key("version"); w.int(version)
        w.key("status"); w.string(status.rawValue)
        w.key("step_order"); w.beginArray(); for s in stepOrder { w.string(s) }; w.endArray()
        funnel.write(&w, order: stepOrder)
        w.endObject()
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) -> JourneyProgress? {
        guard case .object(let o)? = try? JSONParser.parse(bytes), let journey = o["journey"]?.stringValue,
              let status = o["status"]?.stringValue.flatMap(JourneyStatus.init(rawValue:)) else { return nil }
        return JourneyProgress(journey: journey, partition: Int(o["partition"]?.numberValue?.int64Value ?? 0), version: Int(o["version"]?.numberValue?.int64Value ?? 0),
                               status: status, stepOrder: (o["step_order"]?.arrayValue ?? []).compactMap(\.stringValue), funnel: JourneyFunnel(o))
    }
}

// MARK: State bytes

extension JourneyTable: StateCodable {
    public func stateBytes() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 4096)
        w.beginObject()
        w.key("v"); w.int(1)
        w.key("books"); w.beginArray()
        for (id, book) in books.sorted(by: { $0.key < $1.key }) {
            w.beginObject()
            w.key("id"); w.string(id)
            w.key("audience_version"); w.int(book.audienceVersion)
            w.key("funnel"); w.beginObject(); book.funnel.write(&w, order: book.current.steps.map(\.id)); w.endObject()
            // The records themselves: read back by the same reader (without notify.yaml's checks).
            w.key("records"); w.beginArray()
            for (index, journey) in book.versions.enumerated() {
                let last = index == book.versions.count - 1
                w.raw(JourneyRecord(journey: journey, status: last ? book.status : .active, migration: last ? book.migration : nil).encoded())
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    public init(stateBytes bytes: [UInt8]) throws {
        guard case .object(let o) = try JSONParser.parse(bytes, maxDepth: 48), o["v"]?.numberValue?.int64Value == 1 else {
            throw Recipient.Unreadable(description: "not a journeys state of version 1")
        }
        self.init()
        for entry in o["books"]?.arrayValue ?? [] {
            guard let b = entry.objectValue, let id = b["id"]?.stringValue, let records = b["records"]?.arrayValue, !records.isEmpty else {
                throw Recipient.Unreadable(description: "a journeys state entry without id or records")
            }
            var book: Book?
            for record in records {
                var w = JSONWriter(); w.value(record)
                let decoded = try JourneyRecord.decode(key: id, w.bytes, policy: nil, topic: "journeys state")
                if book == nil { book = Book(status: decoded.status, versions: [decoded.journey], migration: decoded.migration) } else {
                    book!.versions.append(decoded.journey); book!.status = decoded.status; book!.migration = decoded.migration
                }
            }
            book!.audienceVersion = Int(b["audience_version"]?.numberValue?.int64Value ?? 0)
            book!.funnel = JourneyFunnel(b["funnel"]?.objectValue ?? JSONObject())
            books[id] = book!
        }
    }
}
