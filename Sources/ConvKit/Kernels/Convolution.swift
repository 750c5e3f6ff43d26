/// The convolution core behind every conv layer: N-dimensional (rank 1–3), channels-last
/// input `[batch, spatial…, cin]`, HWIO kernel `[spatial…, cin/groups, cout]`, with strides,
/// dilation, groups and padding taken from a `ConvGeometry`.
///
/// Grouped and dense convolutions run as im2col + one GEMM per image and group (pointwise
/// convolutions skip the im2col copy). Depthwise convolutions (one input channel per group)
/// run a direct loop whose inner loop walks contiguous channels. `ConvolutionReference` is
/// the naive twin these are tested against.
public enum Convolution {
    public static func forward(_ input: Tensor, kernel: Tensor, bias: Tensor?, geometry g: ConvGeometry) -> Tensor {
        check(input, g.inputShape, "input"); check(kernel, g.kernelShape, "kernel")
        var out = Tensor(zeros: g.outputShape)
        input.scalars.withUnsafeBufferPointer { x in
            kernel.scalars.withUnsafeBufferPointer { w in
                out.scalars.withUnsafeMutableBufferPointer { y in
                    if g.inputChannelsPerGroup == 1 && g.groups > 1 {
                        depthwiseForward(x.baseAddress!, w.baseAddress!, y.baseAddress!, g)
                    } else {
                        gemmForward(x.baseAddress!, w.baseAddress!, y.baseAddress!, g)
                    }
                    if let bias {
                        bias.scalars.withUnsafeBufferPointer { b in
                            let c = g.outputChannels
                            for p in 0..<(g.batch * g.outputPixels) {
                                let row = y.baseAddress! + p * c
                                for oc in 0..<c { row[oc] += b[oc] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    public static func backwardInput(_ gradOutput: Tensor, kernel: Tensor, geometry g: ConvGeometry) -> Tensor {
        check(gradOutput, g.outputShape, "output gradient"); check(kernel, g.kernelShape, "kernel")
        var dx = Tensor(zeros: g.inputShape)
        gradOutput.scalars.withUnsafeBufferPointer { dy in
            kernel.scalars.withUnsafeBufferPointer { w in
                dx.scalars.withUnsafeMutableBufferPointer { dxp in
                    if g.inputChannelsPerGroup == 1 && g.groups > 1 {
                        depthwiseBackwardInput(dy.baseAddress!, w.baseAddress!, dxp.baseAddress!, g)
                    } else {
                        gemmBackwardInput(dy.baseAddress!, w.baseAddress!, dxp.baseAddress!, g)
                    }
                }
            }
        }
        return dx
    }

    public static func backwardKernel(_ input: Tensor, gradOutput: Tensor, geometry g: ConvGeometry) -> Tensor {
        check(input, g.inputShape, "input"); check(gradOutput, g.outputShape, "output gradient")
        var dw = Tensor(zeros: g.kernelShape)
        input.scalars.withUnsafeBufferPointer { x in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                dw.scalars.withUnsafeMutableBufferPointer { dwp in
                    if g.inputChannelsPerGroup == 1 && g.groups > 1 {
                        depthwiseBackwardKernel(x.baseAddress!, dy.baseAddress!, dwp.baseAddress!, g)
                    } else {
                        gemmBackwardKernel(x.baseAddress!, dy.baseAddress!, dwp.baseAddress!, g)
                    }
                }
            }
        }
        return dw
    }

    /// Sum of the output gradient over batch and pixels, per output channel.
    public static func backwardBias(_ gradOutput: Tensor) -> Tensor {
        let c = gradOutput.shape.last!
        var db = Tensor(zeros: [c])
        gradOutput.scalars.withUnsafeBufferPointer { dy in
            db.scalars.withUnsafeMutableBufferPointer { b in
                for p in 0..<(dy.count / c) {
                    let row = dy.baseAddress! + p * c
                    for oc in 0..<c { b[oc] += row[oc] }
                }
            }
        }
        return db
    }

    private static func check(_ t: Tensor, _ shape: [Int], _ what: String) {
        precondition(t.shape == shape, "convolution \(what) has shape \(t.shape), expected \(shape)")
    }

    // MARK: im2col + GEMM

    private static func gemmForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (P, K, cin, cout) = (g.outputPixels, g.patchLength, g.inputChannels, g.outputChannels)
        if g.isPointwise {
            // [batch·pixels, cin] × [cin, cout]: the input already is the im2col matrix.
            for group in 0..<g.groups {
                GEMM.multiply(m: g.batch * P, n: g.outputChannelsPerGroup, k: K,
                              a: x + group * K, lda: cin, b: w + group * g.outputChannelsPerGroup, ldb: cout,
                              c: y + group * g.outputChannelsPerGroup, ldc: cout)
            }
            return
        }
        let (xs, ws, ys) = (SharedPointer(x), SharedPointer(w), SharedPointer(y))
        Parallel.forEachChunk(g.batch) { images, _ in
            let col = UnsafeMutablePointer<Float>.allocate(capacity: P * K)
            defer { col.deallocate() }
            for n in images {
                for group in 0..<g.groups {
                    im2col(xs.base + n * g.inputPixels * cin, col, g, group: group)
                    GEMM.multiply(m: P, n: g.outputChannelsPerGroup, k: K,
                                  a: col, lda: K, b: ws.base + group * g.outputChannelsPerGroup, ldb: cout,
                                  c: ys.base + n * P * cout + group * g.outputChannelsPerGroup, ldc: cout, parallel: false)
                }
            }
        }
    }

    private static func gemmBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (P, K, cin, cout, og) = (g.outputPixels, g.patchLength, g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        if g.isPointwise {
            for group in 0..<g.groups {
                GEMM.multiply(transposeB: true, m: g.batch * P, n: K, k: og,
                              a: dy + group * og, lda: cout, b: w + group * og, ldb: cout,
                              c: dx + group * K, ldc: cin)
            }
            return
        }
        let (dys, ws, dxs) = (SharedPointer(dy), SharedPointer(w), SharedPointer(dx))
        Parallel.forEachChunk(g.batch) { images, _ in
            let col = UnsafeMutablePointer<Float>.allocate(capacity: P * K)
            defer { col.deallocate() }
            for n in images {
                for group in 0..<g.groups {
                    GEMM.multiply(transposeB: true, m: P, n: K, k: og,
                                  a: dys.base + n * P * cout + group * og, lda: cout, b: ws.base + group * og, ldb: cout,
                                  c: col, ldc: K, parallel: false)
                    col2im(col, dxs.base + n * g.inputPixels * cin, g, group: group)
                }
            }
        }
    }

    private static func gemmBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (P, K, cin, cout, og) = (g.outputPixels, g.patchLength, g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        if g.isPointwise {
            for group in 0..<g.groups {
                GEMM.multiply(transposeA: true, m: K, n: og, k: g.batch * P,
                              a: x + group * K, lda: cin, b: dy + group * og, ldb: cout,
                              c: dw + group * og, ldc: cout)
            }
            return
        }
        // Each worker sums its images into its own partial kernel gradient; the partials are
        // added in worker order, so a given thread count always gives the same numbers.
        let size = K * cout, workers = min(Parallel.workers, g.batch)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: size * workers)
        partials.initialize(repeating: 0, count: size * workers)
        defer { partials.deallocate() }
        let (xs, dys, ps) = (SharedPointer(x), SharedPointer(dy), SharedPointer(partials))
        Parallel.forEachChunk(g.batch) { images, worker in
            let col = UnsafeMutablePointer<Float>.allocate(capacity: P * K)
            defer { col.deallocate() }
            let partial = ps.base + worker * size
            for n in images {
                for group in 0..<g.groups {
                    im2col(xs.base + n * g.inputPixels * cin, col, g, group: group)
                    GEMM.multiply(transposeA: true, m: K, n: og, k: P,
                                  a: col, lda: K, b: dys.base + n * P * cout + group * og, ldb: cout,
                                  beta: 1, c: partial + group * og, ldc: cout, parallel: false)
                }
            }
        }
        for worker in 0..<workers {
            let partial = partials + worker * size
            for i in 0..<size { dw[i] += partial[i] }
        }
    }

    /// Copies every window of one image (channels of `group` only) into a row of `col`:
    /// `col[pixel, (tap, channel)]`, zeros where the window hangs over the padding.
    static func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, group: Int) {
        walkPatches(col, g, group: group) { row, source in
            if let source { row.update(from: image + source, count: g.inputChannelsPerGroup) }
            else { row.update(repeating: 0, count: g.inputChannelsPerGroup) }
        }
    }

    /// The adjoint of `im2col`: adds each row segment back onto the pixel it came from.
    static func col2im(_ col: UnsafeMutablePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvGeometry, group: Int) {
        let cg = g.inputChannelsPerGroup
        walkPatches(col, g, group: group) { row, source in
            if let source {
                let dst = image + source
                for c in 0..<cg { dst[c] += row[c] }
            }
        }
    }

    /// Visits each (output pixel, tap) segment of the im2col matrix with the input offset
    /// it maps to, or nil in the padding.
    @inline(__always)
    private static func walkPatches(_ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry, group: Int,
                                    _ body: (UnsafeMutablePointer<Float>, Int?) -> Void) {
        let cin = g.inputChannels, cg = g.inputChannelsPerGroup
        let (ih, iw) = (g.inputSize[1], g.inputSize[2])
        var segment = col
        for z in 0..<g.outputSize[0] { for y in 0..<g.outputSize[1] { for x in 0..<g.outputSize[2] {
            for a in 0..<g.kernelSize[0] {
                let iz = z * g.strides[0] - g.padBefore[0] + a * g.dilations[0]
                let zInside = iz >= 0 && iz < g.inputSize[0]
                for b in 0..<g.kernelSize[1] {
                    let iy = y * g.strides[1] - g.padBefore[1] + b * g.dilations[1]
                    let yInside = zInside && iy >= 0 && iy < ih
                    for c in 0..<g.kernelSize[2] {
                        let ix = x * g.strides[2] - g.padBefore[2] + c * g.dilations[2]
                        let inside = yInside && ix >= 0 && ix < iw
                        body(segment, inside ? ((iz * ih + iy) * iw + ix) * cin + group * cg : nil)
                        segment += cg
                    }
                }
            }
        }}}
    }

    // MARK: Depthwise (one input channel per group, `multiplier` outputs each)

    private static func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let xi = x + n * g.inputPixels * cin, yi = y + n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                let dst = yi + o * cout, src = xi + i * cin, wt = w + t * cout
                if m == 1 {
                    for c in 0..<cout { dst[c] += src[c] * wt[c] }
                } else {
                    for oc in 0..<cout { dst[oc] += src[oc / m] * wt[oc] }
                }
            }
        }
    }

    private static func depthwiseBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let dxi = dx + n * g.inputPixels * cin, dyi = dy + n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                let src = dyi + o * cout, dst = dxi + i * cin, wt = w + t * cout
                if m == 1 {
                    for c in 0..<cin { dst[c] += src[c] * wt[c] }
                } else {
                    for oc in 0..<cout { dst[oc / m] += src[oc] * wt[oc] }
                }
            }
        }
    }

    private static func depthwiseBackwardKernel(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
        let (cin, cout, m) = (g.inputChannels, g.outputChannels, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let xi = x + n * g.inputPixels * cin, dyi = dy + n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                let src = xi + i * cin, grad = dyi + o * cout, dst = dw + t * cout
                if m == 1 {
                    for c in 0..<cout { dst[c] += src[c] * grad[c] }
                } else {
                    for oc in 0..<cout { dst[oc] += src[oc / m] * grad[oc] }
                }
            }
        }
    }
}
