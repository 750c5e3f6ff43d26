/// A fixed matrix S `[rows, columns]` whose rows span a parameter's gradients: g = Sᵀ·h, with
/// g `[columns, width]` and coordinates h `[rows, width]`. An LC-block's frozen spatial
/// filters are such a basis for its combination kernel C (dC = Sᵀ·dW). Holds S·Sᵀ too.
final class GradientBasis {
    let matrix: [Float], rows: Int, columns: Int
    /// S·Sᵀ, `[rows, rows]`.
    let gram: [Float]

    init(_ s: Tensor, rows: Int) {
        precondition(rows > 0 && s.count % rows == 0, "GradientBasis: \(s.count) values do not form \(rows) rows")
        matrix = s.scalars; self.rows = rows; columns = s.count / rows
        var gram = [Float](repeating: 0, count: rows * rows)
        GEMM.multiply(matrix, matrix, transposingB: true, into: &gram, m: rows, n: rows, k: columns)
        self.gram = gram
    }
}

/// SGD's path for a parameter whose gradients lie in a fixed basis S, kept in S's span
/// instead of in the parameter's own space.
///
/// SGD's update is linear: decay scales the weights, momentum adds scaled gradients. So from
/// origins C₀ (the weights) and V₀ (the velocity) where the trajectory starts, every later
/// point is `x·C₀ + y·V₀ + Sᵀ·M` for two numbers and a `[rows, width]` matrix M. A step costs
/// element-wise work on M, where the dense update touches `columns × width` values and needs
/// the product Sᵀ·h first. An LC-block also needs W = S·C for its convolution each step;
/// here that is `x·S·C₀ + y·S·V₀ + (S·Sᵀ)·M`, a `rows × rows × width` product in place of a
/// `rows × columns × width` one: at E = 128, columns is 128 × filters. The weights and the
/// velocity themselves are rebuilt only when read (a checkpoint, a callback, saving).
final class SubspaceTrajectory: DeferredParameterValue {
    /// `x·C₀ + y·V₀ + Sᵀ·M`.
    struct Point {
        var x: Float, y: Float, m: [Float]

        func scaled(by s: Float) -> Point { Point(x: s * x, y: s * y, m: m.map { s * $0 }) }
        static func + (a: Point, b: Point) -> Point {
            Point(x: a.x + b.x, y: a.y + b.y, m: zip(a.m, b.m).map { $0 + $1 })
        }
    }

    /// What a checkpoint keeps of a trajectory, so that a resumed run goes on with the same
    /// arithmetic as the uninterrupted one.
    struct State {
        var weightsOrigin: [Float], velocityOrigin: [Float], weights: Point, velocity: Point

        static let slots = ["trajectory_weights_origin", "trajectory_velocity_origin", "trajectory_weights", "trajectory_velocity"]

        /// As optimizer slots (`slots`, in order): the origins, then each point as `[x, y, M…]`.
        var tensors: [Tensor] {
            [weightsOrigin, velocityOrigin, [weights.x, weights.y] + weights.m, [velocity.x, velocity.y] + velocity.m]
                .map { Tensor(shape: [$0.count], scalars: $0) }
        }

        /// From the slots of one parameter; nil when one is missing or a point is too short.
        init?(slots: [String: [Float]]) {
            let values = Self.slots.compactMap { slots[$0] }
            guard values.count == 4, values[2].count >= 2, values[2].count == values[3].count else { return nil }
            weightsOrigin = values[0]; velocityOrigin = values[1]
            weights = Point(x: values[2][0], y: values[2][1], m: Array(values[2].dropFirst(2)))
            velocity = Point(x: values[3][0], y: values[3][1], m: Array(values[3].dropFirst(2)))
        }

        init(weightsOrigin: [Float], velocityOrigin: [Float], weights: Point, velocity: Point) {
            self.weightsOrigin = weightsOrigin; self.velocityOrigin = velocityOrigin; self.weights = weights; self.velocity = velocity
        }
    }

