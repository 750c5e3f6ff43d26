/// How a convolution or pooling window pads its input.
public enum Padding: Equatable, Sendable {
    /// No padding: the output shrinks by `dilation·(kernel−1)`.
    case valid
    /// Zero padding so the output size is `⌈n/stride⌉`; an odd total puts the extra
    /// pixel after (bottom/right), as TensorFlow does.
    case same
    /// Explicit amounts before and after, one pair per spatial axis.
    case explicit(before: [Int], after: [Int])
}

/// A sliding window over the spatial axes: enough to follow the receptive field.
public struct Window: Sendable {
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    /// Transposed convolutions upsample: each output sees fewer input positions.
    public var transposed = false
}

/// The shape arithmetic of one N-dimensional sliding-window operation (rank 1, 2 or 3).
///
/// Every spatial array has three entries (depth, height, width); lower ranks use 1 for
/// the leading axes, so one 3-D kernel serves Conv1D, Conv2D and Conv3D.
public struct ConvGeometry: Equatable, Sendable {
    public let rank: Int
    /// The only field that may change after creation: one geometry serves any batch size.
    public var batch: Int
    public let inputSize: [Int]
    public let outputSize: [Int]
    public let kernelSize: [Int]
    public let strides: [Int]
    public let dilations: [Int]
    public let padBefore: [Int]
    public let padAfter: [Int]
    public let inputChannels: Int
    public let outputChannels: Int
    public let groups: Int

    public var inputChannelsPerGroup: Int { inputChannels / groups }
    public var outputChannelsPerGroup: Int { outputChannels / groups }
    public var inputPixels: Int { inputSize.reduce(1, *) }
    public var outputPixels: Int { outputSize.reduce(1, *) }
    public var kernelTaps: Int { kernelSize.reduce(1, *) }
    /// Length of one patch row (the strided input gradient's GEMM): taps × input channels of a group.
    public var patchLength: Int { kernelTaps * inputChannelsPerGroup }
    public var inputShape: [Int] { [batch] + inputSize.suffix(rank) + [inputChannels] }
    public var outputShape: [Int] { [batch] + outputSize.suffix(rank) + [outputChannels] }
    /// The kernel in HWIO order: spatial…, input channels per group, output channels.
    public var kernelShape: [Int] { kernelSize.suffix(rank) + [inputChannelsPerGroup, outputChannels] }

    /// Spatial arrays are given with `rank` entries (outermost first).
    public init(batch: Int, inputSize: [Int], inputChannels: Int, outputChannels: Int,
                kernelSize: [Int], strides: [Int], dilations: [Int], padding: Padding,
                groups: Int = 1) throws {
        let rank = inputSize.count
        guard (1...3).contains(rank), kernelSize.count == rank, strides.count == rank,
              dilations.count == rank else {
            throw ConvKitError("expected \(inputSize.count) entries in kernel size, strides and dilation rate")
        }
        guard groups >= 1, inputChannels % groups == 0, outputChannels % groups == 0 else {
            throw ConvKitError("groups=\(groups) must divide input channels (\(inputChannels)) and filters (\(outputChannels))")
        }
        guard kernelSize.allSatisfy({ $0 >= 1 }), strides.allSatisfy({ $0 >= 1 }),
              dilations.allSatisfy({ $0 >= 1 }) else {
            throw ConvKitError("kernel size, strides and dilation rate must be positive, got \(kernelSize), \(strides), \(dilations)")
        }
        var output = [Int](), before = [Int](), after = [Int]()
        for axis in 0..<rank {
            let n = inputSize[axis], s = strides[axis]
            let span = dilations[axis] * (kernelSize[axis] - 1) + 1
            switch padding {
            case .valid:
                output.append(n >= span ? (n - span) / s + 1 : 0)
                before.append(0); after.append(0)
            case .same:
                let out = (n + s - 1) / s
                let total = max((out - 1) * s + span - n, 0)
                output.append(out)
                before.append(total / 2); after.append(total - total / 2)
            case .explicit(let b, let a):
                guard b.count == rank, a.count == rank, b.allSatisfy({ $0 >= 0 }), a.allSatisfy({ $0 >= 0 }) else {
                    throw ConvKitError("explicit padding needs \(rank) non-negative amounts before and after")
                }
                let padded = n + b[axis] + a[axis]
                output.append(padded >= span ? (padded - span) / s + 1 : 0)
                before.append(b[axis]); after.append(a[axis])
            }
            if output[axis] < 1 {
                throw ConvKitError("window of \(span) (kernel \(kernelSize[axis]), dilation \(dilations[axis])) does not fit the input size \(n) on spatial axis \(axis + 1) with this padding")
            }
        }
        let lead = 3 - rank
        func pad3(_ v: [Int], _ fill: Int) -> [Int] { [Int](repeating: fill, count: lead) + v }
        self.rank = rank
        self.batch = batch
        self.inputSize = pad3(inputSize, 1)
        self.outputSize = pad3(output, 1)
        self.kernelSize = pad3(kernelSize, 1)
        self.strides = pad3(strides, 1)
        self.dilations = pad3(dilations, 1)
        self.padBefore = pad3(before, 0)
        self.padAfter = pad3(after, 0)
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.groups = groups
    }

    /// The sliding window on the spatial axes, for receptive-field arithmetic.
    public func window(transposed: Bool = false) -> Window {
        Window(kernel: Array(kernelSize.suffix(rank)), strides: Array(strides.suffix(rank)),
               dilations: Array(dilations.suffix(rank)), transposed: transposed)
    }

    /// True when every window reads exactly one input pixel at its own position.
    var isPointwise: Bool {
        kernelTaps == 1 && strides == [1, 1, 1] && padBefore == [0, 0, 0] && padAfter == [0, 0, 0]
    }

    /// Calls `body(outputPixel, tap, inputPixel)` for every window position that lands
    /// inside the input (padding positions are skipped). Shared by the reference kernels.
    func forEachTap(_ body: (Int, Int, Int) -> Void) {
        let (od, oh, ow) = (outputSize[0], outputSize[1], outputSize[2])
        let (kd, kh, kw) = (kernelSize[0], kernelSize[1], kernelSize[2])
        for z in 0..<od { for y in 0..<oh { for x in 0..<ow {
            let o = (z * oh + y) * ow + x
            for a in 0..<kd {
                let iz = z * strides[0] - padBefore[0] + a * dilations[0]
                if iz < 0 || iz >= inputSize[0] { continue }
                for b in 0..<kh {
                    let iy = y * strides[1] - padBefore[1] + b * dilations[1]
                    if iy < 0 || iy >= inputSize[1] { continue }
                    for c in 0..<kw {
                        let ix = x * strides[2] - padBefore[2] + c * dilations[2]
                        if ix < 0 || ix >= inputSize[2] { continue }
                        body(o, (a * kh + b) * kw + c, (iz * inputSize[1] + iy) * inputSize[2] + ix)
                    }
                }
            }
        }}}
    }
}
