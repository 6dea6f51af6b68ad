import Foundation
import OrbitRuntime

/// Runs a service's pipelines (all its stages) on their own threads, as the service would, and
/// measures them: the clock starts at the first record any `entry` pipeline reads (so group joins
/// are left out) and stops when the `exit` pipelines have read `expected` records. Returns records
/// per second and CPU microseconds per record (every thread of the process but the broker's).
enum StagedBench {
    /// For a service that makes its stages per stream thread, in order (`stages` pipelines per
    /// thread: the first reads the input, the last is timed).
    static func measure(_ pipelines: [StreamPipeline], stages: Int, expected: Int) throws -> (rate: Double, cpuMicros: Double) {
        try measure(pipelines, entry: pipelines.enumerated().filter { $0.offset % stages == 0 }.map(\.element),
                    exit: pipelines.enumerated().filter { $0.offset % stages == stages - 1 }.map(\.element), expected: expected)
    }

    static func measure(_ pipelines: [StreamPipeline], entry: [StreamPipeline], exit: [StreamPipeline], expected: Int) throws -> (rate: Double, cpuMicros: Double) {
        let started = ContinuousClock.now
        let cpuBefore = ThreadCPU.seconds()
        let running = RunningPipelines(pipelines)
        defer { running.stop() }
        func finished() -> Int { exit.reduce(0) { $0 + $1.status.snapshot.recordsIn } }
        while entry.allSatisfy({ $0.status.snapshot.recordsIn == 0 }) && ContinuousClock.now - started < .seconds(60) {
            try running.checkNoneFailed()
            usleep(1000)
        }
        let first = ContinuousClock.now
        while finished() < expected {
            try running.checkNoneFailed()
            if ContinuousClock.now - started > .seconds(600) { throw CLIError("timed out: \(finished()) of \(expected)") }
            usleep(2000)
        }
        let rate = Double(expected) / (ContinuousClock.now - first).seconds
        let cpu = (ThreadCPU.seconds() - cpuBefore) * 1e6 / Double(expected)
        // Where each stage's time went besides working: the first thing to read when a rate is low.
        let waits = pipelines.map { pipeline -> String in
            let status = pipeline.status.snapshot
            return String(format: "%.2f/%.2f", status.waitedForRecords.seconds, status.waitedForAcknowledgements.seconds)
        }
        print("    (each stage waited, for records/acknowledgements, in seconds: \(waits.joined(separator: " ")))")
        return (rate, cpu)
    }
}

/// Pipelines each on a thread of its own, as a service runs them, until ``stop()``.
final class RunningPipelines {
    private let signal = StopSignal()
    private let done = DispatchSemaphore(value: 0)
    private let pipelines: [StreamPipeline]

    init(_ pipelines: [StreamPipeline]) {
        self.pipelines = pipelines
        for pipeline in pipelines {
            let box = UncheckedBox(pipeline)
            let (signal, done) = (signal, done)
            Thread { try? box.value.run(until: signal); done.signal() }.start()
        }
    }

    /// Throws if a pipeline has failed. A bench waiting for counts stops at once and names the
    /// cause (the pipeline's thread ended with it), rather than at its timeout with only a count.
    /// - Parameter what: the pipelines, as the error names them.
    func checkNoneFailed(_ what: String = "a pipeline") throws {
        for pipeline in pipelines {
            let status = pipeline.status.snapshot
            if status.state == .failed { throw CLIError("\(what) failed: \(status.failure ?? "no reason recorded")") }
        }
    }

    /// Stops every pipeline and waits for each to end.
    func stop() {
        signal.set()
        for _ in pipelines { done.wait() }
    }
}
