import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Fast kernels against their naive twins, within 1e-5 relative.
@Suite struct KernelTests {
    struct Case: Sendable, CustomStringConvertible {
        let input: [Int], cin: Int, cout: Int, kernel: [Int], strides: [Int], dilations: [Int], padding: Padding, groups: Int
        var description: String { "in \(input)×\(cin) → \(cout), k \(kernel), s \(strides), d \(dilations), \(padding), groups \(groups)" }
    }

    static let cases: [Case] = [
        Case(input: [9, 8], cin: 3, cout: 5, kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .same, groups: 1),
        Case(input: [9, 8], cin: 3, cout: 4, kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padding: .same, groups: 1),
        Case(input: [10, 9], cin: 2, cout: 3, kernel: [3, 2], strides: [1, 2], dilations: [2, 1], padding: .valid, groups: 1),
        Case(input: [7, 7], cin: 4, cout: 6, kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .same, groups: 2),
        Case(input: [6, 5], cin: 4, cout: 8, kernel: [3, 3], strides: [2, 1], dilations: [1, 1], padding: .same, groups: 4),
        Case(input: [6, 5], cin: 3, cout: 3, kernel: [3, 3], strides: [1, 1], dilations: [2, 2], padding: .same, groups: 3),
        Case(input: [5, 6], cin: 6, cout: 4, kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padding: .valid, groups: 1),
        Case(input: [5, 6], cin: 6, cout: 4, kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padding: .valid, groups: 2),
        Case(input: [5, 6], cin: 3, cout: 2, kernel: [1, 1], strides: [2, 2], dilations: [1, 1], padding: .valid, groups: 1),
        Case(input: [6, 6], cin: 2, cout: 3, kernel: [3, 3], strides: [1, 1], dilations: [1, 1],
             padding: .explicit(before: [2, 0], after: [1, 3]), groups: 1),
        Case(input: [11], cin: 3, cout: 4, kernel: [4], strides: [3], dilations: [1], padding: .same, groups: 1),
        Case(input: [4, 5, 4], cin: 2, cout: 3, kernel: [2, 3, 2], strides: [1, 2, 1], dilations: [1, 1, 2], padding: .same, groups: 1),
        // Wide enough for the AVX2 tiles (6 pixels × 16 channels) and the AVX-512 ones (12 × 32),
        // with pixel, channel and output-channel tails (37 = 16 + 16 + 5 masked, or 32 + 5;
        // 24 = 16 + 8, or 16 + 8 masked; 13 = 6 + 6 + 1 or 12 + 1 inputs; 30 = 12 + 12 + 6).
        Case(input: [9, 13], cin: 13, cout: 37, kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .same, groups: 1),
        Case(input: [8, 11], cin: 7, cout: 24, kernel: [3, 3], strides: [1, 1], dilations: [2, 1], padding: .same, groups: 1),
        Case(input: [7, 9], cin: 8, cout: 18, kernel: [3, 3], strides: [2, 1], dilations: [1, 1], padding: .valid, groups: 2),
        Case(input: [4, 5, 7], cin: 5, cout: 20, kernel: [3, 2, 3], strides: [1, 1, 1], dilations: [1, 1, 1], padding: .same, groups: 1),
        Case(input: [14], cin: 1, cout: 64, kernel: [5], strides: [1], dilations: [1], padding: .same, groups: 1),
        Case(input: [5, 30], cin: 16, cout: 48, kernel: [3, 1], strides: [1, 1], dilations: [1, 1], padding: .same, groups: 1),
        // Depthwise with multiplier 1 on the tap loops: 37 channels = 16 + 16 + 5 (AVX-512: 32 + 5).
        Case(input: [7, 6], cin: 37, cout: 37, kernel: [3, 3], strides: [2, 1], dilations: [1, 1], padding: .same, groups: 37),
        // The input gradient by phase (`StridedInputGradient.swift`): ResNet's stride-2 3×3 and 1×1 layers at tile widths,
        // a stride above the kernel (inputs no window reads), stride with dilation (taps two apart in a phase), and
        // padding beyond the kernel's span at stride 2.
        Case(input: [16, 16], cin: 16, cout: 32, kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padding: .same, groups: 1),
        Case(input: [15, 16], cin: 19, cout: 33, kernel: [1, 1], strides: [2, 2], dilations: [1, 1], padding: .valid, groups: 1),
        Case(input: [10, 11], cin: 3, cout: 5, kernel: [2, 2], strides: [3, 3], dilations: [1, 1], padding: .valid, groups: 1),
        Case(input: [12, 13], cin: 4, cout: 6, kernel: [3, 3], strides: [2, 2], dilations: [2, 3], padding: .same, groups: 2),
        Case(input: [7, 8], cin: 3, cout: 4, kernel: [2, 3], strides: [2, 2], dilations: [1, 1],
             padding: .explicit(before: [3, 1], after: [2, 4]), groups: 1),
        // Winograd (F(4×4, 3×3) forward and input gradient, F(2×2, 3×3) kernel gradient): 7×9 leaves partial tiles at the bottom and right edges.
        Case(input: [7, 9], cin: 9, cout: 10, kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: .valid, groups: 1),
    ]

