import CKernels

/// The fast path of `Convolution` for every non-depthwise convolution: a register-blocked
/// direct kernel (`CKernels`, AVX2 + FMA when the CPU has them) that reads a zero-padded
/// copy of each image in place — no im2col matrix.
///
/// The kernel walks rows of output pixels and a list of tap offsets, so ranks 1–3, strides,
/// dilations and groups are all offsets and strides worked out here. The input gradient at
/// stride 1 is the same kernel run over the padded output gradient with the kernel flipped.
/// 3×3 stride-1 convolutions with enough channels run Winograd instead: F(4×4, 3×3) for the
/// forward pass and the input gradient, F(3×3, 2×2) for the weight gradient.
/// `portable: true` runs the plain C loops even on an AVX2 CPU, for the tests.
enum ConvolutionDirect {
    /// True when `backwardInput` applies: stride 1 on every axis, and no side padded by more
    /// than the dilated kernel spans (so the flipped kernel needs no negative padding).
    static func handlesInputGradient(_ g: ConvGeometry) -> Bool {
        g.strides == [1, 1, 1] && (0..<3).allSatisfy { axis in
            let span = (g.kernelSize[axis] - 1) * g.dilations[axis]
            return g.padBefore[axis] <= span && g.padAfter[axis] <= span
        }
    }

