import CKernels

/// Per-channel Σx and Σx² over a tensor's rows: a BatchNormalization's batch statistics.
struct ChannelSums {
    var sum: [Double]
    var squares: [Double]
}

/// Per-channel arithmetic over channels-last tensors (rows of `channels` values), split into
/// contiguous row ranges across the cores: BatchNormalization's sums and affine maps, and
/// ReLU. The loops are C, one per instruction set (CKernels/channel_template.h); the naive
/// twins are the plain loops in KernelTests.
///
/// Sums are taken in Float over blocks of 16 rows, then in Double per range (or per image,
/// `sumsByImage`), and added in range (image) order, so a given thread count and path always
/// give the same result. Small tensors stay on one thread.
enum ChannelArithmetic {
    private static func forEachRowRange(rows: Int, channels: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        Parallel.forEachChunk(rows, values: rows * channels, body)
    }

    /// Where a ReLU after a BatchNorm passed its gradient (> 0): its output as stored, or that
    /// output recomputed from the BatchNorm's input, x̂·gain + bias, exactly as the forward pass
    /// computed it (one tensor fewer to read back).
    enum ReLUGate {
        case values(UnsafePointer<Float>)
        case normalized(gain: [Float], bias: [Float])

        var values: UnsafePointer<Float>? { if case .values(let p) = self { p } else { nil } }
        var affine: [[Float]] { if case .normalized(let gain, let bias) = self { [gain, bias] } else { [] } }
    }

