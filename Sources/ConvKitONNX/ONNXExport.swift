import ConvKit
import Foundation
import SwiftProtobuf

/// Writes a ConvKit model as a standard ONNX model (opset 17) for onnxruntime and other tools.
///
/// The graph takes and returns the same arrays as ConvKit: its input is channels-last
/// (`[batch, height, width, channels]`) and so is its output. ONNX convolutions and pooling are
/// channels-first, so values are transposed where an operator needs the other layout: once
/// after the input, and back before Flatten, Dense, Reshape, a softmax over channels or the
/// output. Weights are reordered from Keras' layouts to ONNX's. The LC-block is exported as
/// the single convolution it equals; Dropout is the identity at inference.
public enum ONNXExport {
    public static let opset = 17
    public static let inputName = "input", outputName = "output"

    /// The serialized ONNX `ModelProto`.
    public static func serialize(_ model: Model, batchSize: Int? = nil) throws -> [UInt8] {
        try Array(modelProto(model, batchSize: batchSize).serializedBytes() as [UInt8])
    }

    static func modelProto(_ model: Model, batchSize: Int?) throws -> Onnx_ModelProto {
        var exporter = Exporter()
        exporter.graph.reserve(outputName)
        exporter.graph.addInput(inputName, shape: model.inputShape, batch: batchSize)
        exporter.values[ObjectIdentifier(model.input)] = Value(name: inputName, layout: .channelsLast, shape: model.inputShape)
        for node in model.nodes {
            let inputs = node.inputs.map { exporter.values[ObjectIdentifier($0)]! }
            do {
                exporter.values[ObjectIdentifier(node)] = try exporter.export(node.layer!, inputs: inputs, outputShape: node.shape)
            } catch let error as ConvKitError {
                throw ConvKitError("ONNX export of \(node.layer!.describe): \(error.description)")
            }
        }
        let last = exporter.values[ObjectIdentifier(model.output)]!
        exporter.graph.node("Identity", [exporter.channelsLast(last)], name: outputName, output: outputName)
        exporter.graph.addOutput(outputName, shape: model.outputShape, batch: batchSize)
        var graph = exporter.graph.proto
        graph.name = model.name

        var proto = Onnx_ModelProto()
        proto.irVersion = 8   // the IR that opset 17 shipped with
        proto.producerName = "ConvKit"
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = Int64(opset)
        proto.opsetImport = [opsetID]
        proto.graph = graph
        return proto
    }
}

/// A graph value and the axis order it is in. A tensor without spatial axes ([batch, features])
/// reads the same in both layouts.
struct Value {
    enum Layout { case channelsLast, channelsFirst }
    var name: String
    var layout: Layout
    /// ConvKit's shape of one example, channels last.
    var shape: [Int]
    var spatialRank: Int { max(shape.count - 1, 0) }
}

private struct Exporter {
    var graph = ONNXGraph()
    var values = [ObjectIdentifier: Value]()
    private var transposed = [String: String]()

    // MARK: - Layouts

    /// The value with channels first (`[batch, channels, spatial…]`), transposing once if needed.
    mutating func channelsFirst(_ v: Value) -> String {
        guard v.layout == .channelsLast, v.spatialRank > 0 else { return v.name }
        let rank = v.shape.count + 1
        return transpose(v.name, [0, rank - 1] + Array(1..<(rank - 1)))
    }

    /// The value in ConvKit's layout (`[batch, spatial…, channels]`).
    mutating func channelsLast(_ v: Value) -> String {
        guard v.layout == .channelsFirst, v.spatialRank > 0 else { return v.name }
        let rank = v.shape.count + 1
        return transpose(v.name, [0] + Array(2..<rank) + [1])
    }

    private mutating func transpose(_ name: String, _ permutation: [Int]) -> String {
        let key = "\(name)\(permutation)"
        if let done = transposed[key] { return done }
        let out = graph.node("Transpose", [name], ["perm": .ints(permutation)], name: "\(name)_transposed")
        transposed[key] = out
        return out
    }

    // MARK: - Layers

