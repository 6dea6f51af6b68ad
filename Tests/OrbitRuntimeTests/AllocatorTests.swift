import Foundation
import OrbitRuntime
import XCTest

/// jemalloc serves `malloc` for the whole process: linking it is all it takes, so a build that
/// lost the link (or an image without the library) must fail here, not just run slower.
final class AllocatorTests: XCTestCase {
    func testJemallocServesMallocForTheWholeProcess() throws {
        let version = try XCTUnwrap(Allocator.version, "jemalloc's mallctl did not answer")
        XCTAssertTrue(version.first?.isNumber ?? false, version)
        let before = try XCTUnwrap(Allocator.allocatedBytes())
        let size = 64 << 20
        // A plain C malloc, as librdkafka and the Swift runtime call it.
        let block = try XCTUnwrap(malloc(size))
        memset(block, 1, size)
        let during = try XCTUnwrap(Allocator.allocatedBytes())
        // Other threads allocate and free meanwhile (a few hundred bytes), so not to the byte.
        XCTAssertGreaterThanOrEqual(during - before, size * 9 / 10, "a 64 MiB malloc did not show in jemalloc's statistics: another allocator served it")
        free(block)
        let after = try XCTUnwrap(Allocator.allocatedBytes())
        XCTAssertLessThan(after, during - size / 2)
        Allocator.releaseFreedMemory()
    }
}
