import CKernels

/// The fast path of `Convolution` for every non-depthwise convolution: a register-blocked
/// direct kernel (`CKernels`, AVX-512 or AVX2 + FMA when the CPU has them) that reads a zero-padded
/// copy of each image in place — no im2col matrix.
///
/// The kernel walks rows of output pixels and a list of tap offsets, so ranks 1–3, strides,
/// dilations and groups are all offsets and strides worked out here. The input gradient at
/// stride 1 is the forward pass over the padded output gradient with the kernel flipped.
/// 3×3 stride-1 convolutions with enough channels run Winograd instead: F(4×4, 3×3) for the
/// forward pass and the input gradient, F(3×3, 4×4) for the weight gradient.
/// `isa` chooses the C kernels' path: `InstructionSet.active` unless a test picks another.
enum ConvolutionDirect {
    /// True when `backwardInput` applies: stride 1 on every axis, and no side padded by more
    /// than the dilated kernel spans (so the flipped kernel needs no negative padding).
    static func handlesInputGradient(_ g: ConvGeometry) -> Bool {
        g.strides == [1, 1, 1] && (0..<3).allSatisfy { axis in
            let span = (g.kernelSize[axis] - 1) * g.dilations[axis]
            return g.padBefore[axis] <= span && g.padAfter[axis] <= span
        }
    }

    /// True when Winograd runs the convolution: 2-D, 3×3, stride 1, undilated, ungrouped, and
    /// enough channels on both sides for its GEMMs to beat the direct kernel.
    static func usesWinograd(_ g: ConvGeometry) -> Bool {
        g.rank == 2 && g.kernelSize == [1, 3, 3] && g.strides == [1, 1, 1] && g.dilations == [1, 1, 1] && g.groups == 1
            && g.inputChannels >= 8 && g.outputChannels >= 8
    }

