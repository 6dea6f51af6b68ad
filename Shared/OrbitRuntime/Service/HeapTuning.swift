#if canImport(Glibc)
import CMalloc
#endif

/// Keeps a stream service's heap instead of handing it back to the kernel after every batch.
///
/// A batch allocates a burst (decoded states, output records, their bytes) and frees it when it is
/// acknowledged. glibc's defaults return freed memory at the top of the heap beyond 128 KiB, and
/// serve large arrays with `mmap`, so the next batch faults the same pages in again: in a profile
/// of the scorer, page faults and `mprotect` were 6% of its CPU. Raising the trim and mmap
/// thresholds to 64 MiB keeps one batch's working memory mapped; it bounds what is kept, so the
/// resident size still follows the state, not the peak.
enum HeapTuning {
    static let keptBytes: Int32 = 64 << 20

    /// Applies the thresholds once at start-up (before threads allocate). An explicit
    /// `GLIBC_TUNABLES=glibc.malloc.*` or `MALLOC_*_` setting in the environment wins.
    static func apply(environment: [String: String]) {
        #if canImport(Glibc)
        let explicit = environment.keys.contains { $0.hasPrefix("MALLOC_") } || (environment["GLIBC_TUNABLES"]?.contains("glibc.malloc") ?? false)
        guard !explicit else { return }
        _ = mallopt(M_TRIM_THRESHOLD, keptBytes)
        _ = mallopt(M_TOP_PAD, 16 << 20)
        _ = mallopt(M_MMAP_THRESHOLD, keptBytes)
        #endif
    }
}
