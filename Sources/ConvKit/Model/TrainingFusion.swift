/// In training a BatchNormalization and the ReLU reading it run as one layer
/// (`BatchNormalization.forwardWithReLU`): the ReLU is applied as the normalised output is
/// written, and its gradient as the BatchNorm's backward pass reads the output gradient. That
/// skips two passes over the tensor forward and one backward, and gives the same numbers. A pair
/// only fuses when the ReLU is the BatchNorm's one reader, so no value anybody reads goes missing.
extension Model {
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

    /// Each node's reader when it has exactly one, that reader reads nothing else, and the node is
    /// not the model's output: the nodes a fusion may absorb.
    func onlyReaders() -> [ObjectIdentifier: Node] {
        var readers = [ObjectIdentifier: [Node]]()
        for node in nodes { for source in node.inputs { readers[ObjectIdentifier(source), default: []].append(node) } }
        return readers.compactMapValues { list in list.count == 1 && list[0].inputs.count == 1 ? list[0] : nil }
            .filter { $0.key != ObjectIdentifier(output) }
    }
}
