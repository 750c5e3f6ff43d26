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
                    for n in 0..<g.batch {
                        let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                        g.forEachTap { o, _, i in
                            for ch in 0..<c {
                                let src = xBase + i * c + ch, dst = yBase + o * c + ch
                                if x[src] > y[dst] || am[dst] < 0 { y[dst] = x[src]; am[dst] = Int32(src) }
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
        for (o, i) in argmax.enumerated() where i >= 0 { dx.scalars[Int(i)] += gradOutput.scalars[o] }
        return dx
    }

    public static func averageForward(_ input: Tensor, geometry g: ConvGeometry) -> Tensor {
        let c = g.inputChannels
        var out = Tensor(zeros: g.outputShape)
        let counts = cellCounts(g)
        input.scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { y in
                for n in 0..<g.batch {
                    let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                    g.forEachTap { o, _, i in
                        for ch in 0..<c { y[yBase + o * c + ch] += x[xBase + i * c + ch] }
                    }
                    for o in 0..<g.outputPixels {
                        let scale = 1 / Float(counts[o])
                        for ch in 0..<c { y[yBase + o * c + ch] *= scale }
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
                for n in 0..<g.batch {
                    let xBase = n * g.inputPixels * c, yBase = n * g.outputPixels * c
                    g.forEachTap { o, _, i in
                        let scale = 1 / Float(counts[o])
                        for ch in 0..<c { d[xBase + i * c + ch] += dy[yBase + o * c + ch] * scale }
                    }
                }
            }
        }
        return dx
    }

    /// How many real (non-padding) cells each output window covers.
    private static func cellCounts(_ g: ConvGeometry) -> [Int] {
        var counts = [Int](repeating: 0, count: g.outputPixels)
        g.forEachTap { o, _, _ in counts[o] += 1 }
        return counts
    }
}
