import Foundation

/// A network of layers: a linear stack (`Model(sequential:)`) or a graph built with the
/// functional API (`Model(input:output:)`), with one input and one output.
///
/// The model names unnamed layers the Keras way (`conv2d`, `conv2d_1`, …), builds every layer
/// from one seed, and exposes every weight under a dotted key (`conv2d.kernel`) — the one map
/// that freezing, optimizers and saving use.
public final class Model {
    public let name: String
    public let input: Node
    public let output: Node
    /// Layer nodes in an order where every node comes after its inputs.
    public let nodes: [Node]
    public let isSequential: Bool
    public let seed: UInt64
    /// The batch size of the last training forward pass, whose caches `backward` uses.
    private var trainingBatch: Int?
    /// The nodes the last training forward pass ran inside a BatchNormalization, a ReLU or the
    /// max pooling after it, the last of each chain, and that BatchNormalization's node
    /// (`TrainingFusion.swift`).
    private var nodesRunInsideBatchNorm = [ObjectIdentifier: Node]()
    /// For a ReLU run inside a BatchNorm at a residual block's end: the Add's other input.
    private var shortcutsOfFusedReLUs = [ObjectIdentifier: Node]()
    /// Set by `compile`: what `fit` and `evaluate` use.
    public internal(set) var optimizer: (any Optimizer)?
    public internal(set) var loss: (any Loss)?

    public var inputShape: [Int] { input.shape }
    public var outputShape: [Int] { output.shape }
    public var layers: [Layer] { nodes.map { $0.layer! } }

    /// A functional model from `input` to `output`.
    public convenience init(input: Node, output: Node, name: String = "functional", seed: UInt64 = 0) throws {
        try self.init(input: input, output: output, name: name, seed: seed, isSequential: false)
    }

    /// A linear stack of layers on examples of `inputShape` (no batch axis).
    public convenience init(sequential layers: [Layer], inputShape: [Int], name: String = "sequential", seed: UInt64 = 0) throws {
        try Model.assignNames(layers)
        let input = Input(shape: inputShape)
        var node = input
        for (i, layer) in layers.enumerated() {
            do { node = try layer([node]) } catch let error as ConvKitError {
                throw ConvKitError("layer \(i + 1) of \(layers.count), \(error.description)")
            }
        }
        try self.init(input: input, output: node, name: name, seed: seed, isSequential: true)
    }

    private init(input: Node, output: Node, name: String, seed: UInt64, isSequential: Bool) throws {
        guard input.layer == nil else { throw ConvKitError("the model input must come from Input(shape:)") }
        self.name = name; self.input = input; self.output = output; self.seed = seed
        self.isSequential = isSequential

        // Depth-first from the output: only nodes the output depends on, inputs first.
        var order = [Node](), visited = Set<ObjectIdentifier>(), reachesInput = false
        func visit(_ node: Node) {
            guard visited.insert(ObjectIdentifier(node)).inserted else { return }
            if node.layer == nil { reachesInput = reachesInput || node === input; return }
            node.inputs.forEach(visit)
            order.append(node)
        }
        visit(output)
        guard reachesInput || output === input else { throw ConvKitError("the output does not depend on the model input") }
        nodes = order

        var seenLayers = Set<ObjectIdentifier>()
        for node in order where !seenLayers.insert(ObjectIdentifier(node.layer!)).inserted {
            throw ConvKitError("\(node.layer!.describe) is used twice; shared layers are not supported")
        }
        try Model.assignNames(order.map { $0.layer! })

        // Build every layer from the model seed, each from its own split stream.
        var generator = SeededGenerator(seed: seed)
        for node in order {
            var layerGenerator = generator.split()
            try node.layer!.setUp(inputShapes: node.inputs.map(\.shape), generator: &layerGenerator)
        }
    }

    /// Keras-style names for unnamed layers: the snake-cased type, then `_1`, `_2`, ….
    static func assignNames(_ layers: [Layer]) throws {
        var taken = Set<String>()
        for layer in layers {
            if let name = layer.name {
                guard taken.insert(name).inserted else { throw ConvKitError("two layers are named '\(name)'") }
            }
        }
        var counters = [String: Int]()
        for layer in layers where layer.name == nil {
            let base = snakeCase(layer.typeName)
            var candidate = base
            while taken.contains(candidate) {
                let n = counters[base, default: 0] + 1
                counters[base] = n
                candidate = "\(base)_\(n)"
            }
            layer.name = candidate
            taken.insert(candidate)
        }
    }

