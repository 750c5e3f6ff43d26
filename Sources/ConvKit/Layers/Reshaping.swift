/// Keras' Flatten: `[a, b, c]` → `[a·b·c]` per example.
public final class Flatten: Layer {
    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        [inputShapes[0].reduce(1, *)]
    }
    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        inputs[0].reshaped(to: [inputs[0].shape[0], outputShape[0]])
    }
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [gradOutput.reshaped(to: [gradOutput.shape[0]] + inputShapes[0])]
    }
    public override var mixesSpatialAxes: Bool { false }
}

/// Keras' Reshape to `targetShape` (no batch axis; one entry may be −1, inferred).
public final class Reshape: Layer {
    public let targetShape: [Int]

    public init(_ targetShape: [Int], name: String? = nil) {
        self.targetShape = targetShape
        super.init(name: name)
    }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let total = inputShapes[0].reduce(1, *)
        let unknown = targetShape.filter { $0 == -1 }.count
        try require(unknown <= 1 && targetShape.allSatisfy({ $0 > 0 || $0 == -1 }),
                    "target_shape \(targetShape) may hold positive sizes and at most one -1")
        let known = targetShape.filter { $0 > 0 }.reduce(1, *)
        var shape = targetShape
        if let i = shape.firstIndex(of: -1) {
            try require(total % known == 0, "cannot reshape \(kerasShape(inputShapes[0])) to \(targetShape)")
            shape[i] = total / known
        }
        try require(shape.reduce(1, *) == total,
                    "cannot reshape \(kerasShape(inputShapes[0])) (\(total) values) to \(targetShape)")
        return shape
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        inputs[0].reshaped(to: [inputs[0].shape[0]] + outputShape)
    }
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [gradOutput.reshaped(to: [gradOutput.shape[0]] + inputShapes[0])]
    }
    public override var configuration: [(String, ConfigurationValue)] { [("target_shape", .ints(targetShape))] }
}

/// Amounts for the four sides of an image: one number for all, `[vertical, horizontal]`,
/// or `[top, bottom, left, right]` (Keras' `((top, bottom), (left, right))`).
public struct Margins: Equatable, Sendable {
    public var top, bottom, left, right: Int
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
    var isValid: Bool { min(top, bottom, left, right) >= 0 }
    public init(_ values: [Int]) throws {
        switch values.count {
        case 1: self.init(top: values[0], bottom: values[0], left: values[0], right: values[0])
        case 2: self.init(top: values[0], bottom: values[0], left: values[1], right: values[1])
        case 4: self.init(top: values[0], bottom: values[1], left: values[2], right: values[3])
        default: throw ConvKitError("expected 1, 2 or 4 amounts (top, bottom, left, right), got \(values.count)")
        }
        if values.contains(where: { $0 < 0 }) { throw ConvKitError("amounts must not be negative, got \(values)") }
    }
    var description: String { "((\(top), \(bottom)), (\(left), \(right)))" }
}

/// Copies `source` `[n, h, w, c]` into a zero tensor of `shape`, so that
/// `out[y, x] = source[y + dy, x + dx]` wherever that lies inside `source`.
func shiftedCopy(_ source: Tensor, to shape: [Int], dy: Int, dx: Int) -> Tensor {
    var out = Tensor(zeros: shape)
    let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
    let (sh, sw) = (source.shape[1], source.shape[2])
    for b in 0..<n {
        for y in 0..<h where (0..<sh).contains(y + dy) {
            for x in 0..<w where (0..<sw).contains(x + dx) {
                let src = ((b * sh + y + dy) * sw + x + dx) * c, dst = ((b * h + y) * w + x) * c
                for ch in 0..<c { out.scalars[dst + ch] = source.scalars[src + ch] }
            }
        }
    }
    return out
}

/// Keras' ZeroPadding2D: adds rows and columns of zeros around each image.
public final class ZeroPadding2D: Layer {
    public let margins: Margins
    public init(padding: Margins, name: String? = nil) { margins = padding; super.init(name: name) }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let s = inputShapes[0]
        try require(s.count == 3, "expects input (height, width, channels), got \(kerasShape(s))")
        try require(margins.isValid, "padding \(margins.description) must not be negative")
        return [s[0] + margins.top + margins.bottom, s[1] + margins.left + margins.right, s[2]]
    }
    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        shiftedCopy(inputs[0], to: [inputs[0].shape[0]] + outputShape, dy: -margins.top, dx: -margins.left)
    }
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [shiftedCopy(gradOutput, to: [gradOutput.shape[0]] + inputShapes[0], dy: margins.top, dx: margins.left)]
    }
    public override var configuration: [(String, ConfigurationValue)] { [("padding", .ints([margins.top, margins.bottom, margins.left, margins.right]))] }
}

/// Keras' Cropping2D: removes rows and columns at the borders of each image.
public final class Cropping2D: Layer {
    public let margins: Margins
    public init(cropping: Margins, name: String? = nil) { margins = cropping; super.init(name: name) }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let s = inputShapes[0]
        try require(s.count == 3, "expects input (height, width, channels), got \(kerasShape(s))")
        try require(margins.isValid, "cropping \(margins.description) must not be negative")
        let h = s[0] - margins.top - margins.bottom, w = s[1] - margins.left - margins.right
        try require(h > 0 && w > 0, "cropping \(margins.description) leaves nothing of \(kerasShape(s))")
        return [h, w, s[2]]
    }
    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        shiftedCopy(inputs[0], to: [inputs[0].shape[0]] + outputShape, dy: margins.top, dx: margins.left)
    }
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [shiftedCopy(gradOutput, to: [gradOutput.shape[0]] + inputShapes[0], dy: -margins.top, dx: -margins.left)]
    }
    public override var configuration: [(String, ConfigurationValue)] { [("cropping", .ints([margins.top, margins.bottom, margins.left, margins.right]))] }
}
