/// Max and average pooling over 1–3 spatial axes, channels-last. The geometry's channel
/// counts are the input's; kernel size is the pool size. Windows that hang over 'same'
/// padding see only real cells: max ignores the padding, average divides by the real count.
public enum Pooling {
    /// Returns the pooled tensor and, for each output value, the flat input index of the
    /// maximum (the first one on ties), which `maxBackward` routes the gradient to.
    public static func maxForward(_ input: Tensor, geometry g: ConvGeometry) -> (output: Tensor, argmax: [Int32]) {
        let c = g.inputChannels
        var out = Tensor(repeating: -.infinity, shape: g.outputShape)
        var argmax = [Int32](repeating: -1, count: out.count)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                argmax.withUnsafeMutableBufferPointer { am in
                    let (xs, ys, ams) = (SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!), SharedPointer(am.baseAddress!))
                    forEachImageRange(g, values: x.count) { images in
                        for n in images {
                            let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                            g.forEachTap { o, _, i in
                                let (src, dst) = (xBase + i * c, yBase + o * c)
                                for ch in 0..<c {
                                    // Selects rather than a branch; a window's first cell always wins (it may be −∞).
                                    let v = xs.base[src + ch], take = v > ys.base[dst + ch] || ams.base[dst + ch] < 0
                                    ys.base[dst + ch] = take ? v : ys.base[dst + ch]
                                    ams.base[dst + ch] = take ? Int32(src + ch) : ams.base[dst + ch]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (out, argmax)
    }

    public static func maxBackward(_ gradOutput: Tensor, argmax: [Int32], inputShape: [Int]) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        let batch = inputShape[0], perImage = argmax.count / max(batch, 1)
        dx.scalars.withUnsafeMutableBufferPointer { d in
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                argmax.withUnsafeBufferPointer { am in
                    let (ds, dys, ams) = (SharedPointer(d.baseAddress!), SharedPointer(dy.baseAddress!), SharedPointer(am.baseAddress!))
                    // Every window's maximum lies in its own image, so images split across workers safely.
                    Parallel.forEachChunk(batch, values: d.count) { images, _ in
                        for o in (images.lowerBound * perImage)..<(images.upperBound * perImage) where ams.base[o] >= 0 {
                            ds.base[Int(ams.base[o])] += dys.base[o]
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
