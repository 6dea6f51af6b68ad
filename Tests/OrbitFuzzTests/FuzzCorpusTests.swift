import Foundation
import OrbitFuzzTargets
import XCTest

/// Replays every committed fuzz input (`Tests/Fuzz/corpus/<target>/`, the seeds, and
/// `Tests/Fuzz/regressions/<target>/`, each input that once broke a target) through its target
/// without libFuzzer: a fixed bug stays fixed in every `swift test`.
final class FuzzCorpusTests: XCTestCase {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    func inputs(_ target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
        var found: [(String, [UInt8])] = []
        for folder in ["corpus", "regressions"] {
            let directory = Self.fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { continue }
            for name in names.sorted() where !name.hasPrefix(".") {
                found.append(("\(folder)/\(target.rawValue)/\(name)", Array(try Data(contentsOf: directory.appendingPathComponent(name)))))
            }
        }
        return found
    }

    func testEveryTargetHasSeedsAndEveryCommittedInputKeepsItsInvariants() throws {
        for target in FuzzTarget.allCases {
            let inputs = try inputs(target)
            XCTAssertGreaterThanOrEqual(inputs.count, 3, "\(target.rawValue) needs a seed corpus")
            for input in inputs {
                do throws(FuzzFinding) { try target.run(input.bytes) } catch { XCTFail("\(input.name): \(error)") }
            }
        }
    }
}
