/// Max and average pooling over 1–3 spatial axes, channels-last. The geometry's channel
/// counts are the input's; kernel size is the pool size. Windows that hang over 'same'
/// padding see only real cells: max ignores the padding, average divides by the real count.
public enum Pooling {
    /// The maximum of each window. A NaN in a window makes its maximum NaN.
    public static func maxForward(_ input: Tensor, geometry g: ConvGeometry) -> Tensor {
        let c = g.inputChannels
        var out = Tensor(repeating: -.infinity, shape: g.outputShape)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                let (xs, ys) = (SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!))
                forEachImageRange(g, values: x.count) { images in
                    for n in images {
                        let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                        g.forEachTap { o, _, i in
                            let (x, y) = (xs.base + xBase + i * c, ys.base + yBase + o * c)
                            // A select, no argmax to keep: the loop vectorizes.
                            for ch in 0..<c { let v = x[ch], best = y[ch]; y[ch] = v > best || v != v ? v : best }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Routes each output gradient to the first cell of its window that holds the maximum
    /// (`output`, from `maxForward` on `input`), as an argmax would, without storing one.
    /// A window whose maximum is NaN passes no gradient.
    public static func maxBackward(_ gradOutput: Tensor, input: Tensor, output: Tensor, geometry g: ConvGeometry) -> Tensor {
        let c = g.inputChannels, vectorEnd = c / 8 * 8
        var dx = Tensor(zeros: g.inputShape)
        dx.scalars.withUnsafeMutableBufferPointer { d in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                input.scalars.withUnsafeBufferPointer { x in
                    output.scalars.withUnsafeBufferPointer { y in
                        let (ds, dys, xs, ys) = (SharedPointer(d.baseAddress!), SharedPointer(dy.baseAddress!),
                                                 SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!))
                        forEachImageRange(g, values: d.count) { images in
                            // 1 where the current window's maximum has had its gradient, per channel.
                            let routed = UnsafeMutablePointer<Float>.allocate(capacity: c)
                            defer { routed.deallocate() }
                            var window = -1
                            for n in images {
                                let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                                g.forEachTap { o, _, i in
                                    if o != window { window = o; routed.initialize(repeating: 0, count: c) }
                                    let (x, y) = (UnsafePointer(xs.base + xBase + i * c), UnsafePointer(ys.base + yBase + o * c))
                                    let (dx, gradient) = (ds.base + xBase + i * c, UnsafePointer(dys.base + yBase + o * c))
                                    for ch in stride(from: 0, to: vectorEnd, by: 8) {
                                        let done = routed.vector8(at: ch)
                                        let hit = (x.vector8(at: ch) .== y.vector8(at: ch)) .& (done .== 0)
                                        dx.store(dx.vector8(at: ch) + Vector8().replacing(with: gradient.vector8(at: ch), where: hit), at: ch)
                                        routed.store(done.replacing(with: 1, where: hit), at: ch)
                                    }
                                    for ch in vectorEnd..<c where routed[ch] == 0 && x[ch] == y[ch] {
                                        dx[ch] += gradient[ch]; routed[ch] = 1
                                    }
                                }
                                window = -1
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    public static func averageForward(_ input: Tensor, geometry g: ConvGeometry) -> Tensor {
        let c = g.inputChannels
        var out = Tensor(zeros: g.outputShape)
        let counts = cellCounts(g)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                let (xs, ys) = (SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!))
                forEachImageRange(g, values: x.count) { images in
                    for n in images {
                        let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                        g.forEachTap { o, _, i in
                            for ch in 0..<c { ys.base[yBase + o * c + ch] += xs.base[xBase + i * c + ch] }
                        }
                        for o in 0..<g.outputPixels {
                            let scale = 1 / Float(counts[o])
                            for ch in 0..<c { ys.base[yBase + o * c + ch] *= scale }
                        }
                    }
                }
            }
        }
        return out
    }

    public static func averageBackward(_ gradOutput: Tensor, geometry g: ConvGeometry) -> Tensor {
        let c = g.inputChannels
        var dx = Tensor(zeros: g.inputShape)
        let counts = cellCounts(g)
        gradOutput.scalars.withUnsafeBufferPointer { dy in
            dx.scalars.withUnsafeMutableBufferPointer { d in
                let (dys, ds) = (SharedPointer(dy.baseAddress!), SharedPointer(d.baseAddress!))
                forEachImageRange(g, values: d.count) { images in
                    for n in images {
                        let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                        g.forEachTap { o, _, i in
                            let scale = 1 / Float(counts[o])
                            for ch in 0..<c { ds.base[xBase + i * c + ch] += dys.base[yBase + o * c + ch] * scale }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Images are independent: split them across the workers when the tensor is large.
    private static func forEachImageRange(_ g: ConvGeometry, values: Int, _ body: @Sendable (Range<Int>) -> Void) {
        Parallel.forEachChunk(g.batch, values: values) { images, _ in body(images) }
    }

    /// How many real (non-padding) cells each output window covers.
    private static func cellCounts(_ g: ConvGeometry) -> [Int] {
        var counts = [Int](repeating: 0, count: g.outputPixels)
        g.forEachTap { o, _, _ in counts[o] += 1 }
        return counts
    }
}
