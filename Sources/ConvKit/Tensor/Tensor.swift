/// A dense, contiguous Float32 array with a shape, stored row-major.
///
/// Image tensors are channels-last: `[batch, width, channels]` (1-D),
/// `[batch, height, width, channels]` (2-D) and `[batch, depth, height, width, channels]` (3-D).
/// `Tensor` is a value type; copies share storage until one of them is written.
public struct Tensor: Equatable, Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor whose every scalar `fill` writes through the buffer it is given: for kernels
    /// that overwrite their whole output, so it is not zeroed first.
    init(shape: [Int], overwrittenBy fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, scalars: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        })
    }

    /// A tensor filled by `generator(i)` for flat index `i`.
    public init(shape: [Int], generator: (Int) -> Float) {
        self.init(shape: shape, scalars: (0..<shape.reduce(1, *)).map(generator))
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    public subscript(flat index: Int) -> Float {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    /// The same scalars under another shape with the same number of elements.
    public func reshaped(to newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Items `range` of the first axis (a slice of the batch).
    public func slice(batch range: Range<Int>) -> Tensor {
        let item = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + shape.dropFirst(),
                      scalars: Array(scalars[(range.lowerBound * item)..<(range.upperBound * item)]))
    }

    /// Items at `indices` of the first axis, in that order.
    public func gather(batch indices: [Int]) -> Tensor {
        let item = shape.dropFirst().reduce(1, *)
        var out = [Float]()
        out.reserveCapacity(indices.count * item)
        for i in indices { out.append(contentsOf: scalars[(i * item)..<((i + 1) * item)]) }
        return Tensor(shape: [indices.count] + shape.dropFirst(), scalars: out)
    }

    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map(transform))
    }

    /// Element-wise sum, on the vector kernels and every core (`ChannelArithmetic.add`).
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "shape mismatch \(a.shape) vs \(b.shape)")
        guard a.count > 0 else { return a }
        return Tensor(shape: a.shape) { sum in
            a.scalars.withUnsafeBufferPointer { p in
                b.scalars.withUnsafeBufferPointer { q in ChannelArithmetic.add(p.baseAddress!, q.baseAddress!, into: sum.baseAddress!, count: sum.count) }
            }
        }
    }

    public static func += (a: inout Tensor, b: Tensor) {
        precondition(a.shape == b.shape, "shape mismatch \(a.shape) vs \(b.shape)")
        a.scalars.withUnsafeMutableBufferPointer { p in
            b.scalars.withUnsafeBufferPointer { q in
                guard let sum = p.baseAddress, let other = q.baseAddress else { return }
                ChannelArithmetic.add(sum, other, into: sum, count: p.count)
            }
        }
    }

    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }

    public func sum() -> Float { scalars.reduce(0, +) }

    /// The first NaN or infinite value, with its index along every axis; nil when all are finite.
    public var firstNonFinite: (offset: Int, index: [Int], value: Float)? {
        let finite = scalars.withUnsafeBufferPointer { $0.baseAddress.map { ChannelArithmetic.allFinite($0, count: scalars.count) } ?? true }
        guard !finite, let offset = scalars.firstIndex(where: { !$0.isFinite }) else { return nil }
        var index = [Int](repeating: 0, count: shape.count), rest = offset
        for axis in shape.indices.reversed() where shape[axis] > 0 { index[axis] = rest % shape[axis]; rest /= shape[axis] }
        return (offset, index, scalars[offset])
    }

    /// Throws, naming `what` and the first bad value's index, when a value is NaN or infinite.
    public func requireFinite(_ what: @autoclosure () -> String) throws {
        if let bad = firstNonFinite {
            throw ConvKitError("\(what()): value at index \(bad.index) is \(bad.value); inputs must be finite numbers")
        }
    }

    /// Largest absolute difference to `other`, for tests and checks; NaN where any difference
    /// is NaN (`Swift.max` would drop a NaN that comes second).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shape mismatch \(shape) vs \(other.shape)")
        var largest: Float = 0
        for (a, b) in zip(scalars, other.scalars) {
            let difference = abs(a - b)
            if difference.isNaN { return .nan }
            largest = max(largest, difference)
        }
        return largest
    }

    public var description: String {
        let head = scalars.prefix(8).map { String(format4: $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}

extension String {
    init(format4 value: Float) {
        let scaled = (Double(value) * 10_000).rounded() / 10_000
        self = "\(scaled)"
    }
}
