/// In training a BatchNormalization and the ReLU reading it run as one layer
/// (`BatchNormalization.forwardWithReLU`): the ReLU is applied as the normalised output is
/// written, and its gradient as the BatchNorm's backward pass reads the output gradient. That
/// skips two passes over the tensor forward and one backward, and gives the same numbers. A pair
/// only fuses when the ReLU is the BatchNorm's one reader, so no value anybody reads goes missing.
///
/// A residual block's end, BatchNorm → Add(shortcut) → ReLU, runs the same way with the shortcut
/// added as the output is written (`forwardWithReLU(_:adding:)`): the Add's and the ReLU's
/// passes go forward, and the ReLU's gradient pass backward becomes one gating pass for the
/// shortcut's gradient alone.
///
/// A convolution whose only reader is a BatchNorm takes the BatchNorm's sums (Σx, Σx² per
/// channel) image by image as it writes each image (`Convolution.forwardWithChannelSums`), so
/// the BatchNorm does not read its whole input once more for them. Backward, when nobody needs
/// such a convolution's input gradient (a first layer), it takes the BatchNorm's input
/// gradient image by image into scratch for its kernel and bias gradients
/// (`Convolution.backwardParameters`), and that batch-sized gradient is never stored.
///
/// BatchNorm → ReLU → max pooling runs image by image inside the BatchNorm
/// (`forwardWithReLU(_:thenMaxPool:)`, `NormalizedMaxPool`): the ReLU's output, a batch-sized
/// tensor that outgrows the cache after a first layer, stays one image in scratch, and
/// BatchNorm's backward sums are taken as the pooled gradient is routed back.
extension Model {
    /// A residual block's end fused into its BatchNorm.
    struct ResidualEnd {
        let batchNorm: Node, shortcut: Node, relu: Node
    }

    /// The fusable BatchNorm → Add → ReLU ends, keyed by the Add's node: the Add sums the
    /// BatchNorm and one other node, the BatchNorm's only reader is the Add, the Add's only
    /// reader is the ReLU, and neither is the model's output. The fused pass runs where the Add
    /// was, when both of its inputs are there.
    func residualEnds() -> [ObjectIdentifier: ResidualEnd] {
        var readers = [ObjectIdentifier: [Node]]()
        for node in nodes { for source in node.inputs { readers[ObjectIdentifier(source), default: []].append(node) } }
        func onlyReader(_ node: Node) -> Node? {
            guard node !== output, let list = readers[ObjectIdentifier(node)], list.count == 1 else { return nil }
            return list[0]
        }
        var ends = [ObjectIdentifier: ResidualEnd]()
        for add in nodes where add.layer is Add && add.inputs.count == 2 && add.inputs[0] !== add.inputs[1] {
            guard let relu = onlyReader(add), relu.inputs.count == 1, (relu.layer as? Activation)?.function == .relu,
                  let index = add.inputs.firstIndex(where: { $0.layer is BatchNormalization && onlyReader($0) === add }) else { continue }
            ends[ObjectIdentifier(add)] = ResidualEnd(batchNorm: add.inputs[index], shortcut: add.inputs[1 - index], relu: relu)
        }
        return ends
    }

    /// The convolutions (Conv1D/2D/3D with a linear activation) whose only reader is a
    /// BatchNormalization that normalises by batch statistics.
    func convolutionsBeforeBatchNorm() -> Set<ObjectIdentifier> {
        var found = Set<ObjectIdentifier>()
        for (source, reader) in onlyReaders() {
            guard let batchNorm = reader.layer as? BatchNormalization, !batchNorm.behavesAsInference,
                  let conv = reader.inputs[0].layer as? ConvolutionLayer, conv.activation == .linear,
                  [Conv1D.self, Conv2D.self, Conv3D.self].contains(where: { $0 == type(of: conv) }) else { continue }
            found.insert(source)
        }
        return found
    }

    /// The ReLU node run inside each fusable BatchNormalization, keyed by the BatchNorm's node.
    func batchNormReLUPairs() -> [ObjectIdentifier: Node] {
        var pairs = [ObjectIdentifier: Node]()
        let reader = onlyReaders()
        for node in nodes where node.layer is BatchNormalization {
            if let next = reader[ObjectIdentifier(node)], (next.layer as? Activation)?.function == .relu {
                pairs[ObjectIdentifier(node)] = next
            }
        }
        return pairs
    }

    /// The max pooling run inside each fused BatchNorm → ReLU pair, keyed by the ReLU's node: the
    /// pooling is the ReLU's only reader.
    func maxPoolsAfterBatchNormReLU(_ pairs: [ObjectIdentifier: Node]) -> [ObjectIdentifier: Node] {
        let reader = onlyReaders()
        var pools = [ObjectIdentifier: Node]()
        for relu in pairs.values {
            if let next = reader[ObjectIdentifier(relu)], let pooling = next.layer as? PoolingLayer, pooling.mode == .max {
                pools[ObjectIdentifier(relu)] = next
            }
        }
        return pools
    }

    /// Each node's reader when it has exactly one, that reader reads nothing else, and the node is
    /// not the model's output: the nodes a fusion may absorb.
    func onlyReaders() -> [ObjectIdentifier: Node] {
        var readers = [ObjectIdentifier: [Node]]()
        for node in nodes { for source in node.inputs { readers[ObjectIdentifier(source), default: []].append(node) } }
        return readers.compactMapValues { list in list.count == 1 && list[0].inputs.count == 1 ? list[0] : nil }
            .filter { $0.key != ObjectIdentifier(output) }
    }
}
