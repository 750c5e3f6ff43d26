import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct DataFormatTests {
    private func fixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

    @Test func npyFilesWrittenByNumPyRead() throws {
        #expect(try NPY.read(path: fixture("f32.npy")) == Tensor(shape: [2, 3, 4]) { Float($0) / 8 })
        #expect(try NPY.read(path: fixture("f64.npy")) == Tensor(shape: [3], scalars: [1.5, -2.25, 3]))
        #expect(try NPY.read(path: fixture("u8.npy")) == Tensor(shape: [2, 2], scalars: [0, 255, 7, 128]))
    }

    @Test func npyRoundTripsAndRejectsBadFiles() throws {
        for t in [Tensor(shape: [2, 3]) { Float($0) - 2.5 }, Tensor(shape: [5]) { Float($0) }, Tensor(shape: [1, 1, 2, 1], scalars: [.pi, -0])] {
            let bytes = NPY.encode(t)
            #expect((bytes.count - 4 * t.count) % 64 == 0)
            #expect(try NPY.parse(bytes, source: "t.npy") == t)
        }
        let good = NPY.encode(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        #expect(throws: ConvKitError("t.npy: shape [2, 2] needs 16 bytes of data, the file has 12")) {
            try NPY.parse(Array(good.dropLast(4)), source: "t.npy")
        }
        #expect(throws: ConvKitError("t.npy: not a .npy file (bad magic string)")) { try NPY.parse([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], source: "t.npy") }
        let int64 = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "<f4", with: "<i8")
        #expect(throws: ConvKitError.self) { try NPY.parse(Array(int64.utf8), source: "t.npy") }
    }

    @Test func safetensorsRoundTripAndHostileFiles() throws {
        let a = Tensor(shape: [2, 3]) { Float($0) * 0.5 }, b = Tensor(shape: [4], scalars: [1, -1, 2, -2])
        let bytes = try SafeTensors.encode([("conv2d.kernel", a), ("conv2d.bias", b)])
        #expect((try SafeTensors.decode(bytes, source: "w")) == ["conv2d.kernel": a, "conv2d.bias": b])
        var huge = bytes; huge.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
        #expect(throws: ConvKitError.self) { try SafeTensors.decode(huge, source: "w") }
        #expect(throws: ConvKitError.self) { try SafeTensors.decode(Array(bytes.dropLast(4)), source: "w") }   // offsets past the end
        let f16 = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "F32", with: "F16").utf8)
        #expect(throws: ConvKitError.self) { try SafeTensors.decode(f16, source: "w") }
        #expect(throws: ConvKitError.self) { try SafeTensors.decode([1, 2, 3], source: "w") }
    }

    @Test func modelWeightsSaveAndLoad() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString).safetensors").path
        let a = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/seed003-conv-maxpool.yaml").path, seed: 1)
        try a.saveWeights(to: path)
        let b = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/seed003-conv-maxpool.yaml").path, seed: 2)
        try b.loadWeights(from: path)
        let x = randomTensor([2, 28, 28, 1], seed: 3)
        #expect(try a.predict(x) == b.predict(x))
        let other = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/seed003-conv.yaml").path)
        let before = other.parameters.map(\.parameter.value)
        #expect(throws: ConvKitError.self) { try other.loadWeights(from: path) }
        #expect(other.parameters.map(\.parameter.value) == before)   // nothing changed
    }

    @Test func bilinearResizeUsesHalfPixelCentres() {
        let image = Tensor(shape: [1, 2, 2, 1], scalars: [0, 1, 2, 3])
        // By hand: source coordinate (o + 0.5)·2/4 − 0.5, clamped at the edges.
        #expect(Augmentation.resize(image, height: 4, width: 4).scalars ==
                [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
        #expect(Augmentation.resize(Tensor(repeating: 0.3, shape: [2, 28, 28, 1]), height: 32, width: 32).scalars.allSatisfy { abs($0 - 0.3) < 1e-6 })
    }

    @Test func cropsAndFlipsMoveButKeepPixels() {
        var g = SeededGenerator(seed: 1)
        let images = Tensor(shape: [8, 6, 6, 1]) { Float($0 % 36 == 14 ? 1 : 0) }   // one bright pixel at (2, 2)
        #expect(Augmentation.randomCrop(images, padding: 0, using: &g) == images)
        let cropped = Augmentation.randomCrop(images, padding: 2, using: &g)
        for b in 0..<8 {
            let item = cropped.slice(batch: b..<(b + 1)).scalars
            #expect(item.reduce(0, +) == 1)   // a shift of at most 2 keeps the pixel inside
        }
        #expect(cropped != images)
        let flipped = Augmentation.horizontalFlip(images, probability: 1, using: &g)
        #expect(flipped.scalars[2 * 6 + 3] == 1 && flipped.scalars[2 * 6 + 2] == 0)
        #expect(Augmentation.horizontalFlip(flipped, probability: 1, using: &g) == images)
        #expect(Augmentation.horizontalFlip(images, probability: 0, using: &g) == images)
    }

    @Test func standardizationCentresAndScalesEachChannel() {
        let images = Tensor(shape: [50, 2, 2, 2]) { i in i % 2 == 0 ? Float(i % 7) : Float(i % 5) * 3 + 10 }
        let s = Standardization(fitting: images)
        let z = s.apply(images)
        let again = Standardization(fitting: z)
        #expect(again.mean.allSatisfy { abs($0) < 1e-5 } && again.std.allSatisfy { abs($0 - 1) < 1e-4 })
    }
}

