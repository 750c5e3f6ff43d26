/// A symbolic tensor in a model graph: the model input, or the output of a layer applied to
/// earlier nodes. Calling a layer on nodes checks the shapes at once (Keras' functional API):
///
///     let input = Input(shape: [32, 32, 3])
///     let x = try Conv2D(filters: 16, kernelSize: 3, padding: .same)(input)
///     let y = try Add()([x, input])
public final class Node {
    public let layer: Layer?
    public let inputs: [Node]
    /// The example shape (no batch axis).
    public let shape: [Int]

    init(layer: Layer?, inputs: [Node], shape: [Int]) {
        self.layer = layer; self.inputs = inputs; self.shape = shape
    }
}

/// The input of a functional model, with the example shape (no batch axis).
public func Input(shape: [Int]) -> Node {
    Node(layer: nil, inputs: [], shape: shape)
}

extension Layer {
    public func callAsFunction(_ input: Node) throws -> Node { try callAsFunction([input]) }

    public func callAsFunction(_ inputs: [Node]) throws -> Node {
        // Build once to check shapes; the model rebuilds every layer from its own seed.
        var scratch = SeededGenerator(seed: 0)
        try setUp(inputShapes: inputs.map(\.shape), generator: &scratch)
        return Node(layer: self, inputs: inputs, shape: outputShape)
    }
}
