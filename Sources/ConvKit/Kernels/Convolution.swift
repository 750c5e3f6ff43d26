import CKernels
/// The convolution core behind every conv layer: N-dimensional (rank 1–3), channels-last
/// input `[batch, spatial…, cin]`, HWIO kernel `[spatial…, cin/groups, cout]`, with strides,
/// dilation, groups and padding taken from a `ConvGeometry`.
///
/// Dense and grouped convolutions run the register-blocked direct kernel (`ConvolutionDirect`);
/// its input gradient at strides above 1 runs as a GEMM into patch rows and col2im.
/// Pointwise (1×1, stride 1) convolutions are one GEMM. Depthwise convolutions (one input
/// channel per group) run a direct loop over contiguous channels. `ConvolutionReference` is
/// the naive twin these are tested against.
public enum Convolution {
    /// Which kernel a geometry runs on.
    private enum Path { case depthwise, pointwise, direct }

    private static func path(_ g: ConvGeometry) -> Path {
        if g.inputChannelsPerGroup == 1 && g.groups > 1 { return .depthwise }
        return g.isPointwise ? .pointwise : .direct
    }

    /// With `relu`, max(·, 0) is applied as the output is written (the fused inference path).
    /// `isa` chooses the direct and Winograd kernels' path (the tests run each one).
    public static func forward(_ input: Tensor, kernel: Tensor, bias: Tensor?, geometry g: ConvGeometry,
                               relu: Bool = false, isa: InstructionSet = .active) -> Tensor {
        forward(input, kernel: kernel, bias: bias, geometry: g, relu: relu, imageSums: nil, isa: isa)
    }

