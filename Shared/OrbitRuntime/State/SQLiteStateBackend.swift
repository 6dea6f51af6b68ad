import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import OrbitKafka
import Synchronization

/// A state backend on local disk: one SQLite file per store partition, so state can be larger
/// than memory (only SQLite's bounded page cache and the store's per-batch cache are resident).
///
/// The changelog topic stays the source of truth. The file is a copy of it plus a **checkpoint**:
/// the changelog offset the copy is complete up to. A checkpoint is written only by a clean drop,
/// and only when the changelog's end is exactly where this copy left it: the end the restore read
/// up to plus the records this store wrote since (all acknowledged: the pipeline drained first).
/// Anything else (a record written by another owner after the partition was lost, a transaction
/// marker, a write that failed) means the copy may differ, and no checkpoint is kept. The
/// checkpoint is deleted when the file is opened again. So:
/// - a same-instance restart after a clean stop reads only the changelog after the checkpoint;
/// - after a crash (no checkpoint), with a checkpoint older than ``maximumCheckpointAge`` (the
///   changelog's tombstones may be compacted away by then), outside the partition's offsets, or of
///   another topic or partition, the file is emptied and the partition restored from the whole
///   changelog, as in memory.
///
/// Each open file is held with an exclusive lock (`flock` on `<partition>.lock`), so two pipelines
/// or processes never write one file. Files of partitions that moved away are deleted once their
/// checkpoint is older than ``maximumCheckpointAge`` (an erased user's bytes must not stay on a
/// disk that no longer serves them); deletes are secure (overwritten) in the file and its
/// write-ahead log is truncated after a batch that deleted.
///
/// Reading failures stop the service (``UnreadableState``); a failed write (a full or broken disk)
/// stops the process with the file and SQLite's message: the changelog holds every acknowledged
/// value, so the restart loses nothing.
public final class SQLiteStateBackend: StateBackend {
    /// How long a checkpoint stays usable: under the default `delete.retention.ms` (24 h), after
    /// which a compacted changelog may no longer hold the tombstones written since.
    public static let maximumCheckpointAge: Duration = .seconds(3600)

    public let changelogTopic: String
    let directory: String
    let cacheKiB: Int
    private var files: [Int32: PartitionFile] = [:]
    private var writingBatch = false
    private var openTransactions: Set<Int32> = []
    private var deletedIn: Set<Int32> = []
    /// Kept from the last restore: it knows the cluster, to read end offsets for checkpoints.
    private var reader: ChangelogReader?
    private var logger = Logger(label: "orbit.state")

    public init(changelogTopic: String, directory: String, cacheKiB: Int) {
        self.changelogTopic = changelogTopic
        self.directory = (directory as NSString).appendingPathComponent(changelogTopic)
        self.cacheKiB = cacheKiB
    }

    public var ownedPartitions: [Int32] { files.keys.sorted() }

    /// Reads from any thread through connections of its own (WAL lets them read what the last
    /// committed batch wrote while the pipeline writes the next).
    private let queries = SQLiteQueryReader()
    public var queryReader: any StateBytesReader { queries }
    public var count: Int { files.values.reduce(0) { $0 + $1.count } }

    func path(_ partition: Int32) -> String { (directory as NSString).appendingPathComponent("\(partition).sqlite") }

    // MARK: Values

    public func get(_ partition: Int32, _ key: String) -> [UInt8]? {
        guard let file = files[partition] else { return nil }
        return Self.orStop(file) { () throws(SQLiteError) in try file.get(key) }
    }

    public func store(_ partition: Int32, _ key: String, _ value: [UInt8]) {
        let file = opened(partition)
        Self.orStop(file) { () throws(SQLiteError) in try file.store(key, value) }
    }

    public func remove(_ partition: Int32, _ key: String) {
        let file = opened(partition)
        Self.orStop(file) { () throws(SQLiteError) in try file.remove(key) }
        deletedIn.insert(partition)
    }

    public func restore(_ partition: Int32, _ key: String, _ value: [UInt8]?) {
        if let value, !value.isEmpty { store(partition, key, value) } else { remove(partition, key) }
    }

    public func changelogRecordsWritten(_ partition: Int32, count: Int) {
        files[partition]?.writtenSinceRestore += count
    }

