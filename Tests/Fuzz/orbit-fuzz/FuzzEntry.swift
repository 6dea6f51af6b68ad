import CFuzzerDriver
import Foundation
import OrbitFuzzTargets

// orbit-fuzz: `ORBIT_FUZZ_TARGET=<target> orbit-fuzz [libFuzzer flags] [corpus dirs]`.
// Built only with ORBIT_FUZZ=1 (scripts/fuzz.sh), linked with libFuzzer's driver without its
// `main`: SwiftPM makes `orbit_fuzz_main` the program's entry point, and it hands over to
// `LLVMFuzzerRunDriver`.

/// Written once in `main`, before the driver starts; libFuzzer then calls `testOneInput` on that
/// same thread only (no -jobs/-workers threads run inputs in this process), so reads never race.
nonisolated(unsafe) var selectedTarget: FuzzTarget = .json

@_cdecl("orbit_fuzz_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    let name = ProcessInfo.processInfo.environment["ORBIT_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("ORBIT_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(name)\"\n".utf8))
        return 2
    }
    selectedTarget = target
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, testOneInput)
}

func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do throws(FuzzFinding) {
        try selectedTarget.run(input)
    } catch {
        // A broken invariant is a crash to libFuzzer: it saves the input as an artifact.
        fatalError("\(selectedTarget.rawValue): \(error)")
    }
    return 0
}
