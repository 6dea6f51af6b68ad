import OrbitIngest
import OrbitKafka
import XCTest

final class DedupWindowTests: XCTestCase {
    // MARK: DedupWindow

    func testInsertReturnsFalseForARepeat() {
        var window = DedupWindow(windowMillis: 1000, maxEntries: 10)
        XCTAssertEqual(window.count, 0)
        XCTAssertFalse(window.contains("a"))
        XCTAssertTrue(window.insert("a", at: 0))
        XCTAssertTrue(window.contains("a"))
        XCTAssertFalse(window.insert("a", at: 5))
        XCTAssertFalse(window.insert("a", at: 0))
        XCTAssertTrue(window.insert("b", at: 5))
        XCTAssertEqual(window.count, 2)
    }

    func testRepeatDoesNotRefreshTheReceiveTime() {
        var window = DedupWindow(windowMillis: 100, maxEntries: 10)
        window.insert("a", at: 0)
        XCTAssertFalse(window.insert("a", at: 150))   // a repeat, ignored: still remembered at 0
        window.insert("b", at: 150)
        window.evictExpired()                          // cutoff 50
        XCTAssertFalse(window.contains("a"))
        XCTAssertTrue(window.contains("b"))
    }

    func testEvictExpiredForgetsIdsOlderThanTheWindowRelativeToTheNewest() {
        var window = DedupWindow(windowMillis: 100, maxEntries: 100)
        window.insert("a", at: 0)
        window.insert("b", at: 50)
        window.insert("c", at: 100)
        window.insert("d", at: 200)
        window.evictExpired()  // cutoff 100: strictly older ids go
        XCTAssertFalse(window.contains("a"))
        XCTAssertFalse(window.contains("b"))
        XCTAssertTrue(window.contains("c"), "an id exactly at the cutoff is kept")
        XCTAssertTrue(window.contains("d"))
        XCTAssertEqual(window.count, 2)
        // Forgotten ids are new again.
        XCTAssertTrue(window.insert("a", at: 201))
    }

    func testEvictExpiredDoesNotUseTheWallClock() {
        var window = DedupWindow(windowMillis: 1000, maxEntries: 100)
        window.insert("old", at: 1)  // 1 ms after the epoch: ancient by the wall clock
        window.insert("new", at: 2)
        window.evictExpired()
        XCTAssertTrue(window.contains("old"))
        XCTAssertTrue(window.contains("new"))
    }

    func testEvictExpiredOnEmptyWindowIsHarmless() {
        var window = DedupWindow(windowMillis: 0, maxEntries: 1)
        window.evictExpired()
        XCTAssertEqual(window.count, 0)
        XCTAssertTrue(window.insert("a", at: 10))
    }

    func testZeroWindowKeepsOnlyTheNewestInstant() {
        var window = DedupWindow(windowMillis: 0, maxEntries: 100)
        window.insert("a", at: 10)
        window.insert("b", at: 10)
        window.insert("c", at: 11)
        window.evictExpired()
        XCTAssertEqual(window.count, 1)
        XCTAssertTrue(window.contains("c"))
    }

    func testEvictionIsFirstInFirstOut() {
        // Eviction walks arrival order and stops at the first id still inside the window.
        var window = DedupWindow(windowMillis: 100, maxEntries: 100)
        window.insert("early", at: 0)
        window.insert("late", at: 500)
        window.insert("out-of-order", at: 10)
        window.evictExpired()  // cutoff 400
        XCTAssertFalse(window.contains("early"))
        XCTAssertTrue(window.contains("late"))
        XCTAssertTrue(window.contains("out-of-order"), "kept until the ids before it in arrival order go")
        window.insert("later", at: 700)
        window.evictExpired()  // cutoff 600
        XCTAssertFalse(window.contains("late"))
        XCTAssertFalse(window.contains("out-of-order"))
        XCTAssertEqual(window.count, 1)
    }

    func testMaxEntriesEvictsOldestFirst() {
        var window = DedupWindow(windowMillis: .max, maxEntries: 3)
        for (index, id) in ["a", "b", "c", "d"].enumerated() {
            XCTAssertTrue(window.insert(id, at: Int64(index)))
        }
        XCTAssertEqual(window.count, 3)
        XCTAssertFalse(window.contains("a"))
        XCTAssertTrue(window.contains("b"))
        XCTAssertTrue(window.contains("c"))
        XCTAssertTrue(window.contains("d"))
        window.insert("e", at: 4)
        XCTAssertFalse(window.contains("b"))
        XCTAssertEqual(window.count, 3)
        // The evicted id counts as new again, and re-inserting it evicts the next oldest.
        XCTAssertTrue(window.insert("a", at: 5))
        XCTAssertFalse(window.contains("c"))
        XCTAssertTrue(window.contains("a"))
        XCTAssertEqual(window.count, 3)
    }

    func testManyIdsWithCompaction() {
        var window = DedupWindow(windowMillis: 100, maxEntries: 1_000_000)
        for i in 0..<10_000 {
            XCTAssertTrue(window.insert("id-\(i)", at: Int64(i)))
        }
        window.evictExpired()  // cutoff 9_899: ids 9_899...9_999 stay
        XCTAssertEqual(window.count, 101)
        XCTAssertFalse(window.contains("id-9898"))
        XCTAssertTrue(window.contains("id-9899"))
        XCTAssertFalse(window.insert("id-9999", at: 10_000))
        // After the internal queue was compacted, eviction still finds the right ids.
        for i in 10_000..<10_050 {
            window.insert("id-\(i)", at: Int64(i))
        }
        window.evictExpired()  // cutoff 9_949
        XCTAssertEqual(window.count, 101)
        XCTAssertFalse(window.contains("id-9948"))
        XCTAssertTrue(window.contains("id-9949"))
        XCTAssertTrue(window.contains("id-10049"))
        window.insert("x", at: 20_000)
        window.evictExpired()
        XCTAssertEqual(window.count, 1)
        XCTAssertTrue(window.contains("x"))
    }

