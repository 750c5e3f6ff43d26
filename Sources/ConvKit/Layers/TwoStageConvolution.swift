/// The two stages that SeparableConv2D and LCConv2D compute: a spatial k×k convolution without
/// bias (grouped per channel for SeparableConv2D's depthwise stage) to a middle tensor, an
/// optional operation on that tensor (LCConv2D's Table 3 ablation), then a 1×1 convolution
/// with bias. It holds both geometries and, during training, what backward needs: the input
/// and the 1×1 convolution's input.
///
/// With an ungrouped spatial stage and nothing between, the stages are one convolution with
/// kernel W = S·C (S as `[kh·kw·in, middle]`, C as `[middle, out]`), whose kernel gradient dW
/// gives the stages' exact gradients, dS = dW·Cᵀ and dC = Sᵀ·dW: LCConv2D trains that way
/// (`LCConv2D.Computation.folded`), and the two stages are its naive twin.
struct TwoStageConvolution {
    /// The operation between the stages: forward, and backward from the gradient of its output
    /// to that of its input (the owner keeps what the backward needs).
    struct Between {
        var forward: (_ middle: Tensor, _ training: Bool) -> Tensor
        var backward: (_ gradient: Tensor) -> Tensor
    }

    private(set) var spatial: ConvGeometry, combination: ConvGeometry
    /// The one convolution of the folded stages (nil for a grouped spatial stage).
    let folded: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedCombinationInput = Tensor(zeros: [0])

    /// `inputShape` is `[height, width, channels]`; `groups` splits the spatial stage (the
    /// input channel count for a depthwise stage).
    init(inputShape: [Int], middleChannels: Int, outputChannels: Int, kernelSize: [Int], strides: [Int], dilations: [Int],
         padding: Padding, groups: Int = 1) throws {
        spatial = try ConvGeometry(batch: 1, inputSize: [inputShape[0], inputShape[1]], inputChannels: inputShape[2],
                                   outputChannels: middleChannels, kernelSize: kernelSize, strides: strides,
                                   dilations: dilations, padding: padding, groups: groups)
        combination = try ConvGeometry(batch: 1, inputSize: Array(spatial.outputSize.suffix(2)), inputChannels: middleChannels,
                                       outputChannels: outputChannels, kernelSize: [1, 1], strides: [1, 1], dilations: [1, 1],
                                       padding: .valid)
        folded = groups > 1 ? nil : try ConvGeometry(
            batch: 1, inputSize: [inputShape[0], inputShape[1]], inputChannels: inputShape[2], outputChannels: outputChannels,
            kernelSize: kernelSize, strides: strides, dilations: dilations, padding: padding)
    }

    // MARK: Folded

    /// W = S·C, as a kernel `[kh, kw, in, out]`.
    func foldedKernel(spatialKernel s: Tensor, combinationKernel c: Tensor) -> Tensor {
        let f = folded!
        var w = [Float](repeating: 0, count: f.kernelShape.reduce(1, *))
        GEMM.multiply(s.scalars, c.scalars, into: &w, m: f.patchLength, n: f.outputChannels, k: combination.inputChannels)
        return Tensor(shape: f.kernelShape, scalars: w)
    }

    /// dS = dW·Cᵀ into `gradient` (reused when it has S's shape).
    func spatialGradient(fromFolded dW: Tensor, combinationKernel c: Tensor, into gradient: inout Tensor) {
        let f = folded!
        if gradient.shape != spatial.kernelShape { gradient = Tensor(zeros: spatial.kernelShape) }
        GEMM.multiply(dW.scalars, c.scalars, transposingB: true, into: &gradient.scalars, m: f.patchLength,
                      n: combination.inputChannels, k: f.outputChannels)
    }

    /// dC = Sᵀ·dW into `gradient` (reused when it has C's shape).
    func combinationGradient(fromFolded dW: Tensor, spatialKernel s: Tensor, into gradient: inout Tensor) {
        let f = folded!
        if gradient.shape != combination.kernelShape { gradient = Tensor(zeros: combination.kernelShape) }
        GEMM.multiply(s.scalars, dW.scalars, transposingA: true, into: &gradient.scalars, m: combination.inputChannels,
                      n: f.outputChannels, k: f.patchLength)
    }

    /// The middle tensor's shape without the batch axis, for the operation between the stages.
    var middleShape: [Int] { Array(spatial.outputShape.dropFirst()) }
    var outputShape: [Int] { Array(combination.outputShape.dropFirst()) }

    /// Both stages; kernels in the core's layout (`spatial.kernelShape`, `combination.kernelShape`).
    mutating func forward(_ x: Tensor, spatialKernel: Tensor, combinationKernel: Tensor, bias: Tensor?,
                          between: Between? = nil, training: Bool) -> Tensor {
        spatial.batch = x.shape[0]; combination.batch = x.shape[0]
        let middle = Convolution.forward(x, kernel: spatialKernel, bias: nil, geometry: spatial)
        let combinationInput = between.map { $0.forward(middle, training) } ?? middle
        if training { cachedInput = x; cachedCombinationInput = combinationInput }
        return Convolution.forward(combinationInput, kernel: combinationKernel, bias: bias, geometry: combination)
    }

    /// From `dz`, the gradient of the 1×1 stage's output (bias gradient excluded): the kernel
    /// gradients asked for and, unless `input` is false, the input gradient.
    mutating func backward(_ dz: Tensor, spatialKernel: Tensor, combinationKernel: Tensor, between: Between? = nil,
                           spatialGradient: Bool, combinationGradient: Bool, input: Bool)
        -> (spatial: Tensor?, combination: Tensor?, input: Tensor?) {
        spatial.batch = dz.shape[0]; combination.batch = dz.shape[0]
        let dCombination = combinationGradient
            ? Convolution.backwardKernel(cachedCombinationInput, gradOutput: dz, geometry: combination) : nil
        var dMiddle = Convolution.backwardInput(dz, kernel: combinationKernel, geometry: combination)
        if let between { dMiddle = between.backward(dMiddle) }
        let dSpatial = spatialGradient ? Convolution.backwardKernel(cachedInput, gradOutput: dMiddle, geometry: spatial) : nil
        let dx = input ? Convolution.backwardInput(dMiddle, kernel: spatialKernel, geometry: spatial) : nil
        return (dSpatial, dCombination, dx)
    }

    /// Per example: both convolutions, plus `betweenFlops` for the operation between them.
    func flops(betweenFlops: Int = 0) -> Int {
        2 * spatial.outputPixels * spatial.outputChannels * spatial.patchLength
            + 2 * combination.outputPixels * combination.outputChannels * combination.inputChannels + betweenFlops
    }
}