    mutating func export(_ layer: Layer, inputs: [Value], outputShape: [Int]) throws -> Value {
        let name = layer.name ?? layer.typeName
        let x = inputs[0]
        func first(_ out: String) -> Value { Value(name: out, layout: .channelsFirst, shape: outputShape) }
        func last(_ out: String) -> Value { Value(name: out, layout: .channelsLast, shape: outputShape) }
        func same(as input: Value, _ out: String) -> Value { Value(name: out, layout: input.layout, shape: outputShape) }

        switch layer {
        case let conv as ConvolutionLayer:
            return activated(conv.activation, first(try convolution(
                name, x, kernel: conv.kernel.value, bias: conv.bias?.value, groups: conv.groups,
                kernelSize: conv.kernelSize, strides: conv.strides, dilations: conv.dilationRate, padding: conv.padding)), name: name)
        case let block as LCConv2D where block.intermediate == .none:
            // A linear block is one convolution: written folded, as ConvKit runs it.
            let conv = try block.folded()
            return activated(conv.activation, first(try convolution(
                name, x, kernel: conv.kernel.value, bias: conv.bias?.value, groups: 1,
                kernelSize: conv.kernelSize, strides: conv.strides, dilations: conv.dilationRate, padding: conv.padding)), name: name)
        case let block as LCConv2D:
            // An ablation block: the spatial Conv, the operation between, then the 1×1 Conv.
            let middleShape = Array(outputShape.dropLast()) + [block.filters * block.expansion]
            var middle = try convolution("\(name).spatial", x, kernel: block.spatialKernel.value, bias: nil, groups: 1,
                                         kernelSize: block.kernelSize, strides: block.strides, dilations: block.dilationRate,
                                         padding: block.padding)
            if block.intermediate == .batchNorm || block.intermediate == .batchNormReLU {
                middle = batchNormalization("\(name).intermediate", middle, layer: block, prefix: "intermediate_",
                                            channels: middleShape.last!, epsilon: 1e-5)
            }
            if block.intermediate == .relu || block.intermediate == .batchNormReLU {
                middle = graph.node("Relu", [middle], name: "\(name).intermediate")
            }
            let out = try convolution("\(name).combination", Value(name: middle, layout: .channelsFirst, shape: middleShape),
                                      kernel: block.combinationKernel.value, bias: block.parameter("bias")?.value, groups: 1,
                                      kernelSize: 1, strides: 1, dilations: 1, padding: .valid)
            return activated(block.activation, first(out), name: name)
        case let dw as DepthwiseConv2D:
            let out = try depthwise(name, x, kernel: dw.kernel.value, bias: dw.parameter("bias")?.value,
                                    kernelSize: dw.kernelSize, strides: dw.strides, dilations: dw.dilationRate, padding: dw.padding)
            return activated(dw.activation, first(out), name: name)
        case let sep as SeparableConv2D:
            let middle = try depthwise(name, x, kernel: sep.depthwiseKernel.value, bias: nil,
                                       kernelSize: sep.kernelSize, strides: sep.strides, dilations: sep.dilationRate, padding: sep.padding)
            let middleShape = Array(outputShape.dropLast()) + [sep.pointwiseKernel.value.shape[2]]
            let out = try convolution(name, Value(name: middle, layout: .channelsFirst, shape: middleShape),
                                      kernel: sep.pointwiseKernel.value, bias: sep.parameter("bias")?.value, groups: 1,
                                      kernelSize: 1, strides: 1, dilations: 1, padding: .valid)
            return activated(sep.activation, first(out), name: name)
        case let tconv as Conv2DTranspose:
            return activated(tconv.activation, first(try transposedConvolution(name, x, tconv, outputShape: outputShape)), name: name)
        case let pool as PoolingLayer:
            let rank = pool.rank
            let kernel = try pool.poolSize.expanded(to: rank, "pool_size")
            let strides = try (pool.strides ?? pool.poolSize).expanded(to: rank, "strides")
            var attributes: [String: ONNXGraph.Attribute] = [
                "kernel_shape": .ints(kernel), "strides": .ints(strides),
                "pads": .ints(try pads(x, kernel: kernel, strides: strides, dilations: Array(repeating: 1, count: rank), padding: pool.padding)),
            ]
            // Keras averages over the window's pixels inside the image: padding is not counted.
            if pool.mode == .average { attributes["count_include_pad"] = .int(0) }
            return first(graph.node(pool.mode == .max ? "MaxPool" : "AveragePool", [channelsFirst(x)], attributes, name: name))
        case let pool as GlobalPoolingLayer:
            let pooled = graph.node(pool.mode == .max ? "GlobalMaxPool" : "GlobalAveragePool", [channelsFirst(x)], name: name)
            return last(graph.node("Flatten", [pooled], ["axis": .int(1)], name: name))
        case let bn as BatchNormalization:
            let out = batchNormalization(name, channelsFirst(x), layer: bn, prefix: "", channels: x.shape.last!, epsilon: bn.epsilon)
            return x.spatialRank > 0 ? first(out) : last(out)
        case let dense as Dense:
            let w = graph.constant("\(name).kernel", dense.kernel.value.scalars, shape: dense.kernel.value.shape)
            var out = graph.node("MatMul", [channelsLast(x), w], name: name)
            if let bias = dense.bias {
                out = graph.node("Add", [out, graph.constant("\(name).bias", bias.value.scalars, shape: bias.value.shape)], name: name)
            }
            return activated(dense.activation, last(out), name: name)
        case is Flatten:
            return last(graph.node("Flatten", [channelsLast(x)], ["axis": .int(1)], name: name))
        case let reshape as Reshape:
            let shape = graph.integers("\(name).shape", [0] + reshape.targetShape)
            return last(graph.node("Reshape", [channelsLast(x), shape], name: name))
        case let act as Activation:
            return activated(act.function, same(as: x, x.name), name: name)
        case is Dropout:
            return same(as: x, x.name)
        case let pad as ZeroPadding2D:
            let m = pad.margins
            let amounts = graph.integers("\(name).pads", [0, 0, m.top, m.left, 0, 0, m.bottom, m.right])
            return first(graph.node("Pad", [channelsFirst(x), amounts], name: name))
        case let crop as Cropping2D:
            let m = crop.margins
            let starts = graph.integers("\(name).starts", [m.top, m.left])
            let ends = graph.integers("\(name).ends", [x.shape[0] - m.bottom, x.shape[1] - m.right])
            let axes = graph.integers("\(name).axes", [2, 3])
            return first(graph.node("Slice", [channelsFirst(x), starts, ends, axes], name: name))
        case is Add:
            let layout = x.layout
            let names = inputs.map { layout == .channelsFirst ? channelsFirst($0) : channelsLast($0) }
            return same(as: x, graph.node("Sum", names, name: name))
        case let concat as Concatenate:
            // Keras counts axes with the batch as 0; in channels-first order the channels are axis 1.
            let rank = x.shape.count + 1
            let axis = concat.axis < 0 ? rank + concat.axis : concat.axis
            if x.spatialRank > 0 && inputs.allSatisfy({ $0.layout == .channelsFirst }) {
                let onnxAxis = axis == rank - 1 ? 1 : axis + 1
                return first(graph.node("Concat", inputs.map { channelsFirst($0) }, ["axis": .int(onnxAxis)], name: name))
            }
            return last(graph.node("Concat", inputs.map { channelsLast($0) }, ["axis": .int(axis)], name: name))
        default:
            throw ConvKitError("layer type \(layer.typeName) has no ONNX translation")
        }
    }