    static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                        _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                        relu: Bool = false, portable: Bool = false) {
        if usesWinograd(g) { return winogradForward(x, w, bias, y, g, relu: relu, portable: portable) }
        let frame = PaddedFrame(source: g.inputSize, channels: g.inputChannels, before: g.padBefore, geometry: g)
        let (xs, ws, ys) = (SharedPointer(x), SharedPointer(w), SharedPointer(y))
        let bs = bias.map { SharedPointer($0) }
        let (og, cg) = (g.outputChannelsPerGroup, g.inputChannelsPerGroup)
        Parallel.forEachChunk(g.batch) { images, _ in
            let padded = frame.allocate()
            defer { padded.deallocate() }
            for n in images {
                frame.fill(padded, from: xs.base + n * g.inputPixels * g.inputChannels)
                for group in 0..<g.groups {
                    frame.forEachPlane(g, input: padded + group * cg, output: ys.base + n * g.outputPixels * g.outputChannels + group * og,
                                       inputChannels: cg, outputChannels: og, outputPixelStride: g.outputChannels, weightRowStride: g.outputChannels) { rows, output in
                        convkit_conv_rows_forward(&rows, ws.base + group * og, bs.map { $0.base + group * og }, output, relu ? 1 : 0, portable ? 1 : 0)
                    }
                }
            }
        }
    }

    /// True when Winograd runs the convolution: 2-D, 3×3, stride 1, undilated,
    /// ungrouped, and enough channels on both sides for its 16 GEMMs to beat the direct kernel.
    static func usesWinograd(_ g: ConvGeometry) -> Bool {
        g.rank == 2 && g.kernelSize == [1, 3, 3] && g.strides == [1, 1, 1] && g.dilations == [1, 1, 1] && g.groups == 1
            && g.inputChannels >= 8 && g.outputChannels >= 8
    }

    /// 4× fewer multiplies than the direct kernel; the results differ from it by rounding
    /// only (about 1e-6 of the output's scale).
    private static func winogradForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                        _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry, relu: Bool, portable: Bool) {
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        let frame = PaddedFrame(source: g.inputSize, channels: cin, before: g.padBefore, geometry: g)
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: 36 * cin * cout)
        defer { transformed.deallocate() }
        convkit_winograd_transform_kernel(w, Int64(cin), Int64(cout), transformed)
        let scratchCount = Int(convkit_winograd_scratch_count(Int64(g.outputSize[2]), Int64(cin), Int64(cout)))
        let (xs, us, ys) = (SharedPointer(x), SharedPointer(transformed), SharedPointer(y))
        let bs = bias.map { SharedPointer($0) }
        Parallel.forEachChunk(g.batch) { images, _ in
            let padded = frame.allocate(), scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { padded.deallocate(); scratch.deallocate() }
            for n in images {
                frame.fill(padded, from: xs.base + n * g.inputPixels * cin)
                var image = winogradImage(padded, frame, g)
                convkit_winograd_forward(&image, us.base, bs?.base, ys.base + n * g.outputPixels * cout, relu ? 1 : 0, scratch,
                                         portable ? 1 : 0)
            }
        }
    }

    /// The weight gradient by Winograd F(3×3, 2×2): each worker sums its images in the
    /// transformed domain, the sums are added in worker order and transformed back once.
    private static func winogradBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                               _ g: ConvGeometry, portable: Bool) {
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        let frame = PaddedFrame(source: g.inputSize, channels: cin, before: g.padBefore, geometry: g)
        let size = 16 * cin * cout, workers = min(Parallel.workers, g.batch)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: size * workers)
        partials.initialize(repeating: 0, count: size * workers)
        defer { partials.deallocate() }
        let scratchCount = Int(convkit_winograd_scratch_count(Int64(g.outputSize[2]), Int64(cin), Int64(cout)))
        let (xs, dys, ps) = (SharedPointer(x), SharedPointer(dy), SharedPointer(partials))
        Parallel.forEachChunk(g.batch) { images, worker in
            let padded = frame.allocate(), scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { padded.deallocate(); scratch.deallocate() }
            for n in images {
                frame.fill(padded, from: xs.base + n * g.inputPixels * cin)
                var image = winogradImage(padded, frame, g)
                convkit_winograd_weight_gradient(&image, dys.base + n * g.outputPixels * cout, ps.base + worker * size, scratch,
                                                 portable ? 1 : 0)
            }
        }
        for worker in 1..<max(workers, 1) {
            let partial = partials + worker * size
            for i in 0..<size { partials[i] += partial[i] }
        }
        convkit_winograd_gradient_to_kernel(partials, Int64(cin), Int64(cout), dw)
    }

    private static func winogradImage(_ padded: UnsafeMutablePointer<Float>, _ frame: PaddedFrame, _ g: ConvGeometry) -> convkit_winograd_image {
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        return convkit_winograd_image(
            input: padded, inputRowStride: Int64(frame.size[2] * cin), inputPixelStride: Int64(cin),
            channels: Int64(cin), outputChannels: Int64(cout),
            outputRows: Int64(g.outputSize[1]), outputColumns: Int64(g.outputSize[2]),
            outputRowStride: Int64(g.outputSize[2] * cout), outputPixelStride: Int64(cout))
    }

    /// Sums every image's contribution into `dw` (which the caller zeroed); each worker has its
    /// own partial sum, added in worker order, so a thread count always gives the same numbers.
    static func backwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                               portable: Bool = false) {
        if usesWinograd(g) { return winogradBackwardKernel(x, dy, dw, g, portable: portable) }
        let frame = PaddedFrame(source: g.inputSize, channels: g.inputChannels, before: g.padBefore, geometry: g)
        let size = g.kernelTaps * g.inputChannelsPerGroup * g.outputChannels
        let workers = min(Parallel.workers, g.batch)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: size * workers)
        partials.initialize(repeating: 0, count: size * workers)
        defer { partials.deallocate() }
        let (xs, dys, ps) = (SharedPointer(x), SharedPointer(dy), SharedPointer(partials))
        let (og, cg) = (g.outputChannelsPerGroup, g.inputChannelsPerGroup)
        Parallel.forEachChunk(g.batch) { images, worker in
            let padded = frame.allocate()
            defer { padded.deallocate() }
            let partial = ps.base + worker * size
            for n in images {
                frame.fill(padded, from: xs.base + n * g.inputPixels * g.inputChannels)
                for group in 0..<g.groups {
                    frame.forEachPlane(g, input: padded + group * cg, output: dys.base + n * g.outputPixels * g.outputChannels + group * og,
                                       inputChannels: cg, outputChannels: og, outputPixelStride: g.outputChannels,
                                       weightRowStride: g.outputChannels) { rows, gradient in
                        convkit_conv_rows_weight_gradient(&rows, gradient, partial + group * og, portable ? 1 : 0)
                    }
                }
            }
        }
        for worker in 0..<workers {
            let partial = partials + worker * size
            for i in 0..<size { dw[i] += partial[i] }
        }
    }

    /// The input gradient at stride 1: a forward pass over the output gradient, padded by
    /// `span − padBefore` before, with each group's kernel flipped on every spatial axis and
    /// its channel axes swapped. Overwrites `dx`.
    static func backwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                              portable: Bool = false) {
        precondition(handlesInputGradient(g))
        let (taps, cg, og, cout) = (g.kernelTaps, g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.outputChannels)
        // flipped[group][tap'][o][c] = w[taps − 1 − tap'][c][group·og + o]
        let flipped = UnsafeMutablePointer<Float>.allocate(capacity: taps * cg * cout)
        defer { flipped.deallocate() }
        for group in 0..<g.groups { for t in 0..<taps { for o in 0..<og { for c in 0..<cg {
            flipped[((group * taps + t) * og + o) * cg + c] = w[((taps - 1 - t) * cg + c) * cout + group * og + o]
        }}}}
        let before = (0..<3).map { (g.kernelSize[$0] - 1) * g.dilations[$0] - g.padBefore[$0] }
        let transposed = try! ConvGeometry(
            batch: g.batch, inputSize: Array(g.outputSize.suffix(g.rank)), inputChannels: cout, outputChannels: g.inputChannels,
            kernelSize: Array(g.kernelSize.suffix(g.rank)), strides: [Int](repeating: 1, count: g.rank),
            dilations: Array(g.dilations.suffix(g.rank)),
            padding: .explicit(before: Array(before.suffix(g.rank)),
                               after: (0..<3).suffix(g.rank).map { (g.kernelSize[$0] - 1) * g.dilations[$0] - g.padAfter[$0] }),
            groups: g.groups)
        if usesWinograd(transposed) {
            return winogradForward(dy, flipped, nil, dx, transposed, relu: false, portable: portable)
        }
        let frame = PaddedFrame(source: g.outputSize, channels: cout, before: before, geometry: transposed)
        let (dys, fs, dxs) = (SharedPointer(dy), SharedPointer(flipped), SharedPointer(dx))
        Parallel.forEachChunk(g.batch) { images, _ in
            let padded = frame.allocate()
            defer { padded.deallocate() }
            for n in images {
                frame.fill(padded, from: dys.base + n * g.outputPixels * cout)
                for group in 0..<g.groups {
                    frame.forEachPlane(transposed, input: padded + group * og, output: dxs.base + n * g.inputPixels * g.inputChannels + group * cg,
                                       inputChannels: og, outputChannels: cg, outputPixelStride: g.inputChannels, weightRowStride: cg) { rows, output in
                        convkit_conv_rows_forward(&rows, fs.base + group * taps * og * cg, nil, output, 0, portable ? 1 : 0)
                    }
                }
            }
        }
    }
}

