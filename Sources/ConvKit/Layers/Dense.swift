/// Keras' Dense: `y = activation(x·kernel + bias)` on the last axis; kernel `[in, units]`.
public final class Dense: Layer {
    public let units: Int, activation: ActivationFunction, useBias: Bool
    public let kernelInitializer: any Initializer, biasInitializer: any Initializer
    private var cachedInput = Tensor(zeros: [0]), cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(units: Int, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.units = units; self.activation = activation; self.useBias = useBias
        self.kernelInitializer = kernelInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var kernel: Parameter { parameter("kernel")! }
    public var bias: Parameter? { parameter("bias") }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(!shape.isEmpty && shape.last! > 0, "expects input with a feature axis, got \(kerasShape(shape))")
        try require(units >= 1, "units must be positive, got \(units)")
        try addParameter("kernel", shape: [shape.last!, units], initializer: kernelInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [units], initializer: biasInitializer, generator: &generator) }
        return shape.dropLast() + [units]
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0], inFeatures = x.shape.last!, rows = x.count / inFeatures
        let z = Tensor(shape: x.shape.dropLast() + [units]) { c in
            if let bias {
                bias.value.scalars.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (c.baseAddress! + r * units).update(from: b.baseAddress!, count: units) }
                }
            }
            x.scalars.withUnsafeBufferPointer { a in
                kernel.value.scalars.withUnsafeBufferPointer { w in
                    GEMM.multiply(m: rows, n: units, k: inFeatures, a: a.baseAddress!, lda: inFeatures,
                                  b: w.baseAddress!, ldb: units, beta: useBias ? 1 : 0, c: c.baseAddress!, ldc: units)
                }
            }
        }
        let y = activation.apply(z)
        if training { cachedInput = x; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor, context: BackwardContext) -> [Tensor] {
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        let inFeatures = cachedInput.shape.last!, rows = cachedInput.count / inFeatures
        let dx = !context.needsInputGradient ? Tensor(zeros: [0]) : Tensor(shape: cachedInput.shape) { d in
            dz.scalars.withUnsafeBufferPointer { dzp in
                kernel.value.scalars.withUnsafeBufferPointer { w in
                    GEMM.multiply(transposeB: true, m: rows, n: inFeatures, k: units, a: dzp.baseAddress!, lda: units,
                                  b: w.baseAddress!, ldb: units, c: d.baseAddress!, ldc: inFeatures)
                }
            }
        }
        // dW = xᵀ·dz, or the optimizer's step w ← keep·w − rate·xᵀ·dz in the same product: no
        // gradient to zero, write and read back (after dx above, which needs the old w).
        func kernelProduct(alpha: Float, beta: Float, into w: UnsafeMutablePointer<Float>) {
            cachedInput.scalars.withUnsafeBufferPointer { x in
                dz.scalars.withUnsafeBufferPointer { dzp in
                    GEMM.multiply(transposeA: true, m: inFeatures, n: units, k: rows, alpha: alpha, a: x.baseAddress!, lda: inFeatures,
                                  b: dzp.baseAddress!, ldb: units, beta: beta, c: w, ldc: units)
                }
            }
        }
        if let step = context.step(for: kernel, of: self) {
            kernel.value.scalars.withUnsafeMutableBufferPointer { kernelProduct(alpha: -step.rate, beta: step.keep, into: $0.baseAddress!) }
        } else if updates(kernel) {
            kernel.gradient = Tensor(shape: kernel.value.shape) { kernelProduct(alpha: 1, beta: 0, into: $0.baseAddress!) }
        }
        if let bias, updates(bias) {
            // Column sums of dz in one pass (per-worker partials): a convolution's per-image sums
            // (`Convolution.backwardBias`) would make each of the rows an image of its own.
            let sums = dz.scalars.withUnsafeBufferPointer { ChannelArithmetic.sums($0.baseAddress!, times: nil, rows: rows, channels: units) }
            bias.gradient = Tensor(shape: [units], scalars: sums.sum.map(Float.init))
        }
        return [dx]
    }

    public override var flops: Int {
        guard let shape = inputShapes.first else { return 0 }
        let rows = shape.dropLast().reduce(1, *)
        return rows * units * (2 * shape.last! + (useBias ? 1 : 0) + activation.flopsPerElement)
    }

    /// On a flat vector every unit sees the whole input; on `[…, features]` it acts per position.
    public override var mixesSpatialAxes: Bool { inputShapes.first?.count == 1 }

    public override var configuration: [(String, ConfigurationValue)] {
        [("units", .int(units)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("kernel_initializer", .string(kernelInitializer.name)), ("bias_initializer", .string(biasInitializer.name))]
    }
}
