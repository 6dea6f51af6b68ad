import Foundation
import Logging
import Metrics
import OrbitKafka

/// A state backend on local disk: one SQLite file per store partition, so state can be larger
/// than memory (only SQLite's bounded page cache and the store's per-batch cache are resident).
///
/// The changelog topic stays the source of truth. The file is a copy of it plus a **checkpoint**:
/// the changelog offset the copy is complete up to. The checkpoint exists only between a clean
/// drop (every changelog record acknowledged, see ``StateBackend/drop(_:cleanly:)``) and the next
/// time the partition is opened, where it is deleted before anything is written. So:
/// - a same-instance restart after a clean stop reads only the changelog after the checkpoint;
/// - after a crash (no checkpoint) or with a file from elsewhere (another topic or partition), the
///   file is emptied and the partition restored from the whole changelog, as in memory.
///
/// Reading failures stop the service (``UnreadableState``); a failed write (a full or broken disk)
/// stops the process with the file and SQLite's message: the changelog holds every acknowledged
/// value, so the restart loses nothing.
public final class SQLiteStateBackend: StateBackend {
    public let changelogTopic: String
    let directory: String
    let cacheKiB: Int
    private var files: [Int32: PartitionFile] = [:]
    private var writingBatch = false
    private var openTransactions: Set<Int32> = []
    /// Kept from the last restore: it knows the cluster, to read end offsets for checkpoints.
    private var reader: ChangelogReader?
    private var logger = Logger(label: "orbit.state")

    public init(changelogTopic: String, directory: String, cacheKiB: Int) {
        self.changelogTopic = changelogTopic
        self.directory = (directory as NSString).appendingPathComponent(changelogTopic)
        self.cacheKiB = cacheKiB
    }

    public var ownedPartitions: [Int32] { files.keys.sorted() }
    public var count: Int { files.values.reduce(0) { $0 + $1.count } }

    func path(_ partition: Int32) -> String { (directory as NSString).appendingPathComponent("\(partition).sqlite") }

    // MARK: Values

    public func get(_ partition: Int32, _ key: String) -> [UInt8]? {
        guard let file = files[partition] else { return nil }
        return Self.orStop(file) { () throws(SQLiteError) in try file.get(key) }
    }

    public func store(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        guard let file = opened(partition) else { return }
        Self.orStop(file) { () throws(SQLiteError) in try file.store(key, value) }
    }

    public func remove(_ partition: Int32, _ key: String) {
        guard let file = opened(partition) else { return }
        Self.orStop(file) { () throws(SQLiteError) in try file.remove(key) }
    }