    func testSameDecisionsOnReplay() {
        let input: [(String, Int64)] = [("a", 0), ("b", 10), ("a", 20), ("c", 200), ("a", 210), ("b", 220)]
        func run() -> [Bool] {
            var window = DedupWindow(windowMillis: 100, maxEntries: 2)
            return input.map { id, time in
                let fresh = window.insert(id, at: time)
                window.evictExpired()
                return fresh
            }
        }
        let first = run()
        XCTAssertEqual(first, run())
        XCTAssertEqual(first, [true, true, false, true, true, true])
    }

    // MARK: DedupChangelog

    private func decodeAll(_ records: [ProducerRecord]) -> [(String, Int64)] {
        var entries: [(String, Int64)] = []
        for record in records {
            DedupChangelog.decode(record.value ?? []) { id, time in entries.append((id, time)) }
        }
        return entries
    }

    func testBuilderRecordRoundTrips() throws {
        var builder = DedupChangelog.Builder(firstOffset: 100)
        builder.add("evt-1", at: 1_772_366_400_000)
        builder.add("évt-2 😀", at: 5)
        let records = builder.records(topic: "orbit-ingest.dedup-changelog", partition: 3)
        XCTAssertEqual(records.count, 1)
        let record = try XCTUnwrap(records.first)
        XCTAssertEqual(record.topic, "orbit-ingest.dedup-changelog")
        XCTAssertEqual(record.partition, 3)
        XCTAssertEqual(record.key, Array("100-0".utf8))
        XCTAssertEqual(record.value, Array("evt-1\t1772366400000\névt-2 😀\t5\n".utf8))
        let entries = decodeAll(records)
        XCTAssertEqual(entries.map { $0.0 }, ["evt-1", "évt-2 😀"])
        XCTAssertEqual(entries.map { $0.1 }, [1_772_366_400_000, 5])
    }

    func testEmptyBuilderProducesNoRecords() {
        let builder = DedupChangelog.Builder(firstOffset: 0)
        XCTAssertTrue(builder.records(topic: "t", partition: 0).isEmpty)
    }

    func testBuilderIsDeterministic() {
        func build() -> [ProducerRecord] {
            var builder = DedupChangelog.Builder(firstOffset: 77)
            for i in 0..<100 { builder.add("id-\(i)", at: Int64(i) * 1000) }
            return builder.records(topic: "t", partition: 1)
        }
        let a = build(), b = build()
        XCTAssertEqual(a.map(\.key), b.map(\.key))
        XCTAssertEqual(a.map(\.value), b.map(\.value))
    }

    func testChunksAboveMaxRecordBytes() throws {
        var builder = DedupChangelog.Builder(firstOffset: 4242)
        let id = String(repeating: "i", count: 100)
        let time: Int64 = 1_772_366_400_000
        let lineLength = id.utf8.count + 1 + String(time).utf8.count + 1
        let count = 3 * DedupChangelog.maxRecordBytes / lineLength + 10
        for i in 0..<count {
            let unique = "\(i)-" + id
            builder.add(unique, at: time + Int64(i))
        }
        let records = builder.records(topic: "t", partition: 2)
        XCTAssertGreaterThanOrEqual(records.count, 3)
        XCTAssertEqual(records.map { String(decoding: $0.key ?? [], as: UTF8.self) },
                       (0..<records.count).map { "4242-\($0)" })
        for record in records {
            XCTAssertEqual(record.partition, 2)
            let size = try XCTUnwrap(record.value).count
            XCTAssertGreaterThan(size, 0)
            // A chunk is closed once it passes the limit, so it overshoots by at most one line.
            XCTAssertLessThanOrEqual(size, DedupChangelog.maxRecordBytes + lineLength + 10)
            XCTAssertEqual(record.value?.last, 0x0A, "chunks end on a line boundary")
        }
        let entries = decodeAll(records)
        XCTAssertEqual(entries.count, count)
        XCTAssertEqual(entries.first?.0, "0-" + id)
        XCTAssertEqual(entries.last?.0, "\(count - 1)-" + id)
        XCTAssertEqual(entries.map { $0.1 }, (0..<count).map { time + Int64($0) })
    }

    func testDecodeSkipsMalformedLines() {
        let value = Array("a\t1\nno-tab\nb\tx\n\nc\t3\nd\t-4".utf8)
        var entries: [(String, Int64)] = []
        DedupChangelog.decode(value) { id, time in entries.append((id, time)) }
        XCTAssertEqual(entries.map { $0.0 }, ["a", "c", "d"])
        XCTAssertEqual(entries.map { $0.1 }, [1, 3, -4])
    }

    func testChangelogRestoresAWindow() {
        var builder = DedupChangelog.Builder(firstOffset: 0)
        var original = DedupWindow(windowMillis: 1000, maxEntries: 100)
        let accepted: [(String, Int64)] = [("a", 10), ("b", 20), ("c", 30)]
        for (id, time) in accepted {
            XCTAssertTrue(original.insert(id, at: time))
            builder.add(id, at: time)
        }
        var restored = DedupWindow(windowMillis: 1000, maxEntries: 100)
        for record in builder.records(topic: "t", partition: 0) {
            DedupChangelog.decode(record.value ?? []) { id, time in _ = restored.insert(id, at: time) }
        }
        XCTAssertEqual(restored.count, 3)
        XCTAssertFalse(restored.insert("b", at: 40))
        XCTAssertTrue(restored.insert("d", at: 40))
    }
}
