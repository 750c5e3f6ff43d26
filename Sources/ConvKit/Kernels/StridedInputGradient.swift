import CKernels

/// The input gradient of a strided (or over-padded) convolution on the direct kernel, split by
/// phase: along an axis with stride s, the input positions i with the same (i + padBefore) mod s
/// receive gradient from the same kernel taps, spaced evenly. Each phase is then a stride-1
/// convolution of the output gradient with those taps flipped, written to every s-th input
/// position, so no multiply is wasted on the zeros a transposed convolution would insert, and
/// nothing is scattered back as im2col's col2im does.
///
/// Along one axis (kernel K, stride s, dilation d, padding P), position i = q·s + r − P of phase
/// r gets Σ dy[o]·w[b] over the taps b with b·d ≡ r (mod s), o = (q·s + r − b·d) / s. Those taps
/// are b₀, b₀ + s/g, … (g = gcd(s, d)), and o steps back by d/g from one to the next.
extension ConvolutionDirect {
    /// One phase along one axis.
    struct AxisPhase: Sendable {
        /// The first q (input position q·s + r − P) and how many there are.
        let first: Int, count: Int
        /// The kernel taps of this phase, in the order the flipped kernel reads them, and the
        /// distance between their reads in the output gradient.
        let taps: [Int], tapDistance: Int
        /// Where the read for q = `first`, tap 0, lies, in the padded output gradient's frame.
        let frameStart: Int
        /// The input position of q = `first`.
        let inputStart: Int
    }

    /// The phases of one axis, and the frame size (with the output gradient placed at
    /// `border`) that every read stays inside.
    static func axisPhases(kernel k: Int, stride s: Int, dilation d: Int, padBefore p: Int, inputSize n: Int, outputSize o: Int)
        -> (phases: [AxisPhase], border: Int, frame: Int) {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        func floorDivision(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
        let step = s / gcd(s, d), distance = d / gcd(s, d), border = (k - 1) * d
        var phases = [AxisPhase](), frame = border + o
        for r in 0..<s {
            let first = max(0, -floorDivision(r - p, s)), last = floorDivision(n - 1 + p - r, s)
            guard last >= first, let b0 = (0..<min(k, step)).first(where: { (($0 * d - r) % s + s) % s == 0 }) else { continue }
            let taps = Array(stride(from: b0, to: k, by: step))
            let offset = (r - b0 * d) / s  // o − q for tap b₀
            phases.append(AxisPhase(first: first, count: last - first + 1, taps: taps.reversed(), tapDistance: distance,
                                    frameStart: first + offset - (taps.count - 1) * distance + border, inputStart: first * s + r - p))
            frame = max(frame, last + offset + border + 1)
        }
        return (phases, border, frame)
    }

    /// Overwrites `dx` with the input gradient of any convolution the direct kernel runs.
    static func backwardInputByPhase(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     _ g: ConvGeometry, isa: InstructionSet = .active) {
        let (cg, og, cin, cout) = (g.inputChannelsPerGroup, g.outputChannelsPerGroup, g.inputChannels, g.outputChannels)
        let axes = (0..<3).map { a in
            axisPhases(kernel: g.kernelSize[a], stride: g.strides[a], dilation: g.dilations[a], padBefore: g.padBefore[a],
                       inputSize: g.inputSize[a], outputSize: g.outputSize[a])
        }
        let frameSize = axes.map(\.frame), border = axes.map(\.border)
        // Input positions of no phase (a stride above the dilated kernel's reach) get no gradient.
        let coversEveryInput = (0..<3).allSatisfy { a in axes[a].phases.map(\.count).reduce(0, +) == g.inputSize[a] }

        // Each phase's flipped kernel, [tap][output channel o][group·cg + c], and its taps' offsets in the frame.
        struct Phase: Sendable { let z: AxisPhase, y: AxisPhase, x: AxisPhase, weights: [Float], tapOffsets: [Int64] }
        var phases = [Phase]()
        for z in axes[0].phases { for y in axes[1].phases { for x in axes[2].phases {
            var weights = [Float](), offsets = [Int64]()
            for (jz, bz) in z.taps.enumerated() { for (jy, by) in y.taps.enumerated() { for (jx, bx) in x.taps.enumerated() {
                let tap = (bz * g.kernelSize[1] + by) * g.kernelSize[2] + bx
                for o in 0..<og { for group in 0..<g.groups { for c in 0..<cg {
                    weights.append(w[(tap * cg + c) * cout + group * og + o])
                }}}
                offsets.append(Int64(((jz * z.tapDistance * frameSize[1] + jy * y.tapDistance) * frameSize[2] + jx * x.tapDistance) * cout))
            }}}
            phases.append(Phase(z: z, y: y, x: x, weights: weights, tapOffsets: offsets))
        }}}

        let (dxs, allPhases, imageIn) = (SharedPointer(dx), phases, g.inputPixels * cin)
        // Each image of dy in a zero border wide enough for every phase's reads.
        let padded = PaddedFrame(source: g.outputSize, channels: cout, before: border, size: frameSize)
        padded.forEachImage(batch: g.batch, of: dy, balanced: true) { n, frame, _, _ in
            let image = dxs.base + n * imageIn
            if !coversEveryInput { image.initialize(repeating: 0, count: imageIn) }
            for phase in allPhases {
                phase.weights.withUnsafeBufferPointer { weights in
                    phase.tapOffsets.withUnsafeBufferPointer { taps in
                        for group in 0..<g.groups {
                            for q in 0..<phase.z.count {
                                var rows = convkit_conv_rows(
                                    input: frame + (((phase.z.frameStart + q) * frameSize[1] + phase.y.frameStart) * frameSize[2]
                                                    + phase.x.frameStart) * cout + group * og,
                                    rows: Int64(phase.y.count), pixels: Int64(phase.x.count),
                                    inputRowStride: Int64(frameSize[2] * cout), inputPixelStride: Int64(cout),
                                    tapOffsets: taps.baseAddress!, taps: Int64(taps.count), channels: Int64(og),
                                    weightRowStride: Int64(cin),
                                    outputRowStride: Int64(g.strides[1] * g.inputSize[2] * cin), outputPixelStride: Int64(g.strides[2] * cin),
                                    outputChannels: Int64(cg))
                                let inputZ = phase.z.inputStart + q * g.strides[0]
                                let output = image + ((inputZ * g.inputSize[1] + phase.y.inputStart) * g.inputSize[2] + phase.x.inputStart) * cin
                                convkit_conv_rows_forward(&rows, weights.baseAddress! + group * cg, nil, output + group * cg, 0, isa.code)
                            }
                        }
                    }
                }
            }
        }
    }
}