    public func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?) {
        if let value, !value.isEmpty { store(partition, key, value) } else { remove(partition, key) }
    }

    public func writing(_ body: () throws -> Void) rethrows {
        guard !writingBatch else { return try body() }
        writingBatch = true
        defer {
            writingBatch = false
            for partition in openTransactions.sorted() {
                if let file = files[partition] { Self.orStop(file) { () throws(SQLiteError) in try file.database.execute("COMMIT") } }
            }
            openTransactions.removeAll()
        }
        try body()
    }

    /// The partition's file, inside the batch's transaction when one is open.
    private func opened(_ partition: Int32) -> PartitionFile? {
        guard let file = files[partition] else { return nil }
        if writingBatch, openTransactions.insert(partition).inserted {
            Self.orStop(file) { () throws(SQLiteError) in try file.database.execute("BEGIN") }
        }
        return file
    }

    public func forEachStored(_ partition: Int32, _ body: (String, [UInt8]) throws -> Void) rethrows {
        guard let file = files[partition] else { return }
        let statement = Self.orStop(file) { () throws(SQLiteError) in try file.database.prepare("SELECT key, value FROM state ORDER BY key") }
        defer { statement.reset() }
        while Self.orStop(file, { () throws(SQLiteError) in try statement.step() }) {
            try body(statement.text(0), statement.blob(1))
        }
    }

    // MARK: Restore and checkpoints

    public func restoreNewlyAssigned(_ assigned: [TopicPartition], reader: ChangelogReader, logger: Logger, noun: String) throws -> [Int32] {
        self.reader = reader
        self.logger = logger
        let numbers = Set(assigned.map(\.partition)).subtracting(files.keys).sorted()
        guard !numbers.isEmpty else { return [] }
        let started = ContinuousClock.now
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var checkpoints: [TopicPartition: Int64] = [:]
        for partition in numbers {
            let (file, checkpoint) = try open(partition)
            files[partition] = file
            if let checkpoint { checkpoints[TopicPartition(changelogTopic, partition)] = checkpoint }
        }
        let records = try writing {
            try reader.read(numbers.map { TopicPartition(changelogTopic, $0) }, from: checkpoints) { record in
                guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { return }
                restore(record.partition, key, record.value)
            }
        }
        let elapsed = ContinuousClock.now - started
        Metrics.Timer(label: "orbit_state_restore_duration_seconds", dimensions: [("store", changelogTopic)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(elapsed.nanoseconds)
        Counter(label: "orbit_state_restored_records_total", dimensions: [("store", changelogTopic)]).increment(by: records)
        Counter(label: "orbit_state_restored_partitions_total", dimensions: [("store", changelogTopic)]).increment(by: numbers.count)
        let held = numbers.reduce(0) { $0 + (files[$1]?.count ?? 0) }
        logger.info("restored \(held) \(noun) of partitions \(numbers) on disk (\(checkpoints.count) from a local checkpoint) from \(records) changelog records in \(elapsed)")
        return numbers
    }

    private func writing<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try writing { () throws -> Void in result = try body() }
        return result!
    }

    /// Opens a partition's file: its checkpoint when it has a valid one, or emptied when it has
    /// none; either way the checkpoint is deleted before anything else is written.
    private func open(_ partition: Int32) throws -> (PartitionFile, checkpoint: Int64?) {
        let path = self.path(partition)
        do {
            return try PartitionFile.open(path: path, topic: changelogTopic, partition: partition, cacheKiB: cacheKiB)
        } catch {
            // A file SQLite cannot use (damaged, another format): the changelog rebuilds it.
            logger.warning("state file \(path) cannot be used (\(error)); restoring the partition from the changelog")
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            return try PartitionFile.open(path: path, topic: changelogTopic, partition: partition, cacheKiB: cacheKiB)
        }
    }

    public func drop(_ partitions: [Int32], cleanly: Bool) {
        let dropping = partitions.filter { files[$0] != nil }
        guard !dropping.isEmpty else { return }
        var ends: [TopicPartition: Int64] = [:]
        if cleanly, let reader {
            do {
                ends = try reader.endOffsets(dropping.map { TopicPartition(changelogTopic, $0) })
            } catch {
                logger.warning("no local checkpoint for \(changelogTopic) partitions \(dropping): end offsets unknown (\(error)); the next start restores them from the changelog")
            }
        }
        for partition in dropping {
            guard let file = files.removeValue(forKey: partition) else { continue }
            if let end = ends[TopicPartition(changelogTopic, partition)] {
                do {
                    try file.checkpoint(at: end)
                } catch {
                    logger.warning("no local checkpoint for \(changelogTopic)/\(partition): \(error)")
                }
            }
            file.database.close()
        }
        openTransactions.subtract(dropping)
    }

    /// Runs a SQLite call whose failure leaves the store unusable: stops the process, naming the
    /// file (see the type's comment for why nothing is lost).
    @discardableResult
    private static func orStop<T>(_ file: PartitionFile, _ body: () throws(SQLiteError) -> T) -> T {
        do {
            return try body()
        } catch {
            fatalError("state store \(file.database.path) failed: \(error). The changelog holds every acknowledged value: a restart restores from it.")
        }
    }
}