    @Test func winogradRunsTheWideThreeByThreeCases() throws {
        let winograd = try Self.cases.filter { c in
            try ConvolutionDirect.usesWinograd(ConvGeometry(batch: 1, inputSize: c.input, inputChannels: c.cin, outputChannels: c.cout,
                                                            kernelSize: c.kernel, strides: c.strides, dilations: c.dilations,
                                                            padding: c.padding, groups: c.groups))
        }
        #expect(winograd.map(\.input) == [[9, 13], [7, 9]])
    }

    /// Every kernel path this machine runs (`InstructionSet.testable`: AVX-512, its code over
    /// AVX2 register pairs, AVX2, generic) against the naive twin.
    @Test(arguments: cases)
    func convolutionMatchesReference(_ c: Case) throws {
        let g = try ConvGeometry(batch: 3, inputSize: c.input, inputChannels: c.cin, outputChannels: c.cout,
                                 kernelSize: c.kernel, strides: c.strides, dilations: c.dilations, padding: c.padding, groups: c.groups)
        let x = randomTensor(g.inputShape, seed: 1), w = randomTensor(g.kernelShape, seed: 2)
        let b = randomTensor([c.cout], seed: 3), dy = randomTensor(g.outputShape, seed: 4)
        let naive = ConvolutionReference.forward(x, kernel: w, bias: b, geometry: g)
        let naiveDx = ConvolutionReference.backwardInput(dy, kernel: w, geometry: g)
        let naiveDw = ConvolutionReference.backwardKernel(x, gradOutput: dy, geometry: g)
        let rectified = naive.map { max($0, 0) }
        // A BatchNorm's sums of the output, per channel, in Double from the naive output.
        var naiveSum = [Double](repeating: 0, count: c.cout), naiveSquares = naiveSum
        for (i, v) in naive.scalars.enumerated() { naiveSum[i % c.cout] += Double(v); naiveSquares[i % c.cout] += Double(v) * Double(v) }
        func largestError(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).map { abs($0 - $1) }.max()! / max(b.map(abs).max()!, 1e-30)
        }
        for isa in InstructionSet.testable {
            let (output, sums) = Convolution.forwardWithChannelSums(x, kernel: w, bias: b, geometry: g, isa: isa)
            #expect(output == Convolution.forward(x, kernel: w, bias: b, geometry: g, isa: isa), "forward with sums \(isa)")
            #expect(largestError(sums.sum, naiveSum) < 1e-5 && largestError(sums.squares, naiveSquares) < 1e-5, "channel sums \(isa)")
        }
        for isa in InstructionSet.testable {
            #expect(relativeError(Convolution.forward(x, kernel: w, bias: b, geometry: g, isa: isa), naive) < 1e-5, "forward \(isa)")
            #expect(relativeError(Convolution.forward(x, kernel: w, bias: b, geometry: g, relu: true, isa: isa), rectified) < 1e-5,
                    "fused ReLU \(isa)")
            #expect(relativeError(Convolution.backwardInput(dy, kernel: w, geometry: g, isa: isa), naiveDx) < 1e-5, "input gradient \(isa)")
            #expect(relativeError(Convolution.backwardKernel(x, gradOutput: dy, geometry: g, isa: isa), naiveDw) < 1e-5, "kernel gradient \(isa)")
        }
        for isa in InstructionSet.testable {
            #expect(relativeError(Convolution.backwardBias(dy, isa: isa), ConvolutionReference.backwardBias(dy)) < 1e-5, "bias gradient \(isa)")
        }
    }

    /// The paths the tests compare: all four on an AVX-512 CPU; AVX2, its AVX-512 emulation and
    /// generic on an AVX2 one.
    @Test func testablePathsFollowTheCPU() {
        let testable = Set(InstructionSet.testable)
        #expect(testable.contains(.generic))
        #expect(testable.contains(.avx512) == InstructionSet.avx512.isSupported)
        if InstructionSet.avx2.isSupported { #expect(testable.isSuperset(of: [.avx2, .avx512Emulated])) }
        #expect(InstructionSet.widest == (InstructionSet.avx512.isSupported ? .avx512 : InstructionSet.avx2.isSupported ? .avx2 : .generic))
    }

    /// OpenBLAS's kernel set follows the CPU's flags, whatever the vendor: the flag lines of
    /// this project's machines (trimmed to the flags that decide).
    @Test func openBLASKernelsFollowTheFlags() {
        let zen3 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n"
        let zen4 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16\n"
        let xeon = "vendor_id\t: GenuineIntel\nflags\t\t: fpu avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl\n"
        let partial = "vendor_id\t: GenuineIntel\nflags\t\t: fpu avx fma avx2 avx512f\n"   // F alone: not enough for SkylakeX
        #expect(BLASCore.recommended(cpuinfo: zen3) == "Haswell")
        #expect(BLASCore.recommended(cpuinfo: zen4) == "SkylakeX")
        #expect(BLASCore.recommended(cpuinfo: xeon) == "SkylakeX")
        #expect(BLASCore.recommended(cpuinfo: partial) == "Haswell")
        #expect(BLASCore.recommended(cpuinfo: "flags\t\t: fpu sse2 sse3 avx\n") == nil)
        #expect(BLASCore.recommended(cpuinfo: "processor\t: 0\n") == nil)
    }

    @Test func environmentChoosesThePath() throws {
        #expect(try InstructionSet.fromEnvironment([:]) == InstructionSet.widest)
        #expect(try InstructionSet.fromEnvironment(["CONVKIT_ISA": "generic"]) == .generic)
        if InstructionSet.avx2.isSupported { #expect(try InstructionSet.fromEnvironment(["CONVKIT_ISA": "AVX2"]) == .avx2) }
        #expect(throws: ConvKitError("CONVKIT_ISA=sse9 is not a kernel path (choose avx512, avx2, generic, avx512-emulated)")) {
            try InstructionSet.fromEnvironment(["CONVKIT_ISA": "sse9"])
        }
        if !InstructionSet.avx512.isSupported {
            #expect(throws: ConvKitError.self) { try InstructionSet.fromEnvironment(["CONVKIT_ISA": "avx512"]) }
        }
    }

    /// Winograd at the sizes models run it (28×28, 32×32: several tile blocks per image) and at
    /// odd sizes (13×17: partial tiles), same and valid, batch 1, 3 and 128. The batch is what
    /// the workers split, so batch 1 runs on one thread and the others on every worker.
    /// The weight gradient's bound is 3e-5: F(3×3, 4×4)'s transforms scale each product up by
    /// as much as 15² before Gᵀ·…·G scales the sum back down, and at batch 128 every weight sums
    /// 28,288 products in Float (measured: 1.3e-5 of the largest weight gradient; 1.78× fewer
    /// multiplies than F(3×3, 2×2), which stayed under 1e-5).
    /// Small images go several to a block of tiles (8×8: 8 images, 16×16 valid: 2, 7×10: 5),
    /// with a short last group.
    @Test(arguments: [([28, 28], "same", 3), ([32, 32], "same", 1), ([32, 32], "valid", 3), ([13, 17], "same", 128),
                      ([13, 17], "valid", 1), ([28, 28], "valid", 2), ([8, 8], "same", 19), ([16, 16], "valid", 3),
                      ([7, 10], "same", 5)])
    func winogradMatchesReferenceAtModelSizes(_ size: [Int], _ paddingName: String, _ batch: Int) throws {
        let (cin, cout) = batch > 3 ? (8, 9) : (12, 20)
        let g = try ConvGeometry(batch: batch, inputSize: size, inputChannels: cin, outputChannels: cout, kernelSize: [3, 3],
                                 strides: [1, 1], dilations: [1, 1], padding: paddingName == "same" ? .same : .valid)
        #expect(ConvolutionDirect.usesWinograd(g))
        let x = randomTensor(g.inputShape, seed: 5), w = randomTensor(g.kernelShape, seed: 6)
        let b = randomTensor([cout], seed: 7), dy = randomTensor(g.outputShape, seed: 8)
        let naive = ConvolutionReference.forward(x, kernel: w, bias: b, geometry: g)
        let naiveDx = ConvolutionReference.backwardInput(dy, kernel: w, geometry: g)
        let naiveDw = ConvolutionReference.backwardKernel(x, gradOutput: dy, geometry: g)
        for isa in InstructionSet.testable {
            let what = "\(size) \(paddingName) batch \(batch) \(isa)"
            #expect(relativeError(Convolution.forward(x, kernel: w, bias: b, geometry: g, isa: isa), naive) < 1e-5, "forward \(what)")
            #expect(relativeError(Convolution.backwardInput(dy, kernel: w, geometry: g, isa: isa), naiveDx) < 1e-5, "input gradient \(what)")
            #expect(relativeError(Convolution.backwardKernel(x, gradOutput: dy, geometry: g, isa: isa), naiveDw) < 3e-5, "kernel gradient \(what)")
        }
    }

    /// Pooling against its naive twin: max (every kernel path) and average, valid and same (Keras
    /// excludes the padding from averages), forward and backward, at model sizes that split the
    /// batch over the workers (batch 8 × 28×28×16 is above the threading threshold), in 1D and
    /// 3D, and at channel counts that end in each of the loops' widths (16, 8, 1).
    @Test(arguments: [([28, 28], [2, 2], [2, 2], "valid", 8, 16), ([28, 28], [3, 3], [2, 2], "same", 8, 16),
                      ([10, 10], [2, 2], [2, 2], "valid", 3, 27),
                      ([13, 17], [3, 3], [1, 1], "same", 3, 9), ([15], [4], [3], "same", 2, 5), ([5, 6, 7], [2, 3, 2], [2, 2, 1], "same", 2, 3)])
    func poolingMatchesReference(_ size: [Int], _ pool: [Int], _ strides: [Int], _ paddingName: String, _ batch: Int, _ channels: Int) throws {
        let g = try ConvGeometry(batch: batch, inputSize: size, inputChannels: channels, outputChannels: channels, kernelSize: pool,
                                 strides: strides, dilations: pool.map { _ in 1 }, padding: paddingName == "same" ? .same : .valid,
                                 groups: channels)
        var x = randomTensor(g.inputShape, seed: 9)
        // Ties, so that the first maximum must win, and one NaN.
        for i in stride(from: 0, to: x.count, by: 7) { x.scalars[i] = 1 }
        x.scalars[x.count / 2] = .nan
        let dy = randomTensor(g.outputShape, seed: 10)
        let naiveMax = PoolingReference.maxForward(x, geometry: g), naiveGradient = PoolingReference.maxBackward(dy, input: x, geometry: g)
        func finite(_ t: Tensor) -> Tensor { t.map { $0.isNaN ? 0 : $0 } }
        for isa in InstructionSet.testable {
            let fastMax = Pooling.maxForward(x, geometry: g, isa: isa)
            #expect(fastMax.scalars.map(\.isNaN) == naiveMax.scalars.map(\.isNaN) && fastMax.scalars.filter(\.isNaN).count > 0, "\(isa)")
            #expect(relativeError(finite(fastMax), finite(naiveMax)) == 0, "max forward, \(isa)")
            #expect(relativeError(Pooling.maxBackward(dy, input: x, output: fastMax, geometry: g, isa: isa), naiveGradient) < 1e-6,
                    "max backward, \(isa)")
        }
        x.scalars[x.count / 2] = 0.5
        for isa in InstructionSet.testable {
            #expect(relativeError(Pooling.averageForward(x, geometry: g, isa: isa), PoolingReference.averageForward(x, geometry: g)) < 1e-6,
                    "average forward, \(isa)")
            #expect(relativeError(Pooling.averageBackward(dy, geometry: g, isa: isa), PoolingReference.averageBackward(dy, geometry: g)) < 1e-6,
                    "average backward, \(isa)")
        }
    }

    /// Max pooling keeps no argmax: the gradient goes to the first cell equal to the maximum, on
    /// ties too, and overlapping windows add up, on every kernel path. 25 channels: a vector of 16,
    /// one of 8 and a tail.
    @Test(arguments: InstructionSet.testable)
    func maxPoolingRoutesToTheFirstMaximum(isa: InstructionSet) throws {
        let c = 25
        // Two 2×2 windows of a 2×4 image: [3 3; 1 2] (tie, first wins) and [5 0; 5 5].
        let cells: [Float] = [3, 3, 5, 0, 1, 2, 5, 5]
        let x = Tensor(shape: [1, 2, 4, c]) { cells[$0 / c] }
        let g = try ConvGeometry(batch: 1, inputSize: [2, 4], inputChannels: c, outputChannels: c, kernelSize: [2, 2],
                                 strides: [2, 2], dilations: [1, 1], padding: .valid, groups: c)
        let y = Pooling.maxForward(x, geometry: g, isa: isa)
        #expect(y.scalars == (0..<2 * c).map { $0 < c ? 3 : 5 })
        let dy = Tensor(shape: [1, 1, 2, c]) { Float($0 + 1) }
        let dx = Pooling.maxBackward(dy, input: x, output: y, geometry: g, isa: isa)
        #expect(dx.scalars == (0..<8 * c).map { i in i / c == 0 ? Float(i % c + 1) : i / c == 2 ? Float(c + i % c + 1) : 0 })
        // Overlapping windows (pool 2, stride 1) over [1, 4, 2]: both maxima are the middle cell.
        let row = Tensor(shape: [1, 3, c]) { [1, 4, 2][$0 / c] }
        let h = try ConvGeometry(batch: 1, inputSize: [3], inputChannels: c, outputChannels: c, kernelSize: [2],
                                 strides: [1], dilations: [1], padding: .valid, groups: c)
        let gradient = Pooling.maxBackward(Tensor(repeating: 1, shape: [1, 2, c]), input: row,
                                           output: Pooling.maxForward(row, geometry: h, isa: isa), geometry: h, isa: isa)
        #expect(gradient.scalars == (0..<3 * c).map { $0 / c == 1 ? 2 : 0 })
    }

    @Test func convolutionGradientsAreAdjoint() throws {
        // ⟨conv(x), dy⟩ = ⟨x, backwardInput(dy)⟩ = ⟨w, backwardKernel(x, dy)⟩ for a bias-free convolution.
        let g = try ConvGeometry(batch: 2, inputSize: [7, 6], inputChannels: 3, outputChannels: 4, kernelSize: [3, 3],
                                 strides: [2, 2], dilations: [1, 1], padding: .same)
        let x = randomTensor(g.inputShape, seed: 11), w = randomTensor(g.kernelShape, seed: 12), dy = randomTensor(g.outputShape, seed: 13)
        func dot(_ a: Tensor, _ b: Tensor) -> Double { zip(a.scalars, b.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let y = Convolution.forward(x, kernel: w, bias: nil, geometry: g)
        let lhs = dot(y, dy)
        #expect(abs(lhs - dot(x, Convolution.backwardInput(dy, kernel: w, geometry: g))) < 1e-3 * abs(lhs))
        #expect(abs(lhs - dot(w, Convolution.backwardKernel(x, gradOutput: dy, geometry: g))) < 1e-3 * abs(lhs))
    }

    /// The tests' yardstick must see NaN wherever it stands (`Swift.max` drops a NaN second
    /// argument, which hid NaN outputs from every comparison before).
    @Test func maxAbsDifferenceSeesNaN() {
        let a = Tensor(shape: [3], scalars: [1, .nan, 2]), b = Tensor(shape: [3], scalars: [1, 5, 2.5])
        #expect(a.maxAbsDifference(b).isNaN)
        #expect(b.maxAbsDifference(a).isNaN)
        #expect(b.maxAbsDifference(Tensor(shape: [3], scalars: [1, 5, 0])) == 2.5)
        #expect(relativeError(a, b).isNaN)
    }

    /// Each path's finiteness check finds one NaN or infinity wherever it stands: in the
    /// four-vector steps, in the tail, at either end, in either worker's half; and passes the
    /// largest finite values.
    @Test(arguments: InstructionSet.testable)
    func finiteCheckFindsEveryNonFiniteValue(isa: InstructionSet) {
        for count in [Parallel.elementwiseThreshold + 77, 200, 63, 1] {
            var x = (0..<count).map { Float($0 % 13) - 6 }
            x[0] = .greatestFiniteMagnitude
            x[count - 1] = -.greatestFiniteMagnitude
            #expect(x.withUnsafeBufferPointer { ChannelArithmetic.allFinite($0.baseAddress!, count: count, isa: isa) })
            for position in Set([0, count / 3, count / 2 + 1, count - 5, count - 1].filter { $0 >= 0 && $0 < count }) {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var y = x
                    y[position] = bad
                    let finite = y.withUnsafeBufferPointer { ChannelArithmetic.allFinite($0.baseAddress!, count: count, isa: isa) }
                    #expect(!finite, "\(isa) count \(count): \(bad) at \(position)")
                }
            }
        }
        var t = Tensor(zeros: [2, 3, 40])
        t.scalars[t.count - 2] = .nan
        #expect(t.firstNonFinite?.index == [1, 2, 38])
    }

    /// Every transposition, with one row or one column of C (the matrix-vector path) among the
    /// shapes; beta = 0 must ignore NaN in C, as sgemm does.
    @Test(arguments: [(7, 5, 9), (1, 5, 9), (7, 1, 9), (1, 1, 9)])
    func gemmMatchesReference(m: Int, n: Int, k: Int) {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for beta: Float in [2, 0] {
                let a = randomTensor([m * k], seed: 21).scalars, b = randomTensor([k * n], seed: 22).scalars
                var fast = beta == 0 ? [Float](repeating: .nan, count: m * n) : randomTensor([m * n], seed: 23).scalars
                var naive = beta == 0 ? [Float](repeating: 0, count: m * n) : fast
                GEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: ta ? m : k,
                              b: b, ldb: tb ? k : n, beta: beta, c: &fast, ldc: n)
                GEMM.multiplyReference(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: ta ? m : k,
                                       b: b, ldb: tb ? k : n, beta: beta, c: &naive, ldc: n)
                #expect(relativeError(Tensor(shape: [m * n], scalars: fast), Tensor(shape: [m * n], scalars: naive)) < 1e-5,
                        "m \(m) n \(n) k \(k) transposeA \(ta) transposeB \(tb) beta \(beta)")
            }
        }
    }

    /// Products large enough to be split across workers, by rows (m ≥ n) and by columns,
    /// against the same product in one call.
    @Test(arguments: [(300, 40), (40, 300)])
    func gemmSplitMatchesOneCall(m: Int, n: Int) {
        let k = 900
        #expect(2 * m * n * k >= GEMM.parallelThreshold)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randomTensor([m * k], seed: 24).scalars, b = randomTensor([k * n], seed: 25).scalars
            var split = randomTensor([m * n], seed: 26).scalars, whole = split
            GEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: ta ? m : k,
                          b: b, ldb: tb ? k : n, beta: 2, c: &split, ldc: n)
            GEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: ta ? m : k,
                          b: b, ldb: tb ? k : n, beta: 2, c: &whole, ldc: n, parallel: false)
            #expect(relativeError(Tensor(shape: [m * n], scalars: split), Tensor(shape: [m * n], scalars: whole)) < 1e-6)
        }
    }

    @Test func geometryFollowsKerasOutputSizes() throws {
        func out(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ p: Padding) throws -> Int {
            try ConvGeometry(batch: 1, inputSize: [n], inputChannels: 1, outputChannels: 1, kernelSize: [k],
                             strides: [s], dilations: [d], padding: p).outputSize[2]
        }
        #expect(try out(28, 3, 1, 1, .valid) == 26)
        #expect(try out(28, 7, 1, 1, .valid) == 22)
        #expect(try out(28, 3, 1, 2, .valid) == 24)   // dilation 2: a 3×3 kernel spans 5
        #expect(try out(28, 3, 2, 1, .same) == 14)
        #expect(try out(7, 3, 2, 1, .same) == 4)       // ⌈7/2⌉
        let odd = try ConvGeometry(batch: 1, inputSize: [6], inputChannels: 1, outputChannels: 1, kernelSize: [2],
                                   strides: [1], dilations: [1], padding: .same)
        #expect(odd.padBefore[2] == 0 && odd.padAfter[2] == 1)   // the extra pixel goes after
        #expect(throws: ConvKitError.self) { try out(5, 7, 1, 1, .valid) }
    }

    /// BatchNormalization and ReLU on a tensor large enough to be split across the cores,
    /// against plain loops over the whole tensor.
    @Test func channelArithmeticMatchesPlainLoops() throws {
        let (rows, c) = (8192, 12)   // 98,304 values: above Parallel.elementwiseThreshold
        #expect(rows * c >= Parallel.elementwiseThreshold)
        let x = randomTensor([rows / 64, 8, 8, c], seed: 21, scale: 2)
        let dy = randomTensor(x.shape, seed: 22)
        let layer = BatchNormalization(momentum: 0.5, epsilon: 1e-3)
        var generator = SeededGenerator(seed: 1)
        try layer.setUp(inputShapes: [Array(x.shape.dropFirst())], generator: &generator)
        layer.parameter("gamma")!.value = randomTensor([c], seed: 23)
        layer.parameter("beta")!.value = randomTensor([c], seed: 24)
        let y = layer.forward([x], training: true)
        let dx = layer.backward(dy)[0]

        // The same arithmetic, written plainly.
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for r in 0..<rows { for j in 0..<c { mean[j] += Double(x.scalars[r * c + j]) / Double(rows) } }
        for r in 0..<rows { for j in 0..<c { let d = Double(x.scalars[r * c + j]) - mean[j]; variance[j] += d * d / Double(rows) } }
        let gamma = layer.parameter("gamma")!.value.scalars, beta = layer.parameter("beta")!.value.scalars
        var expectedY = [Float](), xhat = [Double]()
        for r in 0..<rows {
            for j in 0..<c {
                let h = (Double(x.scalars[r * c + j]) - mean[j]) / (variance[j] + 1e-3).squareRoot()
                xhat.append(h)
                expectedY.append(Float(h * Double(gamma[j]) + Double(beta[j])))
            }
        }
        #expect(relativeError(y, Tensor(shape: x.shape, scalars: expectedY)) < 1e-5)
        var sumDy = [Double](repeating: 0, count: c), sumDyXhat = [Double](repeating: 0, count: c)
        for i in 0..<(rows * c) { sumDy[i % c] += Double(dy.scalars[i]); sumDyXhat[i % c] += Double(dy.scalars[i]) * xhat[i] }
        let expectedDx = (0..<(rows * c)).map { i -> Float in
            let j = i % c
            let scale = Double(gamma[j]) / (variance[j] + 1e-3).squareRoot()
            return Float(scale * (Double(dy.scalars[i]) - sumDy[j] / Double(rows) - xhat[i] * sumDyXhat[j] / Double(rows)))
        }
        #expect(relativeError(dx, Tensor(shape: x.shape, scalars: expectedDx)) < 1e-4)
        #expect(relativeError(layer.parameter("gamma")!.gradient, Tensor(shape: [c], scalars: sumDyXhat.map(Float.init))) < 1e-5)
        #expect(relativeError(layer.parameter("moving_mean")!.value, Tensor(shape: [c], scalars: mean.map { Float($0 * 0.5) })) < 1e-5)

        let relu = ActivationFunction.relu
        let a = relu.apply(x), da = relu.gradient(input: x, output: a, gradOutput: dy)
        #expect(a.scalars == x.scalars.map { max($0, 0) })
        #expect(da.scalars == zip(x.scalars, dy.scalars).map { $0 > 0 ? $1 : 0 })
    }

    /// Each path's channel loops against plain loops, at channel counts that end in each of the
    /// loops' widths (16, 8, 1) and row counts that end mid-block, split over the cores.
    @Test(arguments: [(5000, 27), (4097, 16), (3000, 40), (33, 3)])
    func channelLoopsMatchPlainLoopsOnEveryPath(rows: Int, channels c: Int) {
        let n = rows * c
        let x = randomTensor([n], seed: 31, scale: 2).scalars, b = randomTensor([n], seed: 32).scalars
        // BatchNorm's constants: shift (mean), inverse std, then gain and bias, or the gradient's
        // scale, mean dy and mean dy·x̂.
        let k = (0..<5).map { randomTensor([c], seed: UInt64(40 + $0)).scalars }
        var sum = [Double](repeating: 0, count: c), products = sum
        for i in 0..<n { sum[i % c] += Double(x[i]); products[i % c] += Double(x[i]) * Double(b[i]) }
        let normalized = (0..<n).map { (x[$0] - k[0][$0 % c]) * k[1][$0 % c] }
        let y = (0..<n).map { normalized[$0] * k[2][$0 % c] + k[3][$0 % c] }
        let dx = (0..<n).map { k[2][$0 % c] * (b[$0] - k[3][$0 % c] - normalized[$0] * k[4][$0 % c]) }
        var withNaN = x
        withNaN[n / 2] = .nan
        // A ReLU's gradient on the way: the gate is a ReLU output, b counts where it is > 0.
        let gate = randomTensor([n], seed: 33).scalars.map { max($0, 0) }
        var gatedSum = [Double](repeating: 0, count: c), gatedProducts = gatedSum
        for i in 0..<n where gate[i] > 0 { gatedSum[i % c] += Double(b[i]); gatedProducts[i % c] += Double(b[i]) * Double(normalized[i]) }
        let gatedDx = (0..<n).map { k[2][$0 % c] * ((gate[$0] > 0 ? b[$0] : 0) - k[3][$0 % c] - normalized[$0] * k[4][$0 % c]) }
        for isa in InstructionSet.testable {
            let s = x.withUnsafeBufferPointer { xp in b.withUnsafeBufferPointer { bp in
                ChannelArithmetic.sums(xp.baseAddress!, times: bp.baseAddress!, rows: rows, channels: c, isa: isa)
            }}
            for j in 0..<c {
                #expect(abs(s.sum[j] - sum[j]) <= 1e-5 * (abs(sum[j]) + Double(rows)), "\(isa) Σx, channel \(j)")
                #expect(abs(s.products[j] - products[j]) <= 1e-5 * (abs(products[j]) + Double(rows)), "\(isa) Σx·b, channel \(j)")
            }
            let g = b.withUnsafeBufferPointer { bp in x.withUnsafeBufferPointer { xp in gate.withUnsafeBufferPointer { gp in
                ChannelArithmetic.sums(bp.baseAddress!, times: xp.baseAddress!, normalizingB: (k[0], k[1]), gate: .values(gp.baseAddress!),
                                       rows: rows, channels: c, isa: isa)
            }}}
            for j in 0..<c {
                #expect(abs(g.sum[j] - gatedSum[j]) <= 1e-5 * (abs(gatedSum[j]) + Double(rows)), "\(isa) gated Σb, channel \(j)")
                #expect(abs(g.products[j] - gatedProducts[j]) <= 1e-5 * (abs(gatedProducts[j]) + Double(rows)), "\(isa) gated Σb·x̂")
            }
            var outY = [Float](repeating: 0, count: n), outDx = outY
            var outRelu = outY, outReluGradient = outY, outYRelu = outY, outGatedDx = outY, outResidual = outY
            x.withUnsafeBufferPointer { xp in b.withUnsafeBufferPointer { bp in withNaN.withUnsafeBufferPointer { np in
              gate.withUnsafeBufferPointer { gp in
                ChannelArithmetic.normalize(xp.baseAddress!, into: &outY, shift: k[0], scale: k[1], gain: k[2], bias: k[3],
                                            rows: rows, channels: c, isa: isa)
                ChannelArithmetic.normalize(xp.baseAddress!, into: &outYRelu, shift: k[0], scale: k[1], gain: k[2], bias: k[3],
                                            relu: true, rows: rows, channels: c, isa: isa)
                ChannelArithmetic.normalize(xp.baseAddress!, into: &outResidual, shift: k[0], scale: k[1], gain: k[2], bias: k[3],
                                            adding: bp.baseAddress!, relu: true, rows: rows, channels: c, isa: isa)
                ChannelArithmetic.normalizationGradient(bp.baseAddress!, into: &outDx, input: xp.baseAddress!, shift: k[0], inverseStd: k[1],
                                                        scale: k[2], meanDy: k[3], meanDyXhat: k[4], rows: rows, channels: c, isa: isa)
                ChannelArithmetic.normalizationGradient(bp.baseAddress!, into: &outGatedDx, input: xp.baseAddress!, shift: k[0],
                                                        inverseStd: k[1], gate: .values(gp.baseAddress!), scale: k[2], meanDy: k[3],
                                                        meanDyXhat: k[4], rows: rows, channels: c, isa: isa)
                ChannelArithmetic.relu(np.baseAddress!, into: &outRelu, count: n, isa: isa)
                ChannelArithmetic.reluGradient(input: np.baseAddress!, bp.baseAddress!, into: &outReluGradient, count: n, isa: isa)
            }}}}
            var outSum = [Float](repeating: 0, count: n)
            x.withUnsafeBufferPointer { xp in b.withUnsafeBufferPointer { bp in
                ChannelArithmetic.add(xp.baseAddress!, bp.baseAddress!, into: &outSum, count: n, isa: isa)
            }}
            #expect(outSum == zip(x, b).map { $0 + $1 }, "\(isa): a + b")
            #expect(outYRelu == outY.map { max($0, 0) }, "\(isa): BatchNorm with its ReLU")
            #expect(outResidual == zip(outY, b).map { max($0 + $1, 0) }, "\(isa): BatchNorm, Add and ReLU")
            // A gate recomputed from the normalisation (x̂·gain + bias) is the BatchNorm's output as
            // written: the same sums and gradient as with that output read back.
            let computed: ChannelArithmetic.ReLUGate = .normalized(gain: k[2], bias: k[3])
            var readBackDx = [Float](repeating: 0, count: n), computedDx = readBackDx
            let (readBack, recomputed) = b.withUnsafeBufferPointer { bp in x.withUnsafeBufferPointer { xp in outY.withUnsafeBufferPointer { yp in
                ChannelArithmetic.normalizationGradient(bp.baseAddress!, into: &readBackDx, input: xp.baseAddress!, shift: k[0], inverseStd: k[1],
                                                        gate: .values(yp.baseAddress!), scale: k[4], meanDy: k[3], meanDyXhat: k[2], rows: rows, channels: c, isa: isa)
                ChannelArithmetic.normalizationGradient(bp.baseAddress!, into: &computedDx, input: xp.baseAddress!, shift: k[0], inverseStd: k[1],
                                                        gate: computed, scale: k[4], meanDy: k[3], meanDyXhat: k[2], rows: rows, channels: c, isa: isa)
                return (ChannelArithmetic.sums(bp.baseAddress!, times: xp.baseAddress!, normalizingB: (k[0], k[1]), gate: .values(yp.baseAddress!),
                                               rows: rows, channels: c, isa: isa),
                        ChannelArithmetic.sums(bp.baseAddress!, times: xp.baseAddress!, normalizingB: (k[0], k[1]), gate: computed,
                                               rows: rows, channels: c, isa: isa))
            }}}
            #expect(readBack.sum == recomputed.sum && readBack.products == recomputed.products, "\(isa): sums with a recomputed gate")
            #expect(readBackDx == computedDx, "\(isa): gradient with a recomputed gate")
            #expect(outY.contains { $0 <= 0 } && outY.contains { $0 > 0 }, "the gate passes some values and stops others")
            #expect(relativeError(Tensor(shape: [n], scalars: outGatedDx), Tensor(shape: [n], scalars: gatedDx)) < 1e-6, "\(isa)")
            #expect(relativeError(Tensor(shape: [n], scalars: outY), Tensor(shape: [n], scalars: y)) < 1e-6, "\(isa)")
            #expect(relativeError(Tensor(shape: [n], scalars: outDx), Tensor(shape: [n], scalars: dx)) < 1e-6, "\(isa)")
            #expect(outRelu[n / 2].isNaN, "\(isa): ReLU keeps NaN")
            #expect(zip(outRelu, withNaN).enumerated().allSatisfy { $0.offset == n / 2 || $0.element.0 == max($0.element.1, 0) }, "\(isa)")
            #expect(outReluGradient == zip(withNaN, b).map { $0 > 0 ? $1 : 0 }, "\(isa)")
        }
    }

    /// Each path's optimizer steps (SGD in each form, Adam with both decays) against the rules
    /// written out in Double, at sizes that end in each loop width, split over the cores.
    @Test(arguments: [4099, 16, 7])
    func optimizerStepsMatchTheirRulesOnEveryPath(count n: Int) {
        let w0 = randomTensor([n], seed: 51).scalars, g = randomTensor([n], seed: 52).scalars
        let v0 = randomTensor([n], seed: 53, scale: 0.1).scalars, m0 = randomTensor([n], seed: 54, scale: 0.1).scalars
        let s0 = randomTensor([n], seed: 55).scalars.map { $0 * $0 }
        func close(_ a: [Float], _ b: [Double], _ what: String) {
            // A few float operations on values near 1: a few units of float rounding each.
            let worst = zip(a, b).map { abs(Double($0) - $1) / (1 + abs($1)) }.max() ?? 0
            #expect(worst < 2e-6, "\(what): \(worst)")
        }
        // (momentum, nesterov, keep, decay): plain, momentum, Nesterov with coupled decay, decoupled.
        let forms: [(Float, Bool, Float, Float)] = [(0, false, 1, 0), (0.9, false, 1, 0), (0.9, true, 1, 0.01), (0.8, false, 0.998, 0)]
        for isa in InstructionSet.testable {
            for (mu, nesterov, keep, decay) in forms {
                var w = w0, v = v0
                w.withUnsafeMutableBufferPointer { wp in v.withUnsafeMutableBufferPointer { vp in g.withUnsafeBufferPointer { gp in
                    ChannelArithmetic.sgdStep(weights: wp.baseAddress!, gradient: gp.baseAddress!, velocity: vp.baseAddress!, count: n,
                                              rate: 0.05, keep: keep, decay: decay, momentum: mu, nesterov: nesterov, isa: isa)
                }}}
                var expectedW = [Double](), expectedV = [Double]()
                for i in 0..<n {
                    let wi = Double(w0[i]) * Double(keep), gi = Double(g[i]) + Double(decay) * wi
                    if mu == 0 { expectedW.append(wi - 0.05 * gi); expectedV.append(Double(v0[i])); continue }
                    let vi = Double(mu) * Double(v0[i]) - 0.05 * gi
                    expectedV.append(vi)
                    expectedW.append(wi + (nesterov ? Double(mu) * vi - 0.05 * gi : vi))
                }
                close(w, expectedW, "\(isa) SGD μ \(mu) Nesterov \(nesterov) keep \(keep) decay \(decay): weights")
                close(v, expectedV, "\(isa) SGD μ \(mu): velocity")
            }
            var w = w0, m = m0, s = s0
            w.withUnsafeMutableBufferPointer { wp in m.withUnsafeMutableBufferPointer { mp in s.withUnsafeMutableBufferPointer { sp in
                g.withUnsafeBufferPointer { gp in
                    ChannelArithmetic.adamStep(weights: wp.baseAddress!, gradient: gp.baseAddress!, m: mp.baseAddress!, v: sp.baseAddress!,
                                               count: n, stepSize: 0.01, keep: 0.999, decay: 0.02, beta1: 0.9, beta2: 0.999, epsilon: 1e-7,
                                               isa: isa)
                }
            }}}
            var expectedW = [Double](), expectedM = [Double](), expectedS = [Double]()
            for i in 0..<n {
                let wi = Double(w0[i]) * 0.999, gi = Double(g[i]) + 0.02 * wi
                let mi = Double(m0[i]) + (gi - Double(m0[i])) * 0.1, si = Double(s0[i]) + (gi * gi - Double(s0[i])) * 0.001
                expectedM.append(mi); expectedS.append(si)
                expectedW.append(wi - 0.01 * mi / (si.squareRoot() + 1e-7))
            }
            close(w, expectedW, "\(isa) Adam: weights")
            close(m, expectedM, "\(isa) Adam: m")
            close(s, expectedS, "\(isa) Adam: v")
        }
    }

    /// A tensor over glibc's largest mmap threshold (32 MB) comes from the heap, so freeing it
    /// keeps its pages for the next step instead of unmapping them. 48 MB stays under the 64 MB
    /// of a thread's own heap: the test does not run on the main thread, whose heap has no such
    /// limit.
    @Test func largeTensorsAreNotMappedOneByOne() {
        MemoryReuse.enable()
        let before = MemoryReuse.mappedBlockCount
        let activations = Tensor(zeros: [96, 128, 32, 32])  // 48 MB: a batch of a 128-channel layer
        #expect(activations.scalars.count == 96 * 128 * 32 * 32)
        #expect(MemoryReuse.mappedBlockCount <= before, "a 48 MB tensor got a mapping of its own")
    }
}