    public func writing(_ body: () throws -> Void) rethrows {
        guard !writingBatch else { return try body() }
        writingBatch = true
        var succeeded = false
        defer {
            writingBatch = false
            for partition in openTransactions.sorted() {
                guard let file = files[partition] else { continue }
                Self.orStop(file) { () throws(SQLiteError) in try file.database.execute(succeeded ? "COMMIT" : "ROLLBACK") }
            }
            openTransactions.removeAll()
            // An erased value may still be in the write-ahead log: fold it into the file, where
            // secure delete overwrote it, and truncate the log.
            for partition in deletedIn.sorted() {
                guard let file = files[partition] else { continue }
                Self.orStop(file) { () throws(SQLiteError) in try file.database.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
            }
            deletedIn.removeAll()
        }
        try body()
        succeeded = true
    }

    /// The partition's file, inside the batch's transaction when one is open. Writing to a
    /// partition that was never restored is a bug in the caller, not a state to carry on from.
    private func opened(_ partition: Int32) -> PartitionFile {
        guard let file = files[partition] else {
            preconditionFailure("state store \(changelogTopic): partition \(partition) written before it was restored")
        }
        if writingBatch, openTransactions.insert(partition).inserted {
            Self.orStop(file) { () throws(SQLiteError) in try file.database.execute("BEGIN") }
        }
        return file
    }

    public func forEachStored(_ partition: Int32, after start: String?, limit: Int, _ body: (String, [UInt8]) throws -> Void) rethrows {
        guard let file = files[partition], limit > 0 else { return }
        // Keys compare as BINARY text: byte order of their UTF-8, as StateKeyOrder says.
        let statement = Self.orStop(file) { () throws(SQLiteError) in
            let statement = try file.database.prepare(start == nil ? "SELECT key, value FROM state ORDER BY key LIMIT ?2"
                                                                   : "SELECT key, value FROM state WHERE key > ?1 ORDER BY key LIMIT ?2")
            if let start { statement.bind(1, start) }
            statement.bind(2, Int64(limit))
            return statement
        }
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
        let result = try writingResult {
            try reader.read(numbers.map { TopicPartition(changelogTopic, $0) }, from: checkpoints, invalidCheckpoint: { partition in
                checkpoints[partition] = nil
                try files[partition.partition]!.empty()
            }) { record in
                guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { return }
                restore(record.partition, key, record.value)
            }
        }
        for partition in numbers { files[partition]!.restoredEnd = result.ends[TopicPartition(changelogTopic, partition)] }
        removeStaleFiles(except: Set(files.keys))
        let elapsed = ContinuousClock.now - started
        StateRestoreMetrics.record(store: changelogTopic, elapsed: elapsed, records: result.records, partitions: numbers.count)
        let held = numbers.reduce(0) { $0 + (files[$1]?.count ?? 0) }
        logger.info("restored \(held) \(noun) of partitions \(numbers) on disk (\(checkpoints.count) from a local checkpoint) from \(result.records) changelog records in \(elapsed)")
        queries.hold(numbers.map { ($0, path($0)) })
        return numbers
    }

    private func writingResult<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try writing { () throws -> Void in result = try body() }
        return result!
    }

    /// Opens a partition's file (locked for this store): its checkpoint when it has a usable one,
    /// or emptied when it has none; either way the checkpoint is deleted before anything else is
    /// written.
    private func open(_ partition: Int32) throws -> (PartitionFile, checkpoint: Int64?) {
        let path = self.path(partition)
        let lock = try FileLock.acquire(path + ".lock", waiting: .seconds(10))
        do {
            do {
                return try PartitionFile.open(path: path, topic: changelogTopic, partition: partition, cacheKiB: cacheKiB, lock: lock,
                                              maximumAge: Self.maximumCheckpointAge)
            } catch where error.code == 26 || error.code == 11 {  // SQLITE_NOTADB, SQLITE_CORRUPT
                // A file SQLite cannot use (damaged, another format): the changelog rebuilds it.
                // The lock is held, so no other connection has it open.
                logger.warning("state file \(path) cannot be used (\(error)); restoring the partition from the changelog")
                Self.removeDatabase(at: path)
                return try PartitionFile.open(path: path, topic: changelogTopic, partition: partition, cacheKiB: cacheKiB, lock: lock,
                                              maximumAge: Self.maximumCheckpointAge)
            }
        } catch {
            lock.release()
            throw error
        }
    }

