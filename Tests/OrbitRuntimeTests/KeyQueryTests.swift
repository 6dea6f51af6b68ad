import Foundation
import Logging
import OrbitKafka
import OrbitRuntime
import OrbitTestSupport
import XCTest

/// Interactive queries: a store read from other threads (memory and disk backends) shows what the
/// last batch whose changes were taken wrote, and nothing of partitions it does not hold; the
/// routes check the token and say where a key lives.
final class KeyQueryTests: XCTestCase {
    let logger = Logger(label: "test.queries")

    func testAStoreReadFromAnotherThreadShowsTakenChangesOfHeldPartitionsOnly() throws {
        let broker = try LocalBroker(topics: [TopicSpec(name: "changelog-memory", partitions: 4), TopicSpec(name: "changelog-disk", partitions: 4)])
        defer { broker.stop() }
        let reader = ChangelogReader(kafka: KafkaConfiguration(["bootstrap.servers": broker.bootstrapServers]), logger: logger)
        let directory = NSTemporaryDirectory() + "orbit-queries-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (topic, backend) in [("changelog-memory", StateStoreKind.memory), ("changelog-disk", .disk(directory: directory, cacheKiB: 256))] {
            let store = KeyedStore<Count>(changelogTopic: topic, cachePolicy: .perBatch, backend: backend)
            let queries = store.reader(partitionCount: 4)
            let keys = (0..<200).map { "user-\($0)" }
            let held = keys.filter { KeyPartitioner.partition(of: Array($0.utf8), partitionCount: 4) < 2 }
            let elsewhere = keys.filter { KeyPartitioner.partition(of: Array($0.utf8), partitionCount: 4) >= 2 }
            XCTAssertNil(queries.read(held[0]), "\(topic): nothing is held before the restore")
            try store.restoreNewlyAssigned([TopicPartition("in", 0), TopicPartition("in", 1)], of: "in", reader: reader, logger: logger, noun: "counts")
            XCTAssertEqual(try queries.read(held[0])?.get(), .some(nil), "\(topic): held, no value yet")
            XCTAssertNil(queries.read(elsewhere[0]), "\(topic): a partition held elsewhere")

            // Readers on other threads while the pipeline's thread writes batches.
            let stop = StopSignal()
            let seen = SharedValue(0)
            let readers = (0..<2).map { _ in
                Thread {
                    while !stop.isSet {
                        for key in held { if case .success(let value?)? = queries.read(key) { seen.value = max(seen.value, value.value) } }
                        usleep(200)
                    }
                }
            }
            for thread in readers { thread.start() }
            for batch in 1...20 {
                for key in held { try store.update(KeyPartitioner.partition(of: Array(key.utf8), partitionCount: 4), key, initial: { Count(value: 0) }) { $0.value = batch; return true } }
                // Put but not taken: the readers see the batch before.
                if batch == 20 { XCTAssertEqual(try queries.read(held[1])?.get()?.value, 19, "\(topic): a batch is seen once its changes are taken") }
                try broker.publish(store.takeChanges())
            }
            stop.set()
            Thread.sleep(forTimeInterval: 0.1)
            XCTAssertEqual(try queries.read(held[7])?.get()?.value, 20, topic)
            XCTAssertGreaterThan(seen.value, 0, "\(topic): the readers saw values while batches were written")

            store.drop([TopicPartition("in", 0)], of: "in", cleanly: false)
            let droppedKey = held.first { KeyPartitioner.partition(of: Array($0.utf8), partitionCount: 4) == 0 }!
            XCTAssertNil(queries.read(droppedKey), "\(topic): a dropped partition is not held")
        }
    }

    func query(answers: [String: KeyAnswer], held: Bool = true) -> KeyQuery {
        KeyQuery(prefix: "/v1/users/", noun: "profile", topic: "events", partitionCount: 8) { key in
            guard held else { return nil }
            return answers[key] ?? .notFound
        }
    }

    func request(_ path: String, token: String? = "a-token-of-sixteen-bytes") -> HTTPRequest {
        HTTPRequest(path: path, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    func testRoutesCheckTheTokenAndAnswerFoundNotFoundUnreadableOrWhereTheKeyLives() {
        let answers: [String: KeyAnswer] = ["ada": .found(Array("{\"user_id\":\"ada\"}".utf8)), "bad": .unreadable("truncated")]
        let status = PipelineStatus()
        status.update { $0.state = .running }
        let routes = QueryRoutes(queries: [query(answers: answers)], token: "a-token-of-sixteen-bytes", statuses: [status])
        XCTAssertNil(routes.answer(request("/metrics")), "not a query")
        XCTAssertNil(routes.answer(request("/v1/users/")), "no key")
        XCTAssertNil(routes.answer(request("/v1/users/a/b")), "a key is one segment")
        XCTAssertEqual(routes.answer(request("/v1/users/ada"))?.status, 200)
        XCTAssertEqual(String(decoding: routes.answer(request("/v1/users/ada"))!.body, as: UTF8.self), "{\"user_id\":\"ada\"}")
        XCTAssertEqual(routes.answer(request("/v1/users/nobody"))?.status, 404)
        // A key with a slash and a space, escaped in the path: one segment, decoded.
        let escaped = QueryRoutes(queries: [query(answers: ["a/b c": .found(Array("{}".utf8))])], token: "a-token-of-sixteen-bytes", statuses: [status])
        let slash = HTTPRequest(path: "/v1/users/a/b c", rawPath: "/v1/users/a%2Fb%20c", headers: [("Authorization", "Bearer a-token-of-sixteen-bytes")])
        XCTAssertEqual(escaped.answer(slash)?.status, 200)
        XCTAssertEqual(query(answers: [:]).key(in: "/v1/users/a%2Fb%20c"), "a/b c")
        XCTAssertEqual(routes.answer(request("/v1/users/bad"))?.status, 500)
        XCTAssertEqual(routes.answer(request("/v1/users/\(String(repeating: "x", count: 600))"))?.status, 400)
        let missing = routes.answer(request("/v1/users/ada", token: nil))
        XCTAssertEqual(missing?.status, 401)
        XCTAssertEqual(missing?.headers.first { $0.name == "WWW-Authenticate" }?.value, "Bearer")
        XCTAssertEqual(routes.answer(request("/v1/users/ada", token: "a-token-of-sixteen-bytez"))?.status, 401)
        XCTAssertEqual(routes.answer(HTTPRequest(path: "/v1/users/ada", headers: [("authorization", "Basic abc")]))?.status, 401)

        let off = QueryRoutes(queries: [query(answers: answers)], token: nil, statuses: [status])
        XCTAssertEqual(off.answer(request("/v1/users/ada"))?.status, 403, "no token file: queries are off")

        // Not held here: 503 while restoring or before an owner is known, 307 to the owner.
        let elsewhere = query(answers: answers, held: false)
        XCTAssertEqual(QueryRoutes(queries: [elsewhere], token: "a-token-of-sixteen-bytes", statuses: [status]).answer(request("/v1/users/ada"))?.status, 503)
        status.update { $0.restoring = true }
        let restoring = QueryRoutes(queries: [elsewhere], token: "a-token-of-sixteen-bytes", statuses: [status]) { _, _ in "http://scorer-1:9102" }.answer(request("/v1/users/ada"))
        XCTAssertEqual(restoring?.status, 503)
        XCTAssertEqual(restoring?.headers.first { $0.name == "Retry-After" }?.value, "1")
        status.update { $0.restoring = false }
        let asked = SharedValue<(String, Int32)?>(nil)
        let moved = QueryRoutes(queries: [elsewhere], token: "a-token-of-sixteen-bytes", statuses: [status]) { query, partition in
            asked.value = (query.topic, partition)
            return "http://scorer-1:9102"
        }.answer(request("/v1/users/ada"))
        XCTAssertEqual(moved?.status, 307)
        XCTAssertEqual(moved?.headers.first { $0.name == "Location" }?.value, "http://scorer-1:9102/v1/users/ada")
        XCTAssertEqual(QueryRoutes(queries: [elsewhere], token: "a-token-of-sixteen-bytes", statuses: [status]) { _, _ in "http://scorer-1:9102" }
            .answer(HTTPRequest(path: "/v1/users/a/b", rawPath: "/v1/users/a%2Fb", headers: [("Authorization", "Bearer a-token-of-sixteen-bytes")]))?
            .headers.first { $0.name == "Location" }?.value, "http://scorer-1:9102/v1/users/a%2Fb", "the redirect keeps the escapes")
        XCTAssertEqual(asked.value?.0, "events")
        XCTAssertEqual(asked.value?.1, KeyPartitioner.partition(of: Array("ada".utf8), partitionCount: 8))
    }
}
