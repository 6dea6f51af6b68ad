#if canImport(CJemalloc)
import CJemalloc
#endif

/// The memory allocator every Orbit process uses: jemalloc, linked in through `CJemalloc`, so it
/// takes the place of glibc's malloc for the whole process (the Swift runtime and librdkafka too).
///
/// Why: a stream service allocates and frees a burst per batch, and librdkafka frees on its own
/// threads what the pipeline thread allocated (and the other way round). With glibc's malloc those
/// cross-thread frees contend for the owning arena's lock: in a profile of ingestion the lock's
/// wait and wake paths were 8% of the process's CPU. Measured with jemalloc, three alternating
/// runs each of `orbit bench ingest --events 300000 --rounds 1`: ingestion 14.0 → 10.8 µs CPU per
/// event, raw pass-through 5.1 → 4.0, throughput +20%. Memory: `orbit bench state` held 5M users
/// in 159 MB resident (163 before); `orbit bench scorer`'s restored users took 91-210 bytes each
/// over runs (137 in the one run before).
///
/// It also replaces the glibc thresholds the runtime used to raise at start (so a batch's freed
/// memory was not returned and faulted in again each batch): jemalloc keeps freed pages for reuse
/// and returns them after a decay time (10 s by default; `MALLOC_CONF` tunes it).
///
/// The fuzzing build (AddressSanitizer, which brings its own malloc) leaves jemalloc out; there
/// every answer below is nil and purging does nothing.
public enum Allocator {
    /// jemalloc's version, or nil when another allocator serves `malloc`.
    public static var version: String? {
        #if canImport(CJemalloc)
        var pointer: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &pointer, &size, nil, 0) == 0, let pointer else { return nil }
        return String(cString: pointer)
        #else
        return nil
        #endif
    }

    /// Bytes the application holds allocated (jemalloc's `stats.allocated`, refreshed first).
    public static func allocatedBytes() -> Int? {
        #if canImport(CJemalloc)
        // Writing the epoch refreshes the statistics jemalloc caches.
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        var allocated = 0
        var size = MemoryLayout<Int>.size
        guard mallctl("stats.allocated", &allocated, &size, nil, 0) == 0 else { return nil }
        return allocated
        #else
        return nil
        #endif
    }

    /// Hands freed memory back to the kernel now (every arena's unused dirty pages), so the
    /// resident size shows what is in use: for measurements, not for the hot path.
    public static func releaseFreedMemory() {
        #if canImport(CJemalloc)
        // MALLCTL_ARENAS_ALL (4096) names every arena.
        _ = mallctl("arena.4096.purge", nil, nil, nil, 0)
        #endif
    }
}
