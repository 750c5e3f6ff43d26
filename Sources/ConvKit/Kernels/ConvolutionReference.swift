/// Direct convolution by definition, one multiply-add at a time: the oracle that the fast
/// kernels in `Convolution` are tested against. Layouts as in `Convolution`.
public enum ConvolutionReference {
    public static func forward(_ input: Tensor, kernel: Tensor, bias: Tensor?, geometry g: ConvGeometry) -> Tensor {
        var out = Tensor(zeros: g.outputShape)
        let (cin, cout, cg, og) = (g.inputChannels, g.outputChannels, g.inputChannelsPerGroup, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let xBase = n * g.inputPixels * cin, yBase = n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                for oc in 0..<cout {
                    let group = oc / og
                    var sum: Float = 0
                    for ic in 0..<cg {
                        sum += input.scalars[xBase + i * cin + group * cg + ic] * kernel.scalars[(t * cg + ic) * cout + oc]
                    }
                    out.scalars[yBase + o * cout + oc] += sum
                }
            }
            if let bias {
                for o in 0..<g.outputPixels { for oc in 0..<cout { out.scalars[yBase + o * cout + oc] += bias.scalars[oc] } }
            }
        }
        return out
    }

    public static func backwardInput(_ gradOutput: Tensor, kernel: Tensor, geometry g: ConvGeometry) -> Tensor {
        var dx = Tensor(zeros: g.inputShape)
        let (cin, cout, cg, og) = (g.inputChannels, g.outputChannels, g.inputChannelsPerGroup, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let xBase = n * g.inputPixels * cin, yBase = n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                for oc in 0..<cout {
                    let group = oc / og, dy = gradOutput.scalars[yBase + o * cout + oc]
                    for ic in 0..<cg {
                        dx.scalars[xBase + i * cin + group * cg + ic] += dy * kernel.scalars[(t * cg + ic) * cout + oc]
                    }
                }
            }
        }
        return dx
    }

    public static func backwardKernel(_ input: Tensor, gradOutput: Tensor, geometry g: ConvGeometry) -> Tensor {
        var dw = Tensor(zeros: g.kernelShape)
        let (cin, cout, cg, og) = (g.inputChannels, g.outputChannels, g.inputChannelsPerGroup, g.outputChannelsPerGroup)
        for n in 0..<g.batch {
            let xBase = n * g.inputPixels * cin, yBase = n * g.outputPixels * cout
            g.forEachTap { o, t, i in
                for oc in 0..<cout {
                    let group = oc / og, dy = gradOutput.scalars[yBase + o * cout + oc]
                    for ic in 0..<cg {
                        dw.scalars[(t * cg + ic) * cout + oc] += dy * input.scalars[xBase + i * cin + group * cg + ic]
                    }
                }
            }
        }
        return dw
    }

    /// Sum of the output gradient over every axis but the last.
    public static func backwardBias(_ gradOutput: Tensor) -> Tensor {
        let c = gradOutput.shape.last!
        var db = Tensor(zeros: [c])
        for (i, v) in gradOutput.scalars.enumerated() { db.scalars[i % c] += v }
        return db
    }
}
