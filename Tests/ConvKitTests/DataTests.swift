import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct DataTests {
    static let labels = "\(FashionMNIST.defaultDirectory)/t10k-labels-idx1-ubyte.gz"

    private func temporaryFile(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString)-\(name)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsTheRealFashionMNISTTestSet() throws {
        let (images, labels) = try FashionMNIST.load(.test)
        #expect(images.shape == [10_000, 28, 28, 1] && labels.shape == [10_000])
        #expect(images.scalars.allSatisfy { (0...1).contains($0) } && images.scalars.contains(1))
        // Ten balanced classes of 1,000 test images each.
        let counts = Dictionary(grouping: labels.scalars, by: { $0 }).mapValues(\.count)
        #expect(counts.keys.sorted() == (0..<10).map(Float.init) && counts.values.allSatisfy { $0 == 1_000 })
    }

    @Test func rawIDXParsesAndRejectsBadFiles() throws {
        let good: [UInt8] = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
        let parsed = try IDX.parse(good, source: "x.idx")
        #expect(parsed.shape == [2, 3] && parsed.values == [1, 2, 3, 4, 5, 6])
        #expect(throws: ConvKitError("x.idx: IDX dimensions [2, 3] need 6 bytes of data, the file has 5 (truncated)")) {
            try IDX.parse(Array(good.dropLast()), source: "x.idx")
        }
        #expect(throws: ConvKitError("x.idx: not an IDX file (bad magic number)")) { try IDX.parse([1, 0, 8, 1], source: "x.idx") }
        #expect(throws: ConvKitError.self) { try IDX.parse([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], source: "x.idx") }
        #expect(throws: ConvKitError.self) { try IDX.parse([0, 0, 8, 3, 0, 0], source: "x.idx") }
        // Huge declared dimensions are an error, not an allocation.
        #expect(throws: ConvKitError.self) { try IDX.parse([0, 0, 8, 3] + [UInt8](repeating: 0xff, count: 12), source: "x.idx") }
    }

    @Test func truncatedAndCorruptGzipFilesNameTheFileAndFault() throws {
        let real = try #require(FileManager.default.contents(atPath: Self.labels))
        let truncated = try temporaryFile(Array(real.prefix(real.count / 2)), "truncated.gz")
        do { _ = try IDX.read(path: truncated); Issue.record("truncated file accepted") } catch {
            #expect("\(error)".hasPrefix(truncated) && "\(error)".contains("truncated"), "\(error)")
        }
        var bytes = Array(real)
        for i in stride(from: 40, to: bytes.count - 8, by: 97) { bytes[i] ^= 0x5a }
        let corrupt = try temporaryFile(bytes, "corrupt.gz")
        do { _ = try IDX.read(path: corrupt); Issue.record("corrupt file accepted") } catch {
            #expect("\(error)".hasPrefix(corrupt) && "\(error)".contains("corrupt gzip data"), "\(error)")
        }
    }

    @Test func missingFilesAndCountMismatchesAreNamed() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-fashion-mnist-\(getpid())").path
        #expect(throws: ConvKitError("\(empty)/train-images-idx3-ubyte.gz: no such file")) {
            try FashionMNIST.load(.train, directory: empty)
        }
        let images = try temporaryFile([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 255, 0], "images.idx")
        let labels = try temporaryFile([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3], "labels.idx")
        do { _ = try IDX.loadClassification(images: images, labels: labels); Issue.record("mismatch accepted") } catch {
            #expect("\(error)".contains("holds 2 images but") && "\(error)".contains("holds 3 labels"), "\(error)")
        }
    }
}