    /// With `imageSums`, each image's per-channel Σy and Σy² are added into its slot
    /// (`Convolution.addImageSums`) right after the image is written.
    static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                        _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                        relu: Bool = false, imageSums: UnsafeMutablePointer<Double>? = nil, isa: InstructionSet = .active) {
        if usesWinograd(g) { return winogradForward(x, w, bias, y, g, relu: relu, imageSums: imageSums, isa: isa) }
        let frame = PaddedFrame(g)
        let (ws, ys, bs, ss) = (SharedPointer(w), SharedPointer(y), bias.map { SharedPointer($0) }, imageSums.map { SharedPointer($0) })
        let og = g.outputChannelsPerGroup
        frame.forEachImage(batch: g.batch, of: x, balanced: true) { n, padded, _, _ in
            for group in 0..<g.groups {
                frame.forEachPlane(g, group: group, image: padded, output: ys.base + n * g.outputPixels * g.outputChannels) { rows, output in
                    convkit_conv_rows_forward(&rows, ws.base + group * og, bs.map { $0.base + group * og }, output, relu ? 1 : 0,
                                              isa.code)
                }
            }
            if let ss { Convolution.addImageSums(of: ys.base, image: n, g, into: ss.base, isa: isa) }
        }
    }

    /// Sums every image's contribution into `dw` (which the caller zeroed); each worker has its
    /// own partial sum, added in worker order, so a thread count always gives the same numbers.
    static func backwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                               isa: InstructionSet = .active) {
        if usesWinograd(g) { return winogradBackwardKernel(x, dy, dw, g, isa: isa) }
        let frame = PaddedFrame(g), og = g.outputChannelsPerGroup
        let dys = SharedPointer(dy)
        withWorkerPartials(size: g.kernelTaps * g.inputChannelsPerGroup * g.outputChannels, batch: g.batch, sum: dw) { partials, size in
            frame.forEachImage(batch: g.batch, of: x) { n, padded, worker, _ in
                for group in 0..<g.groups {
                    frame.forEachPlane(g, group: group, image: padded, output: dys.base + n * g.outputPixels * g.outputChannels) { rows, gradient in
                        convkit_conv_rows_weight_gradient(&rows, gradient, partials.base + worker * size + group * og, isa.code)
                    }
                }
            }
        }
    }

    /// `backwardKernel` with image n's output gradient written by `imageGradient(n, into)` into
    /// the worker's scratch just before it is read, and its per-channel sums (Σdy, Σdy²) added
    /// into `biasSums + 2·outputChannels·n` from there.
    static func backwardKernel(_ x: UnsafePointer<Float>, imageGradient: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void,
                               _ dw: UnsafeMutablePointer<Float>, biasSums: UnsafeMutablePointer<Double>, _ g: ConvGeometry,
                               isa: InstructionSet = .active) {
        precondition(!usesWinograd(g))
        let frame = PaddedFrame(g), og = g.outputChannelsPerGroup
        let sums = SharedPointer(biasSums)
        withWorkerPartials(size: g.kernelTaps * g.inputChannelsPerGroup * g.outputChannels, batch: g.batch, sum: dw) { partials, size in
            frame.forEachImage(batch: g.batch, of: x, scratch: g.outputPixels * g.outputChannels) { n, padded, worker, gradient in
                imageGradient(n, gradient)
                for group in 0..<g.groups {
                    frame.forEachPlane(g, group: group, image: padded, output: gradient) { rows, planeGradient in
                        convkit_conv_rows_weight_gradient(&rows, planeGradient, partials.base + worker * size + group * og, isa.code)
                    }
                }
                ChannelArithmetic.addImageSums(of: gradient, image: 0, rowsPerImage: g.outputPixels, channels: g.outputChannels,
                                               into: sums.base + 2 * g.outputChannels * n, isa: isa)
            }
        }
    }

    /// The input gradient at stride 1: the forward pass of the transposed convolution over the
    /// output gradient (padded by `span − padBefore` before), with the kernel flipped on every
    /// spatial axis and each group's channel axes swapped. Overwrites `dx`.
    static func backwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                              isa: InstructionSet = .active) {
        precondition(handlesInputGradient(g))
        let (taps, cg, og, cin, cout) = (g.kernelTaps, g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.inputChannels, g.outputChannels)
        // The transposed kernel in HWIO: flipped[tap'][o][group·cg + c] = w[taps − 1 − tap'][c][group·og + o].
        let flipped = UnsafeMutablePointer<Float>.allocate(capacity: taps * og * cin)
        defer { flipped.deallocate() }
        for t in 0..<taps { for o in 0..<og { for group in 0..<g.groups { for c in 0..<cg {
            flipped[(t * og + o) * cin + group * cg + c] = w[((taps - 1 - t) * cg + c) * cout + group * og + o]
        }}}}
        func span(_ axis: Int) -> Int { (g.kernelSize[axis] - 1) * g.dilations[axis] }
        let axes = (3 - g.rank)..<3
        let transposed = try! ConvGeometry(
            batch: g.batch, inputSize: axes.map { g.outputSize[$0] }, inputChannels: cout, outputChannels: cin,
            kernelSize: axes.map { g.kernelSize[$0] }, strides: axes.map { _ in 1 }, dilations: axes.map { g.dilations[$0] },
            padding: .explicit(before: axes.map { span($0) - g.padBefore[$0] }, after: axes.map { span($0) - g.padAfter[$0] }),
            groups: g.groups)
        forward(dy, flipped, nil, dx, transposed, isa: isa)
    }

    // MARK: Winograd

    /// 4× fewer multiplies than the direct kernel; the results differ from it by rounding
    /// only (about 3e-6 of the output's scale).
    private static func winogradForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                        _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry, relu: Bool,
                                        imageSums: UnsafeMutablePointer<Double>?, isa: InstructionSet) {
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: 36 * cin * cout)
        defer { transformed.deallocate() }
        convkit_winograd_transform_kernel(w, Int64(cin), Int64(cout), transformed)
        let (xs, us, ys, bs, ss) = (SharedPointer(x), SharedPointer(transformed), SharedPointer(y), bias.map { SharedPointer($0) },
                                    imageSums.map { SharedPointer($0) })
        forEachWinogradGroup(g, balanced: true) { images, _, scratch in
            var image = winogradImage(xs.base, images, g)
            convkit_winograd_forward(&image, us.base, bs?.base, ys.base + images.lowerBound * g.outputPixels * cout, relu ? 1 : 0,
                                     scratch, isa.code)
            if let ss { for n in images { Convolution.addImageSums(of: ys.base, image: n, g, into: ss.base, isa: isa) } }
        }
    }

    /// The weight gradient by Winograd F(3×3, 4×4): each worker sums its images in the
    /// transformed domain, the sums are added in worker order and transformed back once.
    private static func winogradBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                               _ g: ConvGeometry, isa: InstructionSet) {
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: 36 * cin * cout)
        transformed.initialize(repeating: 0, count: 36 * cin * cout)
        defer { transformed.deallocate() }
        let (xs, dys) = (SharedPointer(x), SharedPointer(dy))
        withWorkerPartials(size: 36 * cin * cout, batch: g.batch, sum: transformed) { partials, size in
            forEachWinogradGroup(g, balanced: false) { images, worker, scratch in
                var image = winogradImage(xs.base, images, g)
                convkit_winograd_weight_gradient(&image, dys.base + images.lowerBound * g.outputPixels * cout,
                                                 partials.base + worker * size, scratch, isa.code)
            }
        }
        convkit_winograd_gradient_to_kernel(transformed, Int64(cin), Int64(cout), dw)
    }

    /// Splits the batch across the workers in groups of consecutive images, as many as the
    /// kernels take into one block (several when the images are small), each worker with its
    /// own scratch; `balanced` as in `Parallel.forEachItem`. The kernels read each image
    /// where it lies, taking zeros past its edges, so no padded copy is made.
    private static func forEachWinogradGroup(_ g: ConvGeometry, balanced: Bool,
                                             _ body: @Sendable (Range<Int>, Int, UnsafeMutablePointer<Float>) -> Void) {
        let (rows, columns) = (Int64(g.outputSize[1]), Int64(g.outputSize[2]))
        let count = Int(convkit_winograd_scratch_count(rows, columns, Int64(g.inputChannels), Int64(g.outputChannels)))
        let perGroup = Int(convkit_winograd_images_per_block(rows, columns)), batch = g.batch
        Parallel.forEachItem((batch + perGroup - 1) / perGroup, balanced: balanced) { groups, worker in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { scratch.deallocate() }
            for group in groups { body((group * perGroup)..<min((group + 1) * perGroup, batch), worker, scratch) }
        }
    }

    /// `images` of the batch `x`, which the kernels take together.
    private static func winogradImage(_ x: UnsafePointer<Float>, _ images: Range<Int>, _ g: ConvGeometry) -> convkit_winograd_image {
        convkit_winograd_image(
            input: x + images.lowerBound * g.inputPixels * g.inputChannels, images: Int64(images.count),
            inputRows: Int64(g.inputSize[1]), inputColumns: Int64(g.inputSize[2]),
            padTop: Int64(g.padBefore[1]), padLeft: Int64(g.padBefore[2]),
            channels: Int64(g.inputChannels), outputChannels: Int64(g.outputChannels),
            outputRows: Int64(g.outputSize[1]), outputColumns: Int64(g.outputSize[2]),
            outputRowStride: Int64(g.outputSize[2] * g.outputChannels), outputPixelStride: Int64(g.outputChannels))
    }

    /// Zeroed partial sums of `size` floats, one per worker, for `body`; afterwards added into
    /// `sum` in worker order, so a given thread count always gives the same numbers.
    private static func withWorkerPartials(size: Int, batch: Int, sum: UnsafeMutablePointer<Float>,
                                           _ body: (SharedPointer<Float>, Int) -> Void) {
        let workers = max(min(Parallel.workers, batch), 1)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: size * workers)
        partials.initialize(repeating: 0, count: size * workers)
        defer { partials.deallocate() }
        body(SharedPointer(partials), size)
        for worker in 0..<workers {
            let partial = partials + worker * size
            for i in 0..<size { sum[i] += partial[i] }
        }
    }
}