    /// Deletes the files of partitions this store does not hold whose checkpoint is missing or
    /// too old to be used (skipping any file another store holds locked).
    private func removeStaleFiles(except held: Set<Int32>) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasSuffix(".sqlite") {
            guard let partition = Int32(name.dropLast(".sqlite".count)), !held.contains(partition) else { continue }
            let path = self.path(partition)
            guard let lock = try? FileLock.acquire(path + ".lock", waiting: .zero) else { continue }
            defer { lock.release() }
            if PartitionFile.usableCheckpoint(path: path, topic: changelogTopic, partition: partition, maximumAge: Self.maximumCheckpointAge) == nil {
                Self.removeDatabase(at: path)
                logger.info("deleted the state file of \(changelogTopic)/\(partition): held elsewhere, and its checkpoint is missing or older than \(Self.maximumCheckpointAge)")
            }
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
        queries.release(dropping)
        for partition in dropping {
            guard let file = files.removeValue(forKey: partition) else { continue }
            if let end = ends[TopicPartition(changelogTopic, partition)] {
                if let restored = file.restoredEnd, end == restored + Int64(file.writtenSinceRestore) {
                    do {
                        try file.checkpoint(at: end)
                    } catch {
                        logger.warning("no local checkpoint for \(changelogTopic)/\(partition): \(error)")
                    }
                } else {
                    logger.info("no local checkpoint for \(changelogTopic)/\(partition): its changelog ends at \(end), not where this copy left it (\(file.restoredEnd.map(String.init) ?? "?") + \(file.writtenSinceRestore) written)")
                }
            }
            file.close()
        }
        openTransactions.subtract(dropping)
        deletedIn.subtract(dropping)
    }