/// One image copied into a zero border, large enough that every window of `geometry` lies
/// inside it, and the row descriptions the kernels walk over it.
private struct PaddedFrame: Sendable {
    let source: [Int]      // depth, height, width of the image copied in
    let channels: Int
    let before: [Int]      // where the image starts in the frame
    let size: [Int]        // depth, height, width of the frame
    let tapOffsets: [Int64]

    init(source: [Int], channels: Int, before: [Int], geometry g: ConvGeometry) {
        self.source = source; self.channels = channels; self.before = before
        size = (0..<3).map { axis in
            let reach = (g.outputSize[axis] - 1) * g.strides[axis] + (g.kernelSize[axis] - 1) * g.dilations[axis] + 1
            // Winograd reads whole 6×6 tiles (4×4 outputs each): zeros past the edge.
            let tiles = ConvolutionDirect.usesWinograd(g) && axis > 0 ? 4 * ((g.outputSize[axis] + 3) / 4) + 2 : 0
            return max(reach, before[axis] + source[axis], tiles)
        }
        var offsets = [Int64]()
        for a in 0..<g.kernelSize[0] { for b in 0..<g.kernelSize[1] { for c in 0..<g.kernelSize[2] {
            offsets.append(Int64(((a * g.dilations[0] * size[1] + b * g.dilations[1]) * size[2] + c * g.dilations[2]) * channels))
        }}}
        tapOffsets = offsets
    }

    var count: Int { size.reduce(1, *) * channels }

    /// A frame whose border is zero; `fill` only ever writes the interior.
    func allocate() -> UnsafeMutablePointer<Float> {
        let frame = UnsafeMutablePointer<Float>.allocate(capacity: count)
        frame.initialize(repeating: 0, count: count)
        return frame
    }

    func fill(_ frame: UnsafeMutablePointer<Float>, from image: UnsafePointer<Float>) {
        let rowLength = source[2] * channels
        for z in 0..<source[0] { for y in 0..<source[1] {
            let target = frame + (((z + before[0]) * size[1] + y + before[1]) * size[2] + before[2]) * channels
            target.update(from: image + (z * source[1] + y) * rowLength, count: rowLength)
        }}
    }

    /// Calls `body` once per output plane (depth slice) with the rows of that plane.
    func forEachPlane(_ g: ConvGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                      inputChannels: Int, outputChannels: Int, outputPixelStride: Int, weightRowStride: Int,
                      _ body: (inout convkit_conv_rows, UnsafeMutablePointer<Float>) -> Void) {
        let (outH, outW) = (g.outputSize[1], g.outputSize[2])
        tapOffsets.withUnsafeBufferPointer { taps in
            for z in 0..<g.outputSize[0] {
                var rows = convkit_conv_rows(
                    input: input + z * g.strides[0] * size[1] * size[2] * channels,
                    rows: Int64(outH), pixels: Int64(outW),
                    inputRowStride: Int64(g.strides[1] * size[2] * channels), inputPixelStride: Int64(g.strides[2] * channels),
                    tapOffsets: taps.baseAddress!, taps: Int64(taps.count), channels: Int64(inputChannels),
                    weightRowStride: Int64(weightRowStride),
                    outputRowStride: Int64(outW * outputPixelStride), outputPixelStride: Int64(outputPixelStride),
                    outputChannels: Int64(outputChannels))
                body(&rows, output + z * outH * outW * outputPixelStride)
            }
        }
    }
}