    /// The output and its per-channel Σy and Σy², for the BatchNormalization that reads it. The
    /// direct and Winograd kernels take each image's sums as soon as they have written it, while
    /// it is still in cache (one read of a batch-sized tensor fewer); the sums are added in image
    /// order, so they do not depend on the thread count.
    static func forwardWithChannelSums(_ input: Tensor, kernel: Tensor, bias: Tensor?, geometry g: ConvGeometry,
                                       isa: InstructionSet = .active) -> (output: Tensor, sums: ChannelSums) {
        let c = g.outputChannels
        let perImage = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * g.batch)
        perImage.initialize(repeating: 0, count: 2 * c * g.batch)
        defer { perImage.deallocate() }
        let y = forward(input, kernel: kernel, bias: bias, geometry: g, relu: false, imageSums: perImage, isa: isa)
        return (y, ChannelArithmetic.reducingImageSums(perImage, images: g.batch, channels: c))
    }

    /// With `imageSums` (2·outputChannels zeroed doubles per image), image n's Σy and Σy² per
    /// channel are added into `imageSums + 2·outputChannels·n`.
    private static func forward(_ input: Tensor, kernel: Tensor, bias: Tensor?, geometry g: ConvGeometry, relu: Bool,
                                imageSums: UnsafeMutablePointer<Double>?, isa: InstructionSet) -> Tensor {
        check(input, g.inputShape, "input"); check(kernel, g.kernelShape, "kernel")
        return Tensor(shape: g.outputShape) { out in
            input.scalars.withUnsafeBufferPointer { x in
                kernel.scalars.withUnsafeBufferPointer { w in
                    (bias?.scalars ?? []).withUnsafeBufferPointer { b in
                        let (x, w, y, b) = (x.baseAddress!, w.baseAddress!, out.baseAddress!, bias == nil ? nil : b.baseAddress!)
                        switch path(g) {
                        case .direct:
                            ConvolutionDirect.forward(x, w, b, y, g, relu: relu, imageSums: imageSums, isa: isa)
                            return
                        case .depthwise:
                            y.initialize(repeating: 0, count: out.count)
                            depthwiseForward(x, w, y, g, isa: isa)
                        case .pointwise:
                            pointwiseForward(x, w, y, g)
                        }
                        if let b { addBias(b, to: y, g) }
                        if relu { for i in 0..<out.count { y[i] = max(y[i], 0) } }
                        if let imageSums {
                            for n in 0..<g.batch { addImageSums(of: y, image: n, g, into: imageSums, isa: isa) }
                        }
                    }
                }
            }
        }
    }

    /// Adds image `n`'s per-channel Σy and Σy² into `imageSums + 2·outputChannels·n`.
    static func addImageSums(of y: UnsafePointer<Float>, image n: Int, _ g: ConvGeometry, into imageSums: UnsafeMutablePointer<Double>,
                             isa: InstructionSet) {
        ChannelArithmetic.addImageSums(of: y, image: n, rowsPerImage: g.outputPixels, channels: g.outputChannels, into: imageSums, isa: isa)
    }

    public static func backwardInput(_ gradOutput: Tensor, kernel: Tensor, geometry g: ConvGeometry,
                                     isa: InstructionSet = .active) -> Tensor {
        check(gradOutput, g.outputShape, "output gradient"); check(kernel, g.kernelShape, "kernel")
        return Tensor(shape: g.inputShape) { out in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                kernel.scalars.withUnsafeBufferPointer { w in
                    let (dy, w, dx) = (dy.baseAddress!, w.baseAddress!, out.baseAddress!)
                    switch path(g) {
                    case .direct where ConvolutionDirect.handlesInputGradient(g):
                        ConvolutionDirect.backwardInput(dy, w, dx, g, isa: isa)
                    case .direct:
                        ConvolutionDirect.backwardInputByPhase(dy, w, dx, g, isa: isa)
                    case .depthwise:
                        dx.initialize(repeating: 0, count: out.count)
                        depthwiseBackwardInput(dy, w, dx, g, isa: isa)
                    case .pointwise:
                        pointwiseBackwardInput(dy, w, dx, g)
                    }
                }
            }
        }
    }

    public static func backwardKernel(_ input: Tensor, gradOutput: Tensor, geometry g: ConvGeometry,
                                      isa: InstructionSet = .active) -> Tensor {
        check(input, g.inputShape, "input"); check(gradOutput, g.outputShape, "output gradient")
        var dw = Tensor(zeros: g.kernelShape)
        input.scalars.withUnsafeBufferPointer { x in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                dw.scalars.withUnsafeMutableBufferPointer { dwp in
                    let (x, dy, dw) = (x.baseAddress!, dy.baseAddress!, dwp.baseAddress!)
                    switch path(g) {
                    case .direct: ConvolutionDirect.backwardKernel(x, dy, dw, g, isa: isa)
                    case .depthwise: depthwiseBackwardKernel(x, dy, dw, g, isa: isa)
                    case .pointwise: pointwiseBackwardKernel(x, dy, dw, g)
                    }
                }
            }
        }
        return dw
    }

    /// Sum of the output gradient over batch and pixels, per output channel, accumulated in
    /// Double image by image and added in image order (`ChannelArithmetic.sumsByImage`).
    public static func backwardBias(_ gradOutput: Tensor, isa: InstructionSet = .active) -> Tensor {
        let (images, c) = (gradOutput.shape[0], gradOutput.shape.last!)
        let sums = gradOutput.scalars.withUnsafeBufferPointer { dy in
            ChannelArithmetic.sumsByImage(dy.baseAddress!, images: images, rowsPerImage: dy.count / (images * c), channels: c, isa: isa).sum
        }
        return Tensor(shape: [c], scalars: sums.map { Float($0) })
    }

    /// True when `backwardParameters(_:imageGradient:geometry:)` applies: the direct kernel's
    /// weight gradient (not Winograd's).
    static func takesImageGradients(_ g: ConvGeometry) -> Bool {
        path(g) == .direct && !ConvolutionDirect.usesWinograd(g)
    }

    /// The kernel and bias gradients for an output gradient that exists one image at a time:
    /// `imageGradient(n, into)` writes image n's output gradient into a scratch image just
    /// before the kernel reads it (a BatchNorm's input gradient, never stored whole: one write
    /// and two reads of a batch-sized tensor fewer). The same numbers as `backwardKernel` and
    /// `backwardBias` on the whole gradient.
    static func backwardParameters(_ input: Tensor, imageGradient: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void,
                                   geometry g: ConvGeometry, isa: InstructionSet = .active) -> (kernel: Tensor, bias: Tensor) {
        precondition(takesImageGradients(g), "image-by-image gradients need the direct kernel")
        check(input, g.inputShape, "input")
        let c = g.outputChannels
        let perImage = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * g.batch)
        perImage.initialize(repeating: 0, count: 2 * c * g.batch)
        defer { perImage.deallocate() }
        var dw = Tensor(zeros: g.kernelShape)
        input.scalars.withUnsafeBufferPointer { x in
            dw.scalars.withUnsafeMutableBufferPointer { dwp in
                ConvolutionDirect.backwardKernel(x.baseAddress!, imageGradient: imageGradient, dwp.baseAddress!, biasSums: perImage, g, isa: isa)
            }
        }
        let bias = ChannelArithmetic.reducingImageSums(perImage, images: g.batch, channels: c).sum
        return (dw, Tensor(shape: [c], scalars: bias.map { Float($0) }))
    }

    private static func check(_ t: Tensor, _ shape: [Int], _ what: String) {
        precondition(t.shape == shape, "convolution \(what) has shape \(t.shape), expected \(shape)")
    }

    private static func addBias(_ b: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let c = g.outputChannels
        for p in 0..<(g.batch * g.outputPixels) {
            let row = y + p * c
            for oc in 0..<c { row[oc] += b[oc] }
        }
    }

    // MARK: Pointwise: the input already is the GEMM's left matrix, [batch·pixels, cin]

    private static func pointwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (K, og, cin, cout) = (g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.inputChannels, g.outputChannels)
        for group in 0..<g.groups {
            GEMM.multiply(m: g.batch * g.outputPixels, n: og, k: K, a: x + group * K, lda: cin, b: w + group * og, ldb: cout,
                          c: y + group * og, ldc: cout)
        }
    }

    private static func pointwiseBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (K, og, cin, cout) = (g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.inputChannels, g.outputChannels)
        for group in 0..<g.groups {
            GEMM.multiply(transposeB: true, m: g.batch * g.outputPixels, n: K, k: og, a: dy + group * og, lda: cout,
                          b: w + group * og, ldb: cout, c: dx + group * K, ldc: cin)
        }
    }

    private static func pointwiseBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (K, og, cin, cout) = (g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.inputChannels, g.outputChannels)
        for group in 0..<g.groups {
            GEMM.multiply(transposeA: true, m: K, n: og, k: g.batch * g.outputPixels, a: x + group * K, lda: cin,
                          b: dy + group * og, ldb: cout, c: dw + group * og, ldc: cout)
        }
    }

    // MARK: Depthwise (one input channel per group, `multiplier` outputs each)
    //
    // Multiplier 1 (every depthwise layer of the seed models) runs the per-path tap loops of
    // channel_kernels.c across the cores; other multipliers keep the plain loops.

    /// The (output pixel, tap, input pixel) triples of one image, as the C loops take them.
    private static func depthwiseTaps(_ g: ConvGeometry, order: (Int, Int, Int) -> (Int, Int, Int)) -> [Int64] {
        var taps = [Int64]()
        g.forEachTap { o, t, i in let (a, b, c) = order(o, t, i); taps += [Int64(a), Int64(b), Int64(c)] }
        return taps
    }

    private static func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                         _ g: ConvGeometry, isa: InstructionSet) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        guard m == 1 else {
            for n in 0..<g.batch {
                let xi = x + n * g.inputPixels * cin, yi = y + n * g.outputPixels * cout
                g.forEachTap { o, t, i in
                    let dst = yi + o * cout, src = xi + i * cin, wt = w + t * cout
                    for oc in 0..<cout { dst[oc] += src[oc / m] * wt[oc] }
                }
            }
            return
        }
        let taps = depthwiseTaps(g) { o, t, i in (o, i, t) }
        perImageTapProducts(x, imageLength: g.inputPixels * cin, kernel: w, into: y, imageLength: g.outputPixels * cin, taps: taps, g, isa: isa)
    }

    private static func depthwiseBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                               _ g: ConvGeometry, isa: InstructionSet) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        guard m == 1 else {
            for n in 0..<g.batch {
                let dxi = dx + n * g.inputPixels * cin, dyi = dy + n * g.outputPixels * cout
                g.forEachTap { o, t, i in
                    let src = dyi + o * cout, dst = dxi + i * cin, wt = w + t * cout
                    for oc in 0..<cout { dst[oc / m] += src[oc] * wt[oc] }
                }
            }
            return
        }
        let taps = depthwiseTaps(g) { o, t, i in (i, o, t) }
        perImageTapProducts(dy, imageLength: g.outputPixels * cin, kernel: w, into: dx, imageLength: g.inputPixels * cin, taps: taps, g,
                            isa: isa)
    }

    /// out[a] += input[b]·kernel[t] per channel for each tap (a, b, t), images split across
    /// the workers: the forward and input-gradient passes of a depthwise convolution.
    private static func perImageTapProducts(_ input: UnsafePointer<Float>, imageLength inputImage: Int, kernel w: UnsafePointer<Float>,
                                            into out: UnsafeMutablePointer<Float>, imageLength outImage: Int, taps: [Int64],
                                            _ g: ConvGeometry, isa: InstructionSet) {
        let (inputs, ws, outs, code, c) = (SharedPointer(input), SharedPointer(w), SharedPointer(out), isa.code, g.inputChannels)
        let work: Int = g.batch * g.outputPixels * c * g.kernelTaps
        Parallel.forEachChunk(g.batch, values: work) { images, _ in
            let first: Int = images.lowerBound
            convkit_tap_products(inputs.base + first * inputImage, Int64(inputImage), ws.base, 0, outs.base + first * outImage,
                                 Int64(outImage), taps, Int64(taps.count / 3), Int64(images.count), Int64(c), Int64(c), code)
        }
    }

    private static func depthwiseBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                                _ g: ConvGeometry, isa: InstructionSet) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        guard m == 1 else {
            for n in 0..<g.batch {
                let xi = x + n * g.inputPixels * cin, dyi = dy + n * g.outputPixels * cout
                g.forEachTap { o, t, i in
                    let src = xi + i * cin, grad = dyi + o * cout, dst = dw + t * cout
                    for oc in 0..<cout { dst[oc] += src[oc / m] * grad[oc] }
                }
            }
            return
        }
        // The kernel is shared by every image: each worker sums its images into its own copy,
        // and the copies are added in worker order (the same split gives the same sum).
        let taps = depthwiseTaps(g) { o, t, i in (t, i, o) }
        let c = cin, size = g.kernelTaps * c
        let (xImage, yImage): (Int, Int) = (g.inputPixels * c, g.outputPixels * c)
        let work: Int = g.batch * yImage * g.kernelTaps
        let workers = Parallel.chunkCount(g.batch, values: work)
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: workers * size)
        partial.initialize(repeating: 0, count: workers * size)
        defer { partial.deallocate() }
        let (xs, dys, ps, code) = (SharedPointer(x), SharedPointer(dy), SharedPointer(partial), isa.code)
        Parallel.forEachChunk(g.batch, values: work) { images, worker in
            let first: Int = images.lowerBound
            convkit_tap_products(xs.base + first * xImage, Int64(xImage), dys.base + first * yImage, Int64(yImage), ps.base + worker * size, 0,
                                 taps, Int64(taps.count / 3), Int64(images.count), Int64(c), Int64(c), code)
        }
        for worker in 0..<workers { for k in 0..<size { dw[k] += partial[worker * size + k] } }
    }
}