    // MARK: Parameters

    /// Every weight, in layer order, under its dotted key (`layer.parameter`).
    public var parameters: [(key: String, parameter: Parameter, layer: Layer)] {
        layers.flatMap { layer in layer.parameters.map { ("\(layer.name!).\($0.name)", $0, layer) } }
    }

    public func parameter(_ key: String) -> Parameter? {
        parameters.first { $0.key == key }?.parameter
    }

    public func layer(named name: String) -> Layer? {
        layers.first { $0.name == name }
    }

    /// The parameters an optimizer updates.
    public var trainableParameters: [(key: String, parameter: Parameter)] {
        parameters.filter { $0.layer.updates($0.parameter) }.map { ($0.key, $0.parameter) }
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
    public var trainableParameterCount: Int { layers.reduce(0) { $0 + $1.trainableParameterCount } }

    // MARK: Forward and backward

    /// Runs the model on a batch `[batch] + inputShape`. With `training`, layers use batch
    /// statistics and dropout, and cache what `backward` needs.
    public func forward(_ x: Tensor, training: Bool = false) throws -> Tensor {
        try forward(x, training: training, observe: nil)
    }

    /// `forward`, handing each layer's output to `observe` as it is computed (for activation
    /// statistics and feature maps).
    public func forward(_ x: Tensor, training: Bool, observe: ((Layer, Tensor) -> Void)?) throws -> Tensor {
        MemoryReuse.enable()
        guard Array(x.shape.dropFirst()) == inputShape, x.rank == inputShape.count + 1 else {
            throw ConvKitError("model '\(name)' expects input \(kerasShape(inputShape)), got batch of shape \(x.shape)")
        }
        var values = [ObjectIdentifier(input): x]
        // Inference fuses conv → BatchNorm → ReLU chains, and training BatchNorm → ReLU pairs,
        // unless every layer's output is wanted.
        let fused = training || observe != nil ? [:] : fusedConvolutions()
        let reluAfter = training && observe == nil ? batchNormReLUPairs() : [:]
        let residualEnds = training && observe == nil ? residualEnds() : [:]
        let poolAfter = maxPoolsAfterBatchNormReLU(reluAfter)
        let convolutionsWithSums = training && observe == nil ? convolutionsBeforeBatchNorm() : []
        // The per-channel sums each of those convolutions took of its output, keyed by its node.
        var channelSums = [ObjectIdentifier: ChannelSums]()
        func sums(into batchNorm: Node) -> ChannelSums? { channelSums[ObjectIdentifier(batchNorm.inputs[0])] }
        // A fused residual end's BatchNorm runs at its Add, once the shortcut is there too.
        var absorbed = Set(residualEnds.values.map { ObjectIdentifier($0.batchNorm) })
        if training { nodesRunInsideBatchNorm = [:]; shortcutsOfFusedReLUs = [:] }
        for node in nodes where !absorbed.contains(ObjectIdentifier(node)) {
            if let end = residualEnds[ObjectIdentifier(node)], let batchNorm = end.batchNorm.layer as? BatchNormalization {
                values[ObjectIdentifier(end.relu)] = batchNorm.forwardWithReLU(values[ObjectIdentifier(end.batchNorm.inputs[0])]!,
                                                                               adding: values[ObjectIdentifier(end.shortcut)]!,
                                                                               sums: sums(into: end.batchNorm))
                absorbed.insert(ObjectIdentifier(end.relu))
                nodesRunInsideBatchNorm[ObjectIdentifier(end.relu)] = end.batchNorm
                shortcutsOfFusedReLUs[ObjectIdentifier(end.relu)] = end.shortcut
                continue
            }
            if let chain = fused[ObjectIdentifier(node)] {
                values[ObjectIdentifier(chain.output)] = chain.forward(values[ObjectIdentifier(node.inputs[0])]!)
                absorbed.formUnion(chain.absorbed.map(ObjectIdentifier.init))
                continue
            }
            if let relu = reluAfter[ObjectIdentifier(node)], let batchNorm = node.layer as? BatchNormalization,
               let poolNode = poolAfter[ObjectIdentifier(relu)], let pool = (poolNode.layer as? PoolingLayer)?.maxPoolGeometry(batch: x.shape[0]) {
                values[ObjectIdentifier(poolNode)] = batchNorm.forwardWithReLU(values[ObjectIdentifier(node.inputs[0])]!, thenMaxPool: pool,
                                                                               sums: sums(into: node))
                absorbed.formUnion([ObjectIdentifier(relu), ObjectIdentifier(poolNode)])
                nodesRunInsideBatchNorm[ObjectIdentifier(poolNode)] = node
                continue
            }
            if let relu = reluAfter[ObjectIdentifier(node)], let batchNorm = node.layer as? BatchNormalization {
                values[ObjectIdentifier(relu)] = batchNorm.forwardWithReLU(values[ObjectIdentifier(node.inputs[0])]!, sums: sums(into: node))
                absorbed.insert(ObjectIdentifier(relu))
                nodesRunInsideBatchNorm[ObjectIdentifier(relu)] = node
                continue
            }
            if convolutionsWithSums.contains(ObjectIdentifier(node)), let conv = node.layer as? ConvolutionLayer {
                (values[ObjectIdentifier(node)], channelSums[ObjectIdentifier(node)]) = conv.forwardWithChannelSums(values[ObjectIdentifier(node.inputs[0])]!)
                continue
            }
            if let batchNorm = node.layer as? BatchNormalization, let sums = sums(into: node) {
                values[ObjectIdentifier(node)] = batchNorm.forward(values[ObjectIdentifier(node.inputs[0])]!, sums: sums)
                continue
            }
            let y = node.layer!.forward(node.inputs.map { values[ObjectIdentifier($0)]! }, training: training)
            observe?(node.layer!, y)
            values[ObjectIdentifier(node)] = y
        }
        if training { trainingBatch = x.shape[0] }
        return values[ObjectIdentifier(output)]!
    }

    /// Inference on a batch (moving statistics, no dropout). A NaN or infinite input is refused:
    /// its prediction would be garbage that looks like an answer.
    public func predict(_ x: Tensor) throws -> Tensor {
        try x.requireFinite("model '\(name)': prediction inputs")
        return try forward(x, training: false)
    }

    /// Back-propagates the gradient of the loss with respect to the output of the last
    /// `forward(_, training: true)`; fills every parameter gradient and returns the gradient
    /// with respect to the input. With `inputGradient: false` (training, where nobody reads it)
    /// layers skip every input gradient that no parameter needs, and an empty tensor is returned.
    @discardableResult
    public func backward(_ gradOutput: Tensor, inputGradient: Bool = true) throws -> Tensor {
        try backward(gradOutput, inputGradient: inputGradient, observe: nil)
    }

    /// `backward`, handing `observe` the gradient of the loss with respect to each layer's output.
    @discardableResult
    public func backward(_ gradOutput: Tensor, inputGradient: Bool = true, observe: ((Layer, Tensor) -> Void)?) throws -> Tensor {
        try backward(gradOutput, inputGradient: inputGradient, context: BackwardContext(), observe: observe)
    }

    /// The pass itself; each layer gets `context` with its own `needsInputGradient`.
    private func backward(_ gradOutput: Tensor, inputGradient: Bool, context: BackwardContext,
                          observe: ((Layer, Tensor) -> Void)?) throws -> Tensor {
        guard let batch = trainingBatch else {
            throw ConvKitError("model '\(name)': backward needs a forward pass with training: true first")
        }
        guard gradOutput.shape == [batch] + outputShape else {
            throw ConvKitError("model '\(name)': output gradient has shape \(gradOutput.shape), expected \([batch] + outputShape)")
        }
        // The gradient reaching a node is needed when a layer at or before it has parameters to
        // update (or it is the input, when asked for): Flatten(input) → Dense needs no dx.
        var needed: Set<ObjectIdentifier> = inputGradient ? [ObjectIdentifier(input)] : []
        for node in nodes where node.layer!.parameters.contains(where: node.layer!.updates)
            || node.inputs.contains(where: { needed.contains(ObjectIdentifier($0)) }) {
            needed.insert(ObjectIdentifier(node))
        }
        var grads = [ObjectIdentifier(output): gradOutput]
        let convolutionsWithSums = observe == nil ? convolutionsBeforeBatchNorm() : []
        for node in nodes.reversed() {
            guard let g = grads.removeValue(forKey: ObjectIdentifier(node)), let layer = node.layer else { continue }
            observe?(layer, g)
            if let batchNorm = nodesRunInsideBatchNorm[ObjectIdentifier(node)] {
                // The BatchNorm applies the gradients of the ReLU (its only reader) and of the pooling after it.
                var gradient = g
                // A fused residual end's shortcut gets the ReLU's gradient through the Add, gated
                // once here; the BatchNorm then takes the same gated tensor instead of gating it again
                // in each of its two passes.
                if let shortcut = shortcutsOfFusedReLUs[ObjectIdentifier(node)], let layer = batchNorm.layer as? BatchNormalization {
                    gradient = layer.gatedByReLU(g)
                    if needed.contains(ObjectIdentifier(shortcut)) {
                        let key = ObjectIdentifier(shortcut)
                        if grads[key] != nil { grads[key]! += gradient } else { grads[key] = gradient }
                    }
                }
                if needed.contains(ObjectIdentifier(batchNorm)) { grads[ObjectIdentifier(batchNorm)] = gradient }
                continue
            }
            // A convolution feeding this BatchNorm alone, whose own input gradient nobody needs,
            // takes the BatchNorm's input gradient image by image for its weight gradient.
            if observe == nil, let batchNorm = layer as? BatchNormalization, let convNode = node.inputs.first,
               convolutionsWithSums.contains(ObjectIdentifier(convNode)), let conv = convNode.layer as? ConvolutionLayer,
               !convNode.inputs.contains(where: { needed.contains(ObjectIdentifier($0)) }), conv.takesImageGradients(batch: batch) {
                batchNorm.backward(g) { gradient, rows in
                    let rowsPerImage = rows / batch
                    conv.backwardParameters { n, image in gradient.write(rows: n * rowsPerImage..<(n + 1) * rowsPerImage, into: image) }
                }
                continue
            }
            var layerContext = context
            layerContext.needsInputGradient = node.inputs.contains { needed.contains(ObjectIdentifier($0)) }
            for (source, gradient) in zip(node.inputs, layer.backward(g, context: layerContext)) where needed.contains(ObjectIdentifier(source)) {
                let key = ObjectIdentifier(source)
                if grads[key] != nil { grads[key]! += gradient } else { grads[key] = gradient }
            }
        }
        if !inputGradient { return Tensor(zeros: [0]) }
        return grads[ObjectIdentifier(input)] ?? Tensor(zeros: [batch] + inputShape)
    }

    /// `backward(_:inputGradient: false)`, then `optimizer`'s step on every trainable parameter:
    /// one training step after the forward pass. When the step is `w ← keep·w − rate·g` (SGD
    /// without momentum), layers that compute a weight gradient as a matrix product (Dense) make
    /// it in that product and leave that gradient empty; the rest go through `optimizer.apply`.
    public func backward(_ gradOutput: Tensor, applying optimizer: any Optimizer) throws {
        var context = BackwardContext()
        context.foldableStep = optimizer.foldableStep()
        context.optimizerTakesGradientsInBasis = optimizer.takesGradientsInBasis
        defer {
            for layer in layers { for p in layer.parameters { p.gradientInBasis = nil } }   // only this step's optimizer may take them
        }
        _ = try backward(gradOutput, inputGradient: false, context: context, observe: nil)
        let stepped = Set(context.steppedParameters.parameters.map(ObjectIdentifier.init))
        optimizer.apply(to: trainableParameters.filter { !stepped.contains(ObjectIdentifier($0.parameter)) })
    }

    /// The loss of `x` against `targets` in inference mode (moving BatchNorm statistics, no
    /// dropout) and its gradient with respect to `x`, for adversarial examples and saliency.
    /// Parameter gradients are computed too and left in place; moving statistics are untouched.
    public func inputGradient(_ x: Tensor, targets: Tensor, loss: any Loss) throws -> (loss: Float, gradient: Tensor) {
        for layer in layers { layer.behavesAsInference = true }
        defer { for layer in layers { layer.behavesAsInference = false } }
        let predictions = try forward(x, training: true)
        let (value, gradient) = try loss.compute(predictions: predictions, targets: targets)
        return (value, try backward(gradient))
    }
}

/// Keras' `to_snake_case`: `Conv2D` → `conv2d`, `MaxPooling2D` → `max_pooling2d`,
/// `Conv2DTranspose` → `conv2d_transpose`.
public func snakeCase(_ name: String) -> String {
    var s = name.replacingOccurrences(of: "(.)([A-Z][a-z]+)", with: "$1_$2", options: .regularExpression)
    s = s.replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression)
    return s.lowercased()
}
