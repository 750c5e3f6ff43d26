/// Keras' Add: the element-wise sum of two or more inputs of one shape (residual connections).
public final class Add: Layer {
    public override var arity: Int? { nil }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        try require(Set(inputShapes).count == 1,
                    "inputs must have one shape, got \(inputShapes.map(kerasShape).joined(separator: ", "))")
        return inputShapes[0]
    }
    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        // a + b into a new tensor, then in place: no copy of the first input.
        var sum = inputs[0] + inputs[1]
        for x in inputs.dropFirst(2) { sum += x }
        return sum
    }
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [Tensor](repeating: gradOutput, count: inputShapes.count)
    }
    public override var flops: Int { (inputShapes.first?.reduce(1, *) ?? 0) * (inputShapes.count - 1) }
}

/// Keras' Concatenate along `axis`, counted as Keras does with the batch axis as 0:
/// `axis: 1` is the first axis of an example, −1 (the default) the last.
public final class Concatenate: Layer {
    public let axis: Int
    private var resolvedAxis = 0

    public init(axis: Int = -1, name: String? = nil) { self.axis = axis; super.init(name: name) }
    public override var arity: Int? { nil }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let rank = inputShapes[0].count
        let a = axis < 0 ? rank + axis : axis - 1
        try require((0..<rank).contains(a), "axis \(axis) is not an axis of the examples (1…\(rank), or −\(rank)…−1)")
        for s in inputShapes {
            var other = s; other[a] = inputShapes[0][a]
            try require(s.count == rank && other == inputShapes[0],
                        "inputs must match except on axis \(axis), got \(inputShapes.map(kerasShape).joined(separator: ", "))")
        }
        resolvedAxis = a
        var out = inputShapes[0]
        out[a] = inputShapes.reduce(0) { $0 + $1[a] }
        return out
    }

    /// Rows before the axis (batch included) and the contiguous run each input contributes.
    private func runs(batch: Int) -> (outer: Int, widths: [Int]) {
        let inner = inputShapes[0].suffix(from: resolvedAxis + 1).reduce(1, *)
        return (batch * inputShapes[0].prefix(resolvedAxis).reduce(1, *), inputShapes.map { $0[resolvedAxis] * inner })
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let (outer, widths) = runs(batch: inputs[0].shape[0])
        var out = [Float]()
        out.reserveCapacity(outer * widths.reduce(0, +))
        for r in 0..<outer {
            for (x, w) in zip(inputs, widths) { out.append(contentsOf: x.scalars[(r * w)..<((r + 1) * w)]) }
        }
        return Tensor(shape: [inputs[0].shape[0]] + outputShape, scalars: out)
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        let batch = gradOutput.shape[0]
        let (outer, widths) = runs(batch: batch)
        let total = widths.reduce(0, +)
        var start = 0
        return zip(inputShapes, widths).map { shape, w in
            var g = [Float]()
            g.reserveCapacity(outer * w)
            for r in 0..<outer { g.append(contentsOf: gradOutput.scalars[(r * total + start)..<(r * total + start + w)]) }
            start += w
            return Tensor(shape: [batch] + shape, scalars: g)
        }
    }

    public override var configuration: [(String, ConfigurationValue)] { [("axis", .int(axis))] }
}