    /// Per channel: Σa, and Σa·b (or Σa² when `b` is nil); with a `gate`, `a` counts as 0 where
    /// the gate is not > 0 (a ReLU's gradient); with `normalizingB`, b counts as
    /// (b − shift)·scale per channel (a `.normalized` gate needs it).
    static func sums(_ a: UnsafePointer<Float>, times b: UnsafePointer<Float>?, normalizingB: (shift: [Float], scale: [Float])? = nil,
                     gate: ReLUGate? = nil, rows: Int, channels c: Int,
                     isa: InstructionSet = .active) -> (sum: [Double], products: [Double]) {
        precondition(gate?.affine.isEmpty ?? true || normalizingB != nil, "a computed gate needs the normalisation")
        let workers = Parallel.chunkCount(rows, values: rows * c)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * workers)
        partial.initialize(repeating: 0, count: 2 * c * workers)
        defer { partial.deallocate() }
        let (ap, bp, out, code) = (SharedPointer(a), SharedPointer(b ?? a), SharedPointer(partial), isa.code)
        let gp = gate?.values.map { SharedPointer($0) }
        let computed = !(gate?.affine.isEmpty ?? true)
        withChannelConstants((normalizingB.map { [$0.shift, $0.scale] } ?? [[Float](repeating: 0, count: c)]) + (gate?.affine ?? [])) { k in
            let normalizes = normalizingB != nil
            forEachRowRange(rows: rows, channels: c) { range, worker in
                let (s, offset) = (out.base + 2 * c * worker, range.lowerBound * c)
                let (shift, scale) = normalizes ? (UnsafePointer(k.base), UnsafePointer(k.base + c)) : (nil, nil)
                let (gain, bias) = computed ? (UnsafePointer(k.base + 2 * c), UnsafePointer(k.base + 3 * c)) : (nil, nil)
                convkit_channel_sums(ap.base + offset, bp.base + offset, shift, scale, gp.map { UnsafePointer($0.base + offset) },
                                     gain, bias, Int64(range.count), Int64(c), s, s + c, code)
            }
        }
        return addingPartials(partial, workers: workers, channels: c)
    }

    /// Per channel Σx and Σx² over `images` images of `rowsPerImage` rows each, taken image by
    /// image (`addImageSums`) and added in image order: the same numbers on any thread count,
    /// and the same as a convolution that takes them as it writes each image
    /// (`Convolution.forwardWithChannelSums`).
    static func sumsByImage(_ x: UnsafePointer<Float>, images: Int, rowsPerImage: Int, channels c: Int,
                            isa: InstructionSet = .active) -> ChannelSums {
        let perImage = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * images)
        perImage.initialize(repeating: 0, count: 2 * c * images)
        defer { perImage.deallocate() }
        let (xp, sp) = (SharedPointer(x), SharedPointer(perImage))
        Parallel.forEachChunk(images, values: images * rowsPerImage * c) { range, _ in
            for n in range { addImageSums(of: xp.base, image: n, rowsPerImage: rowsPerImage, channels: c, into: sp.base, isa: isa) }
        }
        return reducingImageSums(perImage, images: images, channels: c)
    }

    /// Adds image `n`'s per-channel Σx and Σx² (image n: rows n·rowsPerImage ..< (n+1)·rowsPerImage)
    /// into `perImage + 2·channels·n`.
    static func addImageSums(of x: UnsafePointer<Float>, image n: Int, rowsPerImage: Int, channels c: Int,
                             into perImage: UnsafeMutablePointer<Double>, isa: InstructionSet) {
        let image = x + n * rowsPerImage * c, sums = perImage + 2 * c * n
        convkit_channel_sums(image, image, nil, nil, nil, nil, nil, Int64(rowsPerImage), Int64(c), sums, sums + c, isa.code)
    }

    /// The per-image sums of `addImageSums`, added in image order.
    static func reducingImageSums(_ perImage: UnsafePointer<Double>, images: Int, channels c: Int) -> ChannelSums {
        let (sum, squares) = addingPartials(perImage, workers: images, channels: c)
        return ChannelSums(sum: sum, squares: squares)
    }

    /// The per-worker (sum, products) partials, `2·channels` doubles each, added in worker order
    /// (so that a given thread count always gives the same result).
    static func addingPartials(_ partial: UnsafePointer<Double>, workers: Int, channels c: Int) -> (sum: [Double], products: [Double]) {
        var sum = [Double](repeating: 0, count: c), products = [Double](repeating: 0, count: c)
        for w in 0..<workers {
            for j in 0..<c { sum[j] += partial[2 * c * w + j]; products[j] += partial[2 * c * w + c + j] }
        }
        return (sum, products)
    }

    /// y = (x − shift)·scale·gain + bias per channel, plus `residual` at the same index when given,
    /// then y = max(y, 0) (NaN kept) with `relu`.
    static func normalize(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, shift: [Float], scale: [Float],
                          gain: [Float], bias: [Float], adding residual: UnsafePointer<Float>? = nil, relu: Bool = false,
                          rows: Int, channels c: Int, isa: InstructionSet = .active) {
        let (xp, yp, rp, code) = (SharedPointer(x), SharedPointer(y), residual.map { SharedPointer($0) }, isa.code)
        withChannelConstants([shift, scale, gain, bias]) { k in
            forEachRowRange(rows: rows, channels: c) { range, _ in
                let offset = range.lowerBound * c
                convkit_channel_normalize(xp.base + offset, yp.base + offset, k.base, k.base + c, k.base + 2 * c, k.base + 3 * c,
                                          rp.map { UnsafePointer($0.base + offset) }, Int64(range.count), Int64(c), relu ? 1 : 0, code)
            }
        }
    }

    /// BatchNormalization's input gradient: dx = scale·(dy − meanDy − x̂·meanDyXhat) with
    /// x̂ = (x − shift)·inverseStd, and dy counted as 0 where the gate is not > 0 (as in `sums`).
    static func normalizationGradient(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>,
                                      shift: [Float], inverseStd: [Float], gate: ReLUGate? = nil, scale: [Float],
                                      meanDy: [Float], meanDyXhat: [Float], rows: Int, channels c: Int, isa: InstructionSet = .active) {
        let op = SharedPointer(dx)
        withNormalizationGradient(dy, input: x, shift: shift, inverseStd: inverseStd, gate: gate, scale: scale, meanDy: meanDy,
                                  meanDyXhat: meanDyXhat, channels: c, isa: isa) { gradient in
            forEachRowRange(rows: rows, channels: c) { range, _ in gradient.write(rows: range, into: op.base + range.lowerBound * c) }
        }
    }

    /// `normalizationGradient`'s rows, written a range at a time where and when a reader wants
    /// them (`withNormalizationGradient`): a convolution's weight gradient takes them image by
    /// image into a scratch image, so the batch-sized gradient is never stored.
    struct NormalizationGradient: Sendable {
        fileprivate let dy: SharedPointer<Float>, x: SharedPointer<Float>, gate: SharedPointer<Float>?
        fileprivate let constants: SharedPointer<Float>, computedGate: Bool, channels: Int, isa: InstructionSet

        /// Writes rows `rows` of dx, the first at `dx`.
        func write(rows: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
            let (c, k, offset) = (channels, constants.base, rows.lowerBound * channels)
            let (gain, bias) = computedGate ? (UnsafePointer(k + 5 * c), UnsafePointer(k + 6 * c)) : (nil, nil)
            convkit_channel_normalization_gradient(dy.base + offset, dx, x.base + offset, k, k + c, gate.map { UnsafePointer($0.base + offset) },
                                                   gain, bias, k + 2 * c, k + 3 * c, k + 4 * c, Int64(rows.count), Int64(c), isa.code)
        }
    }

    /// Calls `body` with the input gradient of `normalizationGradient`, valid during the call.
    static func withNormalizationGradient(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, shift: [Float], inverseStd: [Float],
                                          gate: ReLUGate?, scale: [Float], meanDy: [Float], meanDyXhat: [Float], channels c: Int,
                                          isa: InstructionSet = .active, _ body: (NormalizationGradient) -> Void) {
        withChannelConstants([shift, inverseStd, scale, meanDy, meanDyXhat] + (gate?.affine ?? [])) { k in
            body(NormalizationGradient(dy: SharedPointer(dy), x: SharedPointer(x), gate: gate?.values.map { SharedPointer($0) },
                                       constants: k, computedGate: !(gate?.affine.isEmpty ?? true), channels: c, isa: isa))
        }
    }

    /// True when none of the `count` values is NaN or infinite; a memory-speed pass across the
    /// cores, because every prediction checks its inputs.
    static func allFinite(_ x: UnsafePointer<Float>, count: Int, isa: InstructionSet = .active) -> Bool {
        let chunks = Parallel.chunkCount(count, values: count)
        let finite = UnsafeMutablePointer<Int32>.allocate(capacity: chunks)
        defer { finite.deallocate() }
        let (xp, fp, code) = (SharedPointer(x), SharedPointer(finite), isa.code)
        Parallel.forEachChunk(count, values: count) { range, worker in
            fp.base[worker] = convkit_all_finite(xp.base + range.lowerBound, Int64(range.count), code)
        }
        return (0..<chunks).allSatisfy { finite[$0] != 0 }
    }

    /// y = max(x, 0), keeping NaN, for `count` values.
    static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, isa: InstructionSet = .active) {
        let (xp, yp, code) = (SharedPointer(x), SharedPointer(y), isa.code)
        Parallel.forEachChunk(count, values: count) { range, _ in
            convkit_relu(xp.base + range.lowerBound, yp.base + range.lowerBound, Int64(range.count), code)
        }
    }

    /// ReLU's input gradient: dx = dy where x > 0, else 0.
    static func reluGradient(input x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                             count: Int, isa: InstructionSet = .active) {
        let (xp, gp, dp, code) = (SharedPointer(x), SharedPointer(dy), SharedPointer(dx), isa.code)
        Parallel.forEachChunk(count, values: count) { range, _ in
            let i = range.lowerBound
            convkit_relu_gradient(xp.base + i, gp.base + i, dp.base + i, Int64(range.count), code)
        }
    }

    /// sum = a + b for `count` values; `sum` may be `a` or `b`.
    static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into sum: UnsafeMutablePointer<Float>, count: Int,
                    isa: InstructionSet = .active) {
        let (ap, bp, sp, code) = (SharedPointer(a), SharedPointer(b), SharedPointer(sum), isa.code)
        Parallel.forEachChunk(count, values: count) { range, _ in
            let i = range.lowerBound
            convkit_add(ap.base + i, bp.base + i, sp.base + i, Int64(range.count), code)
        }
    }

    /// SGD's step on `count` weights, across the cores (`convkit_sgd_step`): `keep` scales the
    /// weights first (decoupled decay), `decay` adds decay·w to the gradient (coupled decay);
    /// `velocity` is needed only with momentum.
    static func sgdStep(weights w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, velocity v: UnsafeMutablePointer<Float>?,
                        count: Int, rate: Float, keep: Float, decay: Float, momentum: Float, nesterov: Bool,
                        isa: InstructionSet = .active) {
        let (wp, gp, vp, code) = (SharedPointer(w), SharedPointer(g), v.map(SharedPointer.init), isa.code)
        Parallel.forEachChunk(count, values: count) { range, _ in
            let i = range.lowerBound
            convkit_sgd_step(wp.base + i, gp.base + i, vp.map { $0.base + i }, Int64(range.count), rate, keep, decay, momentum,
                             nesterov ? 1 : 0, code)
        }
    }

    /// Adam's step on `count` weights, across the cores (`convkit_adam_step`).
    static func adamStep(weights w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                         v: UnsafeMutablePointer<Float>, count: Int, stepSize: Float, keep: Float, decay: Float, beta1: Float,
                         beta2: Float, epsilon: Float, isa: InstructionSet = .active) {
        let (wp, gp, mp, vp, code) = (SharedPointer(w), SharedPointer(g), SharedPointer(m), SharedPointer(v), isa.code)
        Parallel.forEachChunk(count, values: count) { range, _ in
            let i = range.lowerBound
            convkit_adam_step(wp.base + i, gp.base + i, mp.base + i, vp.base + i, Int64(range.count), stepSize, keep, decay,
                              beta1, beta2, epsilon, code)
        }
    }

    /// The per-channel arrays side by side in one buffer the workers can share.
    static func withChannelConstants(_ arrays: [[Float]], _ body: (SharedPointer<Float>) -> Void) {
        let c = arrays[0].count
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: arrays.count * c)
        defer { buffer.deallocate() }
        for (k, values) in arrays.enumerated() { (buffer + k * c).initialize(from: values, count: c) }
        body(SharedPointer(buffer))
    }
}
