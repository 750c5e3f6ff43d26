import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Inputs found by `make fuzz`, kept so that they stay harmless.
@Suite struct FuzzRegressionTests {
    private func fixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

    @Test func anOverflowingBase60IntegerIsAnErrorNotATrap() throws {
        // Yams reads `88888888888888888:8888…` as a YAML 1.1 base-60 integer and traps on the overflow.
        let text = try String(contentsOfFile: fixture("fuzz-model-sexagesimal.yaml"), encoding: .utf8)
        #expect(throws: ConvKitError.self) { try ModelFile.parse(text) }
        #expect(throws: ConvKitError.self) { try ModelFile.parse("input: [28, 28, 1]\nseed: 99999999999999999:99\nlayers: [Flatten]\n") }
        #expect(throws: ConvKitError.self) { try ModelFile.parse("input: [1:30, 2]\nlayers: [Flatten]\n") }
        let experiment = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: experiment) }
        try "name: x\nmodels: [a.yaml]\ndata: {}\nrecipe: {epochs: 88888888888888888:8888, batch_size: 1}\n"
            .write(toFile: experiment, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConvKitError.self) { try Experiment.load(path: experiment) }
        #expect(error?.description.contains("base-60") == true && error?.description.contains("line 4") == true)
    }

    @Test func aStrayParenthesisBeforeTheShapeIsHarmless() throws {
        // `'shape': )(2, 2)` once made an inverted string range; now the stray ')' is skipped.
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        var header = Array("{'descr': '|u1', 'fortran_order': False, 'shape': )(2, 2), }".utf8)
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        bytes += [UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header + [0, 255, 7, 128]
        #expect(try NPY.parse(bytes, source: "fuzz").shape == [2, 2])
        #expect(throws: ConvKitError.self) { try NPY.parse(Array("\u{93}NUMPY".utf8.prefix(6)) + [1, 0, 30, 0] + Array("{'descr': '<f8', 'shape': (4611686018427387904,), }".utf8), source: "huge") }
    }

    @Test func emptyFilesAreErrorsInEveryReader() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-empty-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: ConvKitError.self) { try IDX.read(path: empty) }
        #expect(throws: ConvKitError.self) { try ImageFile.read(path: empty, channels: 1) }
        #expect(throws: ConvKitError.self) { try NPY.read(path: empty) }
        #expect(throws: ConvKitError.self) { try SafeTensors.decode([], source: empty) }
        #expect(throws: ConvKitError.self) { try ModelFile.parse("") }
    }
}