    let basis: GradientBasis
    let shape: [Int], width: Int
    /// The parameter's `version` the weights here continue from: a write to the parameter
    /// since then ends the trajectory.
    let startVersion: Int
    private let origins: [[Float]], images: [[Float]]
    private(set) var weights: Point, velocity: Point

    /// Starts at `value` (`[basis.columns, width]` as a matrix) with `velocity` (nil: zero).
    convenience init(basis: GradientBasis, value: Tensor, velocity: [Float]?, version: Int) {
        let none = [Float](repeating: 0, count: basis.rows * value.count / basis.columns)
        self.init(basis: basis, shape: value.shape, version: version, state: State(
            weightsOrigin: value.scalars, velocityOrigin: velocity ?? [Float](repeating: 0, count: value.count),
            weights: Point(x: 1, y: 0, m: none), velocity: Point(x: 0, y: 1, m: none)))!
    }

    /// Goes on from a checkpoint's `state`; nil when it does not fit this basis and shape.
    init?(basis: GradientBasis, shape: [Int], version: Int, state: State) {
        let count = shape.reduce(1, *), width = count / basis.columns
        guard count == width * basis.columns, state.weightsOrigin.count == count, state.velocityOrigin.count == count,
              state.weights.m.count == basis.rows * width, state.velocity.m.count == basis.rows * width else { return nil }
        self.basis = basis; self.shape = shape; self.width = width; startVersion = version
        origins = [state.weightsOrigin, state.velocityOrigin]
        images = origins.map { origin in
            var image = [Float](repeating: 0, count: basis.rows * width)
            if origin.contains(where: { $0 != 0 }) {
                GEMM.multiply(basis.matrix, origin, into: &image, m: basis.rows, n: width, k: basis.columns)
            }
            return image
        }
        weights = state.weights; velocity = state.velocity
    }

    var state: State { State(weightsOrigin: origins[0], velocityOrigin: origins[1], weights: weights, velocity: velocity) }

    /// One SGD step with coordinates h of the gradient (g = Sᵀ·h), in the order of `SGD.apply`:
    /// decoupled decay, coupled decay added to the gradient, then momentum (Keras' form).
    /// `keep` scales the weights first (decoupled decay: `WeightDecay.keep(rate:)`).
    func step(coordinates h: [Float], rate: Float, momentum: Float, nesterov: Bool, coupledDecay: Float, keep: Float) {
        if keep != 1 { weights = weights.scaled(by: keep) }
        let gradient = weights.scaled(by: coupledDecay) + Point(x: 0, y: 0, m: h)
        if momentum == 0 {
            weights = weights + gradient.scaled(by: -rate)
            return
        }
        velocity = velocity.scaled(by: momentum) + gradient.scaled(by: -rate)
        weights = weights + (nesterov ? velocity.scaled(by: momentum) + gradient.scaled(by: -rate) : velocity)
    }

    /// `x·C₀ + y·V₀ + Sᵀ·M`.
    private func rebuild(_ p: Point) -> [Float] {
        var out = zip(origins[0], origins[1]).map { p.x * $0 + p.y * $1 }
        GEMM.multiply(basis.matrix, p.m, transposingA: true, into: &out, m: basis.columns, n: width, k: basis.rows, beta: 1)
        return out
    }

    func currentValue() -> Tensor { Tensor(shape: shape, scalars: rebuild(weights)) }
    func currentVelocity() -> [Float] { rebuild(velocity) }

    /// S·C = x·S·C₀ + y·S·V₀ + (S·Sᵀ)·M, `[rows, width]`.
    func image(under basis: GradientBasis) -> Tensor? {
        guard basis === self.basis else { return nil }
        var out = zip(images[0], images[1]).map { weights.x * $0 + weights.y * $1 }
        GEMM.multiply(basis.gram, weights.m, into: &out, m: basis.rows, n: width, k: basis.rows, beta: 1)
        return Tensor(shape: [basis.rows, width], scalars: out)
    }
}