/// One partition's SQLite file: the `state` table (key, encoded value) and the `checkpoint` table.
final class PartitionFile {
    let database: SQLiteDatabase
    let topic: String
    let partition: Int32
    private(set) var count: Int
    private let select: SQLiteStatement
    private let update: SQLiteStatement
    private let insert: SQLiteStatement
    private let delete: SQLiteStatement

    private init(database: SQLiteDatabase, topic: String, partition: Int32) throws(SQLiteError) {
        self.database = database
        self.topic = topic
        self.partition = partition
        select = try database.prepare("SELECT value FROM state WHERE key = ?1")
        update = try database.prepare("UPDATE state SET value = ?2 WHERE key = ?1")
        insert = try database.prepare("INSERT INTO state (key, value) VALUES (?1, ?2)")
        delete = try database.prepare("DELETE FROM state WHERE key = ?1")
        let counting = try database.prepare("SELECT count(*) FROM state")
        _ = try counting.step()
        count = Int(counting.int64(0))
    }

    /// Opens (or creates) the file. Returns the checkpoint offset when the file holds a checkpoint
    /// of this very topic and partition; otherwise the file is emptied. Either way no checkpoint is
    /// left in it: one is written again only by a clean ``checkpoint(at:)``.
    static func open(path: String, topic: String, partition: Int32, cacheKiB: Int) throws(SQLiteError) -> (PartitionFile, checkpoint: Int64?) {
        let database = try SQLiteDatabase(path: path)
        // WAL with NORMAL sync: a killed process loses nothing committed; a power loss may lose the
        // last commits but never leaves the file inconsistent (and the changelog has them).
        // secure_delete: an erased user's bytes are overwritten, not left in free pages.
        try database.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA cache_size = -\(max(64, cacheKiB));
            PRAGMA mmap_size = 0;
            PRAGMA secure_delete = ON;
            CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS checkpoint (topic TEXT NOT NULL, partition INTEGER NOT NULL, changelog_offset INTEGER NOT NULL);
            """)
        var checkpoint: Int64?
        let read = try database.prepare("SELECT topic, partition, changelog_offset FROM checkpoint")
        var rows = 0
        while try read.step() {
            rows += 1
            if read.text(0) == topic, read.int64(1) == Int64(partition) { checkpoint = read.int64(2) }
        }
        read.reset()
        if rows != 1 { checkpoint = nil }
        try database.execute("BEGIN")
        if checkpoint == nil { try database.execute("DELETE FROM state") }
        try database.execute("DELETE FROM checkpoint")
        try database.execute("COMMIT")
        return (try PartitionFile(database: database, topic: topic, partition: partition), checkpoint)
    }

    func get(_ key: String) throws(SQLiteError) -> [UInt8]? {
        select.bind(1, key)
        defer { select.reset() }
        return try select.step() ? select.blob(0) : nil
    }

    func store(_ key: String, _ value: [UInt8]) throws(SQLiteError) {
        update.bind(1, key)
        update.bind(2, value)
        try update.run()
        guard database.changes == 0 else { return }
        insert.bind(1, key)
        insert.bind(2, value)
        try insert.run()
        count += 1
    }

    func remove(_ key: String) throws(SQLiteError) {
        delete.bind(1, key)
        try delete.run()
        count -= database.changes
    }

    /// Records that the file holds the changelog up to `offset` (exclusive), durably.
    func checkpoint(at offset: Int64) throws(SQLiteError) {
        try database.execute("PRAGMA synchronous = FULL")
        let write = try database.prepare("INSERT INTO checkpoint (topic, partition, changelog_offset) VALUES (?1, ?2, ?3)")
        write.bind(1, topic)
        write.bind(2, Int64(partition))
        write.bind(3, offset)
        try database.execute("BEGIN")
        try database.execute("DELETE FROM checkpoint")
        try write.run()
        try database.execute("COMMIT")
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}