/// One image of a convolution's input copied into a zero border, large enough that every
/// window lies inside it, and the row descriptions the kernels walk over it.
struct PaddedFrame: Sendable {
    let source: [Int]      // depth, height, width of the image copied in
    let channels: Int
    let before: [Int]      // where the image starts in the frame
    let size: [Int]        // depth, height, width of the frame
    let tapOffsets: [Int64]

    init(_ g: ConvGeometry) {
        source = g.inputSize; channels = g.inputChannels; before = g.padBefore
        size = (0..<3).map { axis in
            let reach = (g.outputSize[axis] - 1) * g.strides[axis] + (g.kernelSize[axis] - 1) * g.dilations[axis] + 1
            return max(reach, g.padBefore[axis] + g.inputSize[axis])
        }
        var offsets = [Int64]()
        for a in 0..<g.kernelSize[0] { for b in 0..<g.kernelSize[1] { for c in 0..<g.kernelSize[2] {
            offsets.append(Int64(((a * g.dilations[0] * size[1] + b * g.dilations[1]) * size[2] + c * g.dilations[2]) * channels))
        }}}
        tapOffsets = offsets
    }

    /// A frame of `size` with the images placed at `before`, for kernels that keep their own
    /// tap offsets (the strided input gradient's phases).
    init(source: [Int], channels: Int, before: [Int], size: [Int]) {
        self.source = source; self.channels = channels; self.before = before; self.size = size; tapOffsets = []
    }