    /// Deletes a database file with its write-ahead log and shared-memory index.
    private static func removeDatabase(at path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
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

/// An exclusive advisory lock on a file (`flock`), held while a store has a partition file open.
final class FileLock {
    private var descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Takes the lock, retrying for up to `waiting` while another holder (a pipeline or process
    /// still handing the partition over) has it.
    static func acquire(_ path: String, waiting: Duration) throws -> FileLock {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SQLiteError(path: path, code: errno, message: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        let deadline = ContinuousClock.now + waiting
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK, ContinuousClock.now < deadline else {
                Glibc.close(descriptor)
                throw SQLiteError(path: path, code: EWOULDBLOCK, message: "another store holds this partition's file")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return FileLock(descriptor: descriptor)
    }

    func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// One partition's SQLite file: the `state` table (key, encoded value) and the `checkpoint` table.
final class PartitionFile {
    let database: SQLiteDatabase
    let topic: String
    let partition: Int32
    private let lock: FileLock
    /// The changelog's end offset the restore read up to, and the changelog records written since.
    var restoredEnd: Int64?
    var writtenSinceRestore = 0
    private(set) var count: Int
    private let select: SQLiteStatement
    private let update: SQLiteStatement
    private let insert: SQLiteStatement
    private let delete: SQLiteStatement

    private init(database: SQLiteDatabase, topic: String, partition: Int32, lock: FileLock) throws(SQLiteError) {
        self.database = database
        self.topic = topic
        self.partition = partition
        self.lock = lock
        select = try database.prepare("SELECT value FROM state WHERE key = ?1")
        update = try database.prepare("UPDATE state SET value = ?2 WHERE key = ?1")
        insert = try database.prepare("INSERT INTO state (key, value) VALUES (?1, ?2)")
        delete = try database.prepare("DELETE FROM state WHERE key = ?1")
        let counting = try database.prepare("SELECT count(*) FROM state")
        _ = try counting.step()
        count = Int(counting.int64(0))
    }

    /// Opens (or creates) the file. Returns the checkpoint offset when the file holds a usable
    /// checkpoint of this very topic and partition; otherwise the file is emptied. Either way no
    /// checkpoint is left in it: one is written again only by a clean ``checkpoint(at:)``.
    static func open(path: String, topic: String, partition: Int32, cacheKiB: Int, lock: FileLock, maximumAge: Duration) throws(SQLiteError) -> (PartitionFile, checkpoint: Int64?) {
        let database = try SQLiteDatabase(path: path)
        // WAL with NORMAL sync: a killed process loses nothing committed; a power loss may lose the
        // last commits but never leaves the file inconsistent (and the changelog has them).
        // secure_delete: an erased user's bytes are overwritten, not left in free pages.
        try database.execute("""
            PRAGMA busy_timeout = 5000;
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA journal_size_limit = 0;
            PRAGMA cache_size = -\(max(64, cacheKiB));
            PRAGMA mmap_size = 0;
            PRAGMA secure_delete = ON;
            CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS checkpoint (topic TEXT NOT NULL, partition INTEGER NOT NULL, changelog_offset INTEGER NOT NULL,
                                                   written_at_millis INTEGER NOT NULL);
            """)
        let checkpoint = try readCheckpoint(database, topic: topic, partition: partition, maximumAge: maximumAge)
        try database.execute("BEGIN")
        if checkpoint == nil { try database.execute("DELETE FROM state") }
        try database.execute("DELETE FROM checkpoint")
        try database.execute("COMMIT")
        return (try PartitionFile(database: database, topic: topic, partition: partition, lock: lock), checkpoint)
    }

    /// The checkpoint offset if the file has exactly one, of this topic and partition, written
    /// less than `maximumAge` ago.
    private static func readCheckpoint(_ database: SQLiteDatabase, topic: String, partition: Int32, maximumAge: Duration) throws(SQLiteError) -> Int64? {
        let read = try database.prepare("SELECT topic, partition, changelog_offset, written_at_millis FROM checkpoint")
        defer { read.reset() }
        var rows: [(String, Int64, Int64, Int64)] = []
        while try read.step() { rows.append((read.text(0), read.int64(1), read.int64(2), read.int64(3))) }
        guard rows.count == 1, rows[0].0 == topic, rows[0].1 == Int64(partition) else { return nil }
        let age = Int64(Date().timeIntervalSince1970 * 1000) - rows[0].3
        guard age >= 0, age < maximumAge.components.seconds * 1000 else { return nil }
        return rows[0].2
    }

    /// The usable checkpoint of a file not open anywhere, or nil (no file, no checkpoint, too old).
    static func usableCheckpoint(path: String, topic: String, partition: Int32, maximumAge: Duration) -> Int64? {
        guard FileManager.default.fileExists(atPath: path), let database = try? SQLiteDatabase(path: path) else { return nil }
        defer { database.close() }
        return try? readCheckpoint(database, topic: topic, partition: partition, maximumAge: maximumAge)
    }

    /// Empties the file (its checkpoint turned out unusable): a full restore follows.
    func empty() throws(SQLiteError) {
        try database.execute("DELETE FROM state")
        count = 0
    }

    func close() {
        database.close()
        lock.release()
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
        let write = try database.prepare("INSERT INTO checkpoint (topic, partition, changelog_offset, written_at_millis) VALUES (?1, ?2, ?3, ?4)")
        write.bind(1, topic)
        write.bind(2, Int64(partition))
        write.bind(3, offset)
        write.bind(4, Int64(Date().timeIntervalSince1970 * 1000))
        try database.execute("BEGIN")
        try database.execute("DELETE FROM checkpoint")
        try write.run()
        try database.execute("COMMIT")
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")  // the row is committed either way
    }
}

/// Reads a disk store's values from threads other than the pipeline's (queries): one read-only
/// connection per held partition file, opened when first asked, each used under the lock.
final class SQLiteQueryReader: StateBytesReader {
    private struct Held {
        var paths: [Int32: String] = [:]
        var open: [Int32: (database: SQLiteDatabase, select: SQLiteStatement)] = [:]
    }

    private let state = Mutex(Held())

    /// Partitions restored: readable from now on.
    func hold(_ partitions: [(Int32, String)]) {
        state.withLock { held in for (partition, path) in partitions { held.paths[partition] = path } }
    }

    /// Partitions dropped: their connections are closed before their files are.
    func release(_ partitions: [Int32]) {
        state.withLock { held in
            for partition in partitions {
                held.paths[partition] = nil
                held.open.removeValue(forKey: partition)?.database.close()
            }
        }
    }

    func read(_ partition: Int32, _ key: String) -> StoredBytes {
        state.withLock { held -> StoredBytes in
            guard let path = held.paths[partition] else { return .notHeld }
            do throws(SQLiteError) {
                if held.open[partition] == nil {
                    let database = try SQLiteDatabase(path: path, readOnly: true)
                    try database.execute("PRAGMA busy_timeout = 1000; PRAGMA query_only = ON;")
                    held.open[partition] = (database, try database.prepare("SELECT value FROM state WHERE key = ?1"))
                }
                let select = held.open[partition]!.select
                select.bind(1, key)
                defer { select.reset() }
                return try select.step() ? .value(select.blob(0)) : .absent
            } catch {
                // A file that cannot be read here is the pipeline's to report (it stops the
                // service); a query says only that it could not answer.
                return .notHeld
            }
        }
    }
}