/// NaN and infinity: refused at the door with a named error, propagated (not swallowed) inside.
@Suite struct NonFiniteTests {
    @Test func reluInsideTheConvolutionKernelsKeepsNaN() throws {
        // 3×3 'same' on 12×12 with 16→8 channels (the direct kernel) and 64→32 (Winograd), with
        // one NaN pixel: every output whose window sees it is NaN, the fused ReLU included.
        for (cin, cout) in [(16, 8), (64, 32)] {
            let g = try ConvGeometry(batch: 1, inputSize: [12, 12], inputChannels: cin, outputChannels: cout, kernelSize: [3, 3],
                                     strides: [1, 1], dilations: [1, 1], padding: .same)
            var x = randomTensor(g.inputShape, seed: 1)
            x.scalars[(5 * 12 + 5) * cin] = .nan
            let w = randomTensor(g.kernelShape, seed: 2)
            for isa in InstructionSet.testable {
                let y = Convolution.forward(x, kernel: w, bias: nil, geometry: g, relu: true, isa: isa)
                for row in 4...6 {
                    for column in 4...6 {
                        #expect(y.scalars[((row * 12) + column) * cout].isNaN, "\(cin)→\(cout) \(isa): (\(row), \(column))")
                    }
                }
                // Far from it, outputs stay finite (Winograd's tiles may spread a NaN within a tile).
                #expect(!y.scalars[y.count - 1].isNaN)
            }
        }
        #expect(ActivationFunction.relu.apply(Tensor(shape: [2], scalars: [.nan, -1])).scalars[0].isNaN)
    }

    @Test func nonFiniteInputsAreRefusedWithTheirIndex() throws {
        let model = try singleLayerModel("Dense: {units: 2}", inputShape: [3])
        var x = Tensor(zeros: [2, 3])
        x.scalars[4] = .infinity
        do { _ = try model.predict(x); Issue.record("a non-finite input was predicted") } catch let error as ConvKitError {
            #expect(error.description.contains("prediction inputs: value at index [1, 1] is inf"))
        }
        model.compile(optimizer: SGD(), loss: MeanSquaredError())
        #expect(throws: ConvKitError.self) { try model.fit(x, Tensor(zeros: [2, 2]), epochs: 1, verbose: .silent) }
        #expect(throws: ConvKitError.self) { try model.evaluate(Tensor(zeros: [2, 3]), Tensor(shape: [2, 2], scalars: [0, .nan, 0, 0])) }
        var bad = Tensor(zeros: [1, 2, 2])
        bad.scalars[3] = .nan
        do { _ = try NPY.parse(NPY.encode(bad), source: "x.npy"); Issue.record("a NaN .npy file was read") } catch let error as ConvKitError {
            #expect(error.description.contains("x.npy: value at index [0, 1, 1] is nan"))
        }
    }
}
