import Foundation

/// Builds an ONNX graph node by node: fresh value names, constants as initializers, and
/// attributes from plain Swift values.
struct ONNXGraph {
    private(set) var proto = Onnx_GraphProto()
    private var used = Set<String>()

    /// A value name not used yet, derived from `base` (a layer name).
    mutating func fresh(_ base: String) -> String {
        var name = base, n = 1
        while used.contains(name) { name = "\(base)_\(n)"; n += 1 }
        used.insert(name)
        return name
    }

    /// A float initializer in row-major order.
    mutating func constant(_ base: String, _ values: [Float], shape: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = fresh(base)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }   // ONNX raw data is little-endian, as x86 and ARM are
        proto.initializer.append(tensor)
        return tensor.name
    }

    /// A 1-D int64 initializer (shapes, pads, slice bounds).
    mutating func integers(_ base: String, _ values: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = fresh(base)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        tensor.dims = [Int64(values.count)]
        tensor.int64Data = values.map(Int64.init)
        proto.initializer.append(tensor)
        return tensor.name
    }

    /// Appends a node and returns the name of its (single) output.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:], name: String,
                       output: String? = nil) -> String {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = fresh("\(name)/\(op)")
        node.input = inputs
        node.output = [output ?? fresh(name)]
        node.attribute = attributes.sorted { $0.key < $1.key }.map { $0.value.proto(named: $0.key) }
        proto.node.append(node)
        return node.output[0]
    }

    /// Keeps `name` for a value named later (the graph output).
    mutating func reserve(_ name: String) { used.insert(name) }

    mutating func addInput(_ name: String, shape: [Int], batch: Int?) {
        used.insert(name)
        proto.input.append(Self.valueInfo(name, shape: shape, batch: batch))
    }

    mutating func addOutput(_ name: String, shape: [Int], batch: Int?) {
        proto.output.append(Self.valueInfo(name, shape: shape, batch: batch))
    }

    /// A float tensor's type; the batch axis is `batch` or, when nil, the symbol "batch".
    private static func valueInfo(_ name: String, shape: [Int], batch: Int?) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var type = Onnx_TypeProto.Tensor()
        type.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var batchDimension = Onnx_TensorShapeProto.Dimension()
        if let batch { batchDimension.dimValue = Int64(batch) } else { batchDimension.dimParam = "batch" }
        type.shape.dim = [batchDimension] + shape.map { size in
            var d = Onnx_TensorShapeProto.Dimension()
            d.dimValue = Int64(size)
            return d
        }
        info.type.tensorType = type
        return info
    }

    enum Attribute {
        case int(Int), ints([Int]), float(Float)

        func proto(named name: String) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            a.name = name
            switch self {
            case .int(let v): a.type = .int; a.i = Int64(v)
            case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
            case .float(let v): a.type = .float; a.f = v
            }
            return a
        }
    }
}

/// `values` (row-major, `shape`) with its axes reordered: axis `i` of the result is axis
/// `permutation[i]` of the input — what Transpose does, for weights.
func permuted(_ values: [Float], shape: [Int], _ permutation: [Int]) -> [Float] {
    let outShape = permutation.map { shape[$0] }
    var inStrides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * shape[axis + 1] }
    var result = [Float](repeating: 0, count: values.count)
    var index = [Int](repeating: 0, count: shape.count)
    for out in 0..<values.count {
        var source = 0
        for axis in 0..<outShape.count { source += index[axis] * inStrides[permutation[axis]] }
        result[out] = values[source]
        var axis = outShape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < outShape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
    return result
}
