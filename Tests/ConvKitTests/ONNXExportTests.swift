import Foundation
import SwiftProtobuf
import Testing
@testable import ConvKit
@testable import ConvKitLab
@testable import ConvKitONNX

/// The ONNX graph's structure and weight layouts. That onnxruntime computes what ConvKit
/// computes, for every layer type, is checked by scripts/check_onnx.py (`make verify-onnx`,
/// part of `make test`).
@Suite struct ONNXExportTests {
    @Test func permutedReordersAxesLikeTranspose() {
        // A 2×3 matrix transposed.
        #expect(permuted([1, 2, 3, 4, 5, 6], shape: [2, 3], [1, 0]) == [1, 4, 2, 5, 3, 6])
        // [2, 1, 3] → axes (2, 0, 1): result[k][i][j] = input[i][j][k].
        #expect(permuted([1, 2, 3, 4, 5, 6], shape: [2, 1, 3], [2, 0, 1]) == [1, 4, 2, 5, 3, 6])
        #expect(permuted([7, 8, 9], shape: [3], [0]) == [7, 8, 9])
    }

    static let model = """
        name: small
        input: [6, 5, 2]
        layers:
          - Conv2D: {filters: 3, kernel_size: [3, 2], padding: same, activation: relu, name: conv}
          - Flatten: {name: flat}
          - Dense: {units: 4, activation: softmax, name: head}
        """

    @Test func graphHasOpsetNamesShapesAndONNXWeightLayouts() throws {
        let model = try ModelFile.parse(Self.model, seed: 4)
        let bytes = try ONNXExport.serialize(model)
        let proto = try Onnx_ModelProto(serializedBytes: bytes)
        #expect(proto.opsetImport.map(\.version) == [17] && proto.irVersion == 8 && proto.producerName == "ConvKit")
        let graph = proto.graph
        #expect(graph.node.map(\.opType) == ["Transpose", "Conv", "Relu", "Transpose", "Flatten", "MatMul", "Add", "Softmax", "Identity"])
        #expect(graph.input.map(\.name) == ["input"] && graph.output.map(\.name) == ["output"])
        let inputDims = graph.input[0].type.tensorType.shape.dim
        #expect(inputDims[0].dimParam == "batch" && inputDims.dropFirst().map(\.dimValue) == [6, 5, 2])
        #expect(graph.output[0].type.tensorType.shape.dim.dropFirst().map(\.dimValue) == [4])

        // Conv: pads for 'same' with a 3×2 kernel are (1, 0) before and (1, 1) after; the
        // kernel [kh, kw, in, out] becomes [out, in, kh, kw].
        let conv = try #require(graph.node.first { $0.opType == "Conv" })
        let attributes = Dictionary(uniqueKeysWithValues: conv.attribute.map { ($0.name, $0) })
        #expect(attributes["pads"]?.ints == [1, 0, 1, 1] && attributes["kernel_shape"]?.ints == [3, 2])
        #expect(attributes["group"]?.i == 1 && attributes["strides"]?.ints == [1, 1])
        let weights = try #require(graph.initializer.first { $0.name == conv.input[1] })
        #expect(weights.dims == [3, 2, 3, 2])
        let onnx = weights.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let keras = model.parameter("conv.kernel")!.value
        for (o, i, y, x) in [(0, 0, 0, 0), (2, 1, 2, 1), (1, 0, 1, 1), (2, 0, 0, 1)] {
            #expect(onnx[((o * 2 + i) * 3 + y) * 2 + x] == keras.scalars[((y * 2 + x) * 2 + i) * 3 + o])
        }
        // The flattening happens channels-last, as in ConvKit: the transpose back comes first.
        let back = graph.node[3]
        #expect(back.attribute.first?.ints == [0, 2, 3, 1])
    }

    @Test func fixedBatchSizeAppearsInTheSignature() throws {
        let model = try ModelFile.parse(Self.model)
        let proto = try Onnx_ModelProto(serializedBytes: ONNXExport.serialize(model, batchSize: 8))
        #expect(proto.graph.input[0].type.tensorType.shape.dim.map(\.dimValue) == [8, 6, 5, 2])
        #expect(proto.graph.output[0].type.tensorType.shape.dim.map(\.dimValue) == [8, 4])
    }

    /// A layer from outside the library: the export names it instead of guessing.
    final class Doubling: Layer {
        override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] { inputShapes[0] }
        override func forward(_ inputs: [Tensor], training: Bool) -> Tensor { inputs[0].map { 2 * $0 } }
        override func backward(_ gradOutput: Tensor) -> [Tensor] { [gradOutput.map { 2 * $0 }] }
    }

    @Test func unknownLayersAreNamed() throws {
        let model = try Model(sequential: [Dense(units: 2), Doubling(name: "twice")], inputShape: [3])
        #expect(throws: ConvKitError("ONNX export of layer 'twice' (Doubling): layer type Doubling has no ONNX translation")) {
            _ = try ONNXExport.serialize(model)
        }
    }
}
