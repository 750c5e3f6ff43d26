/// At inference a convolution, the BatchNormalization reading it and a ReLU after that run as
/// one convolution: BatchNorm's moving statistics fold into the kernel and bias
/// (W' = W·γ/σ, b' = β + (b − μ)·γ/σ) and the ReLU is applied as the kernel writes its output.
/// That skips two passes over the largest tensors of a conv net. A chain only fuses when each
/// node's one reader is the next, so no intermediate value anybody reads goes missing.
struct FusedConvolution {
    let convolution: ConvolutionLayer
    let batchNormalization: BatchNormalization?
    let relu: Bool
    /// The last node of the chain: the value the fused convolution produces.
    let output: Node
    /// The nodes after the convolution that it replaces.
    let absorbed: [Node]

    func forward(_ x: Tensor) -> Tensor {
        convolution.inferenceForward(x, affine: batchNormalization?.inferenceAffine, relu: relu)
    }
}

extension Model {
    /// The fusable chains, keyed by their convolution node.
    func fusedConvolutions() -> [ObjectIdentifier: FusedConvolution] {
        let readers = onlyReaders()
        /// The one node reading `node`, when nothing else (the caller included) reads it.
        func onlyReader(of node: Node) -> Node? { readers[ObjectIdentifier(node)] }
        var chains = [ObjectIdentifier: FusedConvolution]()
        for node in nodes {
            guard let conv = node.layer as? ConvolutionLayer, conv.activation == .linear || conv.activation == .relu else { continue }
            var last = node, absorbed = [Node](), batchNormalization: BatchNormalization?
            var relu = conv.activation == .relu
            if !relu, let next = onlyReader(of: last), let bn = next.layer as? BatchNormalization {
                batchNormalization = bn; absorbed.append(next); last = next
            }
            if !relu, let next = onlyReader(of: last), (next.layer as? Activation)?.function == .relu {
                relu = true; absorbed.append(next); last = next
            }
            if batchNormalization != nil || relu {
                chains[ObjectIdentifier(node)] = FusedConvolution(convolution: conv, batchNormalization: batchNormalization,
                                                                  relu: relu, output: last, absorbed: absorbed)
            }
        }
        return chains
    }
}