    /// ONNX pads `[before…, after…]` of a window over `x`'s spatial axes.
    private func pads(_ x: Value, kernel: [Int], strides: [Int], dilations: [Int], padding: Padding) throws -> [Int] {
        let rank = x.spatialRank
        let g = try ConvGeometry(batch: 1, inputSize: Array(x.shape.prefix(rank)), inputChannels: 1, outputChannels: 1,
                                 kernelSize: kernel, strides: strides, dilations: dilations, padding: padding)
        return Array(g.padBefore.suffix(rank)) + Array(g.padAfter.suffix(rank))
    }

    /// BatchNormalization of the channels-first `x` with the moving statistics of `layer`'s
    /// parameters `<prefix>gamma`, `<prefix>beta`, `<prefix>moving_mean`, `<prefix>moving_variance`.
    private mutating func batchNormalization(_ name: String, _ x: String, layer: Layer, prefix: String, channels c: Int,
                                             epsilon: Float) -> String {
        func values(_ parameter: String, default value: Float) -> [Float] {
            layer.parameter(prefix + parameter)?.value.scalars ?? Array(repeating: value, count: c)
        }
        let inputs = [x] + [("gamma", Float(1)), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)].map {
            graph.constant("\(name).\($0.0)", values($0.0, default: $0.1), shape: [c])
        }
        return graph.node("BatchNormalization", inputs, ["epsilon": .float(epsilon)], name: name)
    }

    /// Conv with a Keras kernel `[spatial…, in/groups, filters]`, reordered to `[filters, in/groups, spatial…]`.
    private mutating func convolution(_ name: String, _ x: Value, kernel: Tensor, bias: Tensor?, groups: Int,
                                      kernelSize: SpatialSize, strides: SpatialSize, dilations: SpatialSize,
                                      padding: Padding) throws -> String {
        let rank = x.spatialRank
        let k = try kernelSize.expanded(to: rank, "kernel_size"), s = try strides.expanded(to: rank, "strides")
        let d = try dilations.expanded(to: rank, "dilation_rate")
        let order = [rank + 1, rank] + Array(0..<rank)
        let weights = graph.constant("\(name).kernel", permuted(kernel.scalars, shape: kernel.shape, order), shape: order.map { kernel.shape[$0] })
        var inputs = [channelsFirst(x), weights]
        if let bias { inputs.append(graph.constant("\(name).bias", bias.scalars, shape: bias.shape)) }
        return graph.node("Conv", inputs, [
            "kernel_shape": .ints(k), "strides": .ints(s), "dilations": .ints(d), "group": .int(groups),
            "pads": .ints(try pads(x, kernel: k, strides: s, dilations: d, padding: padding)),
        ], name: name)
    }

    /// A depthwise kernel `[kh, kw, channels, multiplier]` is a grouped Conv with one group per
    /// input channel; output channel `c·multiplier + m` comes from channel `c`, as in Keras.
    private mutating func depthwise(_ name: String, _ x: Value, kernel: Tensor, bias: Tensor?, kernelSize: SpatialSize,
                                    strides: SpatialSize, dilations: SpatialSize, padding: Padding) throws -> String {
        let s = kernel.shape   // [kh, kw, c, m] → the grouped kernel [kh, kw, 1, c·m]
        let grouped = Tensor(shape: [s[0], s[1], 1, s[2] * s[3]], scalars: kernel.scalars)
        return try convolution(name, x, kernel: grouped, bias: bias, groups: s[2],
                               kernelSize: kernelSize, strides: strides, dilations: dilations, padding: padding)
    }

    /// ConvTranspose with pads and output padding that give Keras' output size.
    private mutating func transposedConvolution(_ name: String, _ x: Value, _ layer: Conv2DTranspose, outputShape: [Int]) throws -> String {
        let k = try layer.kernelSize.expanded(to: 2, "kernel_size"), s = try layer.strides.expanded(to: 2, "strides")
        let d = try layer.dilationRate.expanded(to: 2, "dilation_rate")
        // The forward convolution this layer transposes, from the output size back to the input.
        let outSize = Array(outputShape.prefix(2))
        let g = try ConvGeometry(batch: 1, inputSize: outSize, inputChannels: 1, outputChannels: 1,
                                 kernelSize: k, strides: s, dilations: d, padding: layer.padding)
        let before = Array(g.padBefore.suffix(2)), after = Array(g.padAfter.suffix(2))
        // ONNX's size is stride·(in − 1) + span − pads + output_padding; the rest is output padding.
        let outputPadding = (0..<2).map { axis -> Int in
            let span = d[axis] * (k[axis] - 1) + 1
            let unpadded = s[axis] * (x.shape[axis] - 1) + span - before[axis] - after[axis]
            return outSize[axis] - unpadded
        }
        let kernel = layer.kernel.value   // [kh, kw, filters, in] → [in, filters, kh, kw]
        let weights = graph.constant("\(name).kernel", permuted(kernel.scalars, shape: kernel.shape, [3, 2, 0, 1]),
                                     shape: [kernel.shape[3], kernel.shape[2], k[0], k[1]])
        var inputs = [channelsFirst(x), weights]
        if let bias = layer.parameter("bias")?.value { inputs.append(graph.constant("\(name).bias", bias.scalars, shape: bias.shape)) }
        return graph.node("ConvTranspose", inputs, [
            "kernel_shape": .ints(k), "strides": .ints(s), "dilations": .ints(d),
            "pads": .ints(before + after), "output_padding": .ints(outputPadding),
        ], name: name)
    }

    /// `function` applied to `v`. Element-wise functions keep the layout; softmax is over the
    /// channels, the last axis, so it works on the channels-last value.
    private mutating func activated(_ function: ActivationFunction, _ v: Value, name: String) -> Value {
        var result = v
        if function == .softmax {
            result.name = graph.node("Softmax", [channelsLast(v)], ["axis": .int(-1)], name: name)
            result.layout = .channelsLast
        } else {
            result.name = elementwise(function, v.name, name: name)
        }
        return result
    }

    private mutating func elementwise(_ function: ActivationFunction, _ input: String, name: String) -> String {
        switch function {
        case .linear, .softmax: return input
        case .relu: return graph.node("Relu", [input], name: name)
        case .sigmoid: return graph.node("Sigmoid", [input], name: name)
        case .tanh: return graph.node("Tanh", [input], name: name)
        case .leakyRelu: return graph.node("LeakyRelu", [input], ["alpha": .float(ActivationFunction.leakySlope)], name: name)
        case .gelu:
            // Gelu is an operator from opset 20 on; at 17 it is x·(1 + erf(x/√2))/2.
            let scaled = graph.node("Mul", [input, graph.constant("\(name).inv_sqrt2", [Float(0.5).squareRoot()], shape: [])], name: name)
            let erf = graph.node("Erf", [scaled], name: name)
            let onePlus = graph.node("Add", [erf, graph.constant("\(name).one", [1], shape: [])], name: name)
            let half = graph.node("Mul", [input, graph.constant("\(name).half", [0.5], shape: [])], name: name)
            return graph.node("Mul", [half, onePlus], name: name)
        }
    }
}
