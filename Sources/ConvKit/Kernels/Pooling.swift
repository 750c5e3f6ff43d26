import CKernels

/// Max and average pooling over 1–3 spatial axes, channels-last. The geometry's channel counts
/// are the input's; kernel size is the pool size. Windows that hang over 'same' padding see
/// only real cells: max ignores the padding, average divides by the real count. Max pooling's
/// loops are C, one per instruction set (CKernels/channel_template.h); PoolingReference is
/// their naive twin.
public enum Pooling {
    /// The maximum of each window. A NaN in a window makes its maximum NaN.
    public static func maxForward(_ input: Tensor, geometry g: ConvGeometry, isa: InstructionSet = .active) -> Tensor {
        let c = g.inputChannels, taps = tapPairs(g)
        var out = Tensor(repeating: -.infinity, shape: g.outputShape)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                taps.withUnsafeBufferPointer { t in
                    let (xs, ys, ts, code) = (SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!), SharedPointer(t.baseAddress!), isa.code)
                    forEachImageRange(g, values: x.count) { images in
                        let first = images.lowerBound
                        convkit_max_pool(xs.base + first * g.inputPixels * c, ys.base + first * g.outputPixels * c, Int64(images.count),
                                         Int64(g.inputPixels), Int64(g.outputPixels), Int64(c), ts.base, Int64(taps.count / 2), code)
                    }
                }
            }
        }
        return out
    }

    /// Routes each output gradient to the first cell of its window that holds the maximum
    /// (`output`, from `maxForward` on `input`), as an argmax would, without storing one.
    /// A window whose maximum is NaN passes no gradient.
    public static func maxBackward(_ gradOutput: Tensor, input: Tensor, output: Tensor, geometry g: ConvGeometry,
                                   isa: InstructionSet = .active) -> Tensor {
        let c = g.inputChannels, taps = tapPairs(g)
        return Tensor(shape: g.inputShape) { d in   // each image zeroed by the kernel before it routes
            gradOutput.scalars.withUnsafeBufferPointer { dy in
                input.scalars.withUnsafeBufferPointer { x in
                    output.scalars.withUnsafeBufferPointer { y in
                        taps.withUnsafeBufferPointer { t in
                            let (ds, dys, xs, ys) = (SharedPointer(d.baseAddress!), SharedPointer(dy.baseAddress!),
                                                     SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!))
                            let (ts, code) = (SharedPointer(t.baseAddress!), isa.code)
                            forEachImageRange(g, values: d.count) { images in
                                // 1 where the current window's maximum has had its gradient, per channel.
                                let routed = UnsafeMutablePointer<Float>.allocate(capacity: c)
                                defer { routed.deallocate() }
                                let (inputAt, outputAt) = (images.lowerBound * g.inputPixels * c, images.lowerBound * g.outputPixels * c)
                                convkit_max_pool_gradient(dys.base + outputAt, xs.base + inputAt, ys.base + outputAt, ds.base + inputAt,
                                                          routed, Int64(images.count), Int64(g.inputPixels), Int64(g.outputPixels),
                                                          Int64(c), ts.base, Int64(taps.count / 2), code)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The mean of each window's real cells (the per-path tap loops of channel_kernels.c).
    public static func averageForward(_ input: Tensor, geometry g: ConvGeometry, isa: InstructionSet = .active) -> Tensor {
        let c = g.inputChannels
        var out = Tensor(zeros: g.outputShape)
        let (taps, scales) = averageTaps(g)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                let (xs, ys, code) = (SharedPointer(x.baseAddress!), SharedPointer(y.baseAddress!), isa.code)
                let (xImage, yImage) = (g.inputPixels * c, g.outputPixels * c)
                forEachImageRange(g, values: x.count) { images in
                    convkit_tap_scaled_sums(xs.base + images.lowerBound * xImage, Int64(xImage), scales, ys.base + images.lowerBound * yImage,
                                            Int64(yImage), taps, Int64(scales.count), Int64(images.count), Int64(c), code)
                }
            }
        }
        return out
    }

    /// Each output gradient spread evenly over its window's real cells.
    public static func averageBackward(_ gradOutput: Tensor, geometry g: ConvGeometry, isa: InstructionSet = .active) -> Tensor {
        let c = g.inputChannels
        var dx = Tensor(zeros: g.inputShape)
        let (forwardTaps, scales) = averageTaps(g)
        // The same taps read the other way: (input pixel, output pixel).
        var swapped = forwardTaps
        for t in 0..<scales.count { swapped.swapAt(2 * t, 2 * t + 1) }
        let taps = swapped
        gradOutput.scalars.withUnsafeBufferPointer { dy in
            dx.scalars.withUnsafeMutableBufferPointer { d in
                let (dys, ds, code) = (SharedPointer(dy.baseAddress!), SharedPointer(d.baseAddress!), isa.code)
                let (xImage, yImage) = (g.inputPixels * c, g.outputPixels * c)
                forEachImageRange(g, values: d.count) { images in
                    convkit_tap_scaled_sums(dys.base + images.lowerBound * yImage, Int64(yImage), scales, ds.base + images.lowerBound * xImage,
                                            Int64(xImage), taps, Int64(scales.count), Int64(images.count), Int64(c), code)
                }
            }
        }
        return dx
    }

    /// The (output, input) pixel pairs of the windows and, per pair, one over its window's
    /// count of real cells.
    private static func averageTaps(_ g: ConvGeometry) -> (taps: [Int64], scales: [Float]) {
        let counts = cellCounts(g), taps = tapPairs(g)
        return (taps, (0..<(taps.count / 2)).map { 1 / Float(counts[Int(taps[2 * $0])]) })
    }

    /// Images are independent: split them across the workers when the tensor is large.
    private static func forEachImageRange(_ g: ConvGeometry, values: Int, _ body: @Sendable (Range<Int>) -> Void) {
        Parallel.forEachChunk(g.batch, values: values) { images, _ in body(images) }
    }

    /// Every (output pixel, input pixel) pair of one image's windows, flattened, in window order:
    /// the taps the C kernels walk (CKernels/channel_template.h).
    static func tapPairs(_ g: ConvGeometry) -> [Int64] {
        var pairs = [Int64]()
        g.forEachTap { o, _, i in pairs.append(Int64(o)); pairs.append(Int64(i)) }
        return pairs
    }

    /// How many real (non-padding) cells each output window covers.
    private static func cellCounts(_ g: ConvGeometry) -> [Int] {
        var counts = [Int](repeating: 0, count: g.outputPixels)
        g.forEachTap { o, _, _ in counts[o] += 1 }
        return counts
    }
}