    /// Splits the batch across the workers. Each fills its own frame (border zeroed once) with
    /// image `n` of `images` and calls `body(n, frame, worker, scratch)`, with `scratch` floats
    /// of its own. With `balanced`, each worker takes the next image when it finishes one (a
    /// core slowed by the VM then does fewer); without it, worker w always gets the same
    /// images, which per-worker sums need to come out the same on every run.
    func forEachImage(batch: Int, of images: UnsafePointer<Float>, scratch scratchCount: Int = 0, balanced: Bool = false,
                      _ body: @Sendable (Int, UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void) {
        let (sourcePointer, imageSize, count) = (SharedPointer(images), source.reduce(1, *) * channels, size.reduce(1, *) * channels)
        Parallel.forEachItem(batch, balanced: balanced) { images, worker in
            let frame = UnsafeMutablePointer<Float>.allocate(capacity: count)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchCount, 1))
            defer { frame.deallocate(); scratch.deallocate() }
            frame.initialize(repeating: 0, count: count)
            let rowLength = source[2] * channels
            for n in images {
                let image = sourcePointer.base + n * imageSize
                for z in 0..<source[0] { for y in 0..<source[1] {
                    let target = frame + (((z + before[0]) * size[1] + y + before[1]) * size[2] + before[2]) * channels
                    target.update(from: image + (z * source[1] + y) * rowLength, count: rowLength)
                }}
                body(n, frame, worker, scratch)
            }
        }
    }

    /// Calls `body` once per output plane (depth slice) with the rows of that plane, for the
    /// channels of `group`; `output` is the image's first output pixel.
    func forEachPlane(_ g: ConvGeometry, group: Int, image: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
                      _ body: (inout convkit_conv_rows, UnsafeMutablePointer<Float>) -> Void) {
        let (outH, outW, cout) = (g.outputSize[1], g.outputSize[2], g.outputChannels)
        tapOffsets.withUnsafeBufferPointer { taps in
            for z in 0..<g.outputSize[0] {
                var rows = convkit_conv_rows(
                    input: image + z * g.strides[0] * size[1] * size[2] * channels + group * g.inputChannelsPerGroup,
                    rows: Int64(outH), pixels: Int64(outW),
                    inputRowStride: Int64(g.strides[1] * size[2] * channels), inputPixelStride: Int64(g.strides[2] * channels),
                    tapOffsets: taps.baseAddress!, taps: Int64(taps.count), channels: Int64(g.inputChannelsPerGroup),
                    weightRowStride: Int64(cout),
                    outputRowStride: Int64(outW * cout), outputPixelStride: Int64(cout),
                    outputChannels: Int64(g.outputChannelsPerGroup))
                body(&rows, output + z * outH * outW * cout + group * g.outputChannelsPerGroup)
            }
        }
    }
}
