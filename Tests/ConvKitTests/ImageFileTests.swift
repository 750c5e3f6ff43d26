import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// PNG and PGM reading for `convkit predict` (fixtures from scripts/make_image_fixtures.py).
@Suite struct ImageFileTests {
    private func fixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

    private func temporaryFile(_ bytes: [UInt8], _ suffix: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString)\(suffix)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsRGBPNGAsRGBAndAsGrey() throws {
        let rgb = try ImageFile.read(path: fixture("rgb-4x3.png"), channels: 3)
        #expect(rgb.shape == [1, 3, 4, 3])
        for y in 0..<3 {
            for x in 0..<4 {
                let i = (y * 4 + x) * 3
                let expected = [Float(40 * x + 10), Float(80 * y + 5), Float(255 - 60 * x)].map { $0 / 255 }
                #expect(Array(rgb.scalars[i..<(i + 3)]) == expected, "pixel (\(x), \(y))")
            }
        }
        let grey = try ImageFile.read(path: fixture("rgb-4x3.png"), channels: 1)
        #expect(grey.shape == [1, 3, 4, 1])
        #expect(abs(grey.scalars[5] - (0.299 * 50 + 0.587 * 85 + 0.114 * 195) / 255) < 1e-6)   // pixel (1, 1)
    }

    @Test func transparentPixelsAreCompositedOnBlack() throws {
        let grey = try ImageFile.read(path: fixture("grey-alpha-2x2.png"), channels: 1)
        #expect(grey.shape == [1, 2, 2, 1])
        #expect(grey.scalars.map { ($0 * 255).rounded() } == [0, 255, 128, 0])
    }

    @Test func readsBinaryAndTextPGM() throws {
        let binary = try temporaryFile(Array("P5\n# a comment\n3 2\n255\n".utf8) + [0, 51, 255, 102, 204, 153], ".pgm")
        let text = try temporaryFile(Array("P2 3 2 15\n0 3 15\n6 12 9\n".utf8), ".pgm")
        let wide = try temporaryFile(Array("P5 2 1 1000\n".utf8) + [0x03, 0xE8, 0x01, 0xF4], ".pgm")
        defer { for p in [binary, text, wide] { try? FileManager.default.removeItem(atPath: p) } }
        let expected: [Float] = [0, 0.2, 1, 0.4, 0.8, 0.6]
        for path in [binary, text] {
            let image = try ImageFile.read(path: path, channels: 1)
            #expect(image.shape == [1, 2, 3, 1])
            #expect(zip(image.scalars, expected).allSatisfy { abs($0 - $1) < 1e-6 })
        }
        #expect(try ImageFile.read(path: wide, channels: 1).scalars == [1, 0.5])
        #expect(try ImageFile.read(path: binary, channels: 3).shape == [1, 2, 3, 3])
    }

    @Test func badImagesGetNamedErrors() throws {
        let truncated = try temporaryFile(Array("P5 4 4 255\n".utf8) + [1, 2, 3], ".pgm")
        let huge = try temporaryFile(Array("P5 99999999 99999999 255\n".utf8), ".pgm")
        let garbage = try temporaryFile([0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3], ".png")
        let other = try temporaryFile(Array("GIF89a".utf8), ".png")
        defer { for p in [truncated, huge, garbage, other] { try? FileManager.default.removeItem(atPath: p) } }
        for (path, words) in [(truncated, "truncated"), (huge, "not supported"), (garbage, "PNG"), (other, "not a PNG or PGM")] {
            let error = #expect(throws: ConvKitError.self) { try ImageFile.read(path: path, channels: 1) }
            #expect(error?.description.contains(words) == true, "\(error?.description ?? "")")
            #expect(error?.description.contains(path) == true)
        }
    }

    /// `convkit predict`'s input: any format, shaped for the model.
    @Test func modelInputShapesEachFormatForTheModel() throws {
        let pgm = try temporaryFile(Array("P5 2 1 255\n".utf8) + [0, 255], ".pgm")
        let npy = FileManager.default.temporaryDirectory.appendingPathComponent("model-input-\(UUID().uuidString).npy").path
        defer { for p in [pgm, npy] { try? FileManager.default.removeItem(atPath: p) } }
        // One 2×1 grey image, resized to the model's 2×4 input (bilinear keeps 0…1) and inverted.
        let image = try ModelInput.read(pgm, for: [2, 4, 1], invert: true)
        #expect(image.shape == [1, 2, 4, 1])
        #expect(image.scalars.first == 1 && image.scalars.last == 0)
        // One example without a batch axis gets one.
        try NPY.write(Tensor(shape: [2, 4, 1], scalars: (0..<8).map(Float.init)), to: npy)
        #expect(try ModelInput.read(npy, for: [2, 4, 1]).shape == [1, 2, 4, 1])
        // [n, h, w] grey images get a channel axis.
        try NPY.write(Tensor(shape: [3, 2, 4], scalars: (0..<24).map(Float.init)), to: npy)
        #expect(try ModelInput.read(npy, for: [2, 4, 1]).shape == [3, 2, 4, 1])
        let error = #expect(throws: ConvKitError.self) { try ModelInput.read(pgm, for: [10]) }
        #expect(error?.description.contains("does not take images") == true)
    }
}
