/// Max or average pooling over 1–3 spatial axes (Keras' MaxPooling1D/2D/3D and
/// AveragePooling1D/2D/3D). Strides default to the pool size.
open class PoolingLayer: Layer {
    public enum Mode: Sendable { case max, average }
    public let rank: Int, mode: Mode
    public let poolSize: SpatialSize, strides: SpatialSize?, padding: Padding
    private var geometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(rank: Int, mode: Mode, poolSize: SpatialSize = 2, strides: SpatialSize? = nil,
                padding: Padding = .valid, name: String? = nil) {
        self.rank = rank; self.mode = mode; self.poolSize = poolSize; self.strides = strides; self.padding = padding
        super.init(name: name)
    }

    open override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == rank + 1, "expects input of rank \(rank + 1) (spatial…, channels), got \(kerasShape(shape))")
        if case .explicit = padding { throw ConvKitError("padding must be 'valid' or 'same'") }
        let pool = try poolSize.expanded(to: rank, "pool_size")
        let g = try ConvGeometry(batch: 1, inputSize: Array(shape.prefix(rank)), inputChannels: shape[rank],
                                 outputChannels: shape[rank], kernelSize: pool,
                                 strides: strides?.expanded(to: rank, "strides") ?? pool,
                                 dilations: [Int](repeating: 1, count: rank), padding: padding, groups: shape[rank])
        geometry = g
        return Array(g.outputShape.dropFirst())
    }

    open override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var g = geometry!; g.batch = inputs[0].shape[0]
        switch mode {
        case .max:
            let y = Pooling.maxForward(inputs[0], geometry: g)
            if training { cachedInput = inputs[0]; cachedOutput = y }
            return y
        case .average:
            return Pooling.averageForward(inputs[0], geometry: g)
        }
    }

    open override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var g = geometry!; g.batch = gradOutput.shape[0]
        switch mode {
        case .max: return [Pooling.maxBackward(gradOutput, input: cachedInput, output: cachedOutput, geometry: g)]
        case .average: return [Pooling.averageBackward(gradOutput, geometry: g)]
        }
    }

    /// The geometry of max pooling over a batch of `batch` images; nil for average pooling.
    func maxPoolGeometry(batch: Int) -> ConvGeometry? {
        guard mode == .max, var g = geometry else { return nil }
        g.batch = batch
        return g
    }

    open override var flops: Int {
        guard let g = geometry else { return 0 }
        return g.outputPixels * g.outputChannels * g.kernelTaps
    }

    open override var window: Window? { geometry?.window() }

    open override var configuration: [(String, ConfigurationValue)] {
        [("pool_size", .size(poolSize)), ("strides", .size(strides ?? poolSize)), ("padding", .string(paddingName(padding)))]
    }
}

public final class MaxPooling1D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 1, mode: .max, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

public final class MaxPooling2D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 2, mode: .max, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

public final class MaxPooling3D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 3, mode: .max, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

public final class AveragePooling1D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 1, mode: .average, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

public final class AveragePooling2D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 2, mode: .average, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

public final class AveragePooling3D: PoolingLayer {
    public init(poolSize: SpatialSize = 2, strides: SpatialSize? = nil, padding: Padding = .valid, name: String? = nil) {
        super.init(rank: 3, mode: .average, poolSize: poolSize, strides: strides, padding: padding, name: name)
    }
}

/// Mean or maximum over all spatial axes: `[spatial…, C]` → `[C]`.
open class GlobalPoolingLayer: Layer {
    public let mode: PoolingLayer.Mode
    private var cachedInput = Tensor(zeros: [0]), argmax: [Int] = []

    public init(mode: PoolingLayer.Mode, name: String? = nil) {
        self.mode = mode
        super.init(name: name)
    }

    open override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        try require(inputShapes[0].count >= 2, "expects input (spatial…, channels), got \(kerasShape(inputShapes[0]))")
        return [inputShapes[0].last!]
    }

    open override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0], n = x.shape[0], c = x.shape.last!, pixels = x.count / (n * c)
        var positions = [Int](repeating: 0, count: mode == .max ? n * c : 0)
        // Pixel by pixel over contiguous channel rows, so the inner loop is a vector loop.
        let y = Tensor(shape: [n, c]) { y in
            x.scalars.withUnsafeBufferPointer { xp in
                positions.withUnsafeMutableBufferPointer { position in
                    for b in 0..<n {
                        let image = xp.baseAddress! + b * pixels * c, row = y.baseAddress! + b * c
                        switch mode {
                        case .average:
                            row.initialize(repeating: 0, count: c)
                            for p in 0..<pixels { for ch in 0..<c { row[ch] += image[p * c + ch] } }
                            for ch in 0..<c { row[ch] /= Float(pixels) }
                        case .max:
                            row.initialize(repeating: -.infinity, count: c)
                            for p in 0..<pixels {
                                for ch in 0..<c where image[p * c + ch] > row[ch] {
                                    row[ch] = image[p * c + ch]; position[b * c + ch] = (b * pixels + p) * c + ch
                                }
                            }
                        }
                    }
                }
            }
        }
        if training { cachedInput = x; argmax = positions }
        return y
    }

    open override func backward(_ gradOutput: Tensor) -> [Tensor] {
        let shape = cachedInput.shape, n = shape[0], c = shape.last!, pixels = cachedInput.count / (n * c)
        let dx = Tensor(shape: shape) { dx in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                switch mode {
                case .average:
                    for b in 0..<n {
                        let image = dx.baseAddress! + b * pixels * c, row = dy.baseAddress! + b * c
                        for p in 0..<pixels { for ch in 0..<c { image[p * c + ch] = row[ch] / Float(pixels) } }
                    }
                case .max:
                    dx.initialize(repeating: 0)
                    for (o, i) in argmax.enumerated() { dx[i] += dy[o] }
                }
            }
        }
        return [dx]
    }

    open override var flops: Int { inputShapes.first?.reduce(1, *) ?? 0 }
    open override var mixesSpatialAxes: Bool { true }
}

public final class GlobalAveragePooling2D: GlobalPoolingLayer {
    public init(name: String? = nil) { super.init(mode: .average, name: name) }
}

public final class GlobalMaxPooling2D: GlobalPoolingLayer {
    public init(name: String? = nil) { super.init(mode: .max, name: name) }
}
