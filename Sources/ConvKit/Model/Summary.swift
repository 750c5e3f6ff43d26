/// The receptive field of one node: the input window (per spatial axis) that one output
/// value depends on, and the input distance between neighbouring outputs.
public struct ReceptiveField: Sendable, CustomStringConvertible {
    public var size: [Double]
    public var jump: [Double]
    /// True once a layer mixed all positions (Dense on a vector, Flatten then Dense, global pooling).
    public var isGlobal: Bool

    public var description: String {
        if isGlobal { return "global" }
        if size.isEmpty { return "-" }
        return size.map { $0 == $0.rounded() ? String(Int($0)) : String(format1: $0) }.joined(separator: "×")
    }

    /// The field after `layer`, given the fields of its inputs.
    static func after(_ layer: Layer, inputs: [ReceptiveField]) -> ReceptiveField {
        var field = inputs[0]
        for other in inputs.dropFirst() where other.size.count == field.size.count {
            field.size = zip(field.size, other.size).map(max)
            field.isGlobal = field.isGlobal || other.isGlobal
        }
        if field.isGlobal { return field }
        if layer.mixesSpatialAxes { field.isGlobal = true; return field }
        // Layers without a window (BatchNorm, Flatten, padding…) keep each value's field.
        guard let w = layer.window, w.kernel.count == field.size.count else { return field }
        for axis in field.size.indices {
            let span = Double(w.dilations[axis] * (w.kernel[axis] - 1) + 1), s = Double(w.strides[axis])
            if w.transposed {
                field.size[axis] += ((span / s).rounded(.up) - 1) * field.jump[axis]
                field.jump[axis] /= s
            } else {
                field.size[axis] += (span - 1) * field.jump[axis]
                field.jump[axis] *= s
            }
        }
        return field
    }
}

extension String {
    init(format1 value: Double) { self = "\((value * 10).rounded() / 10)" }
}

/// Groups digits by thousands: 1438482 → "1,438,482".
public func groupedDigits(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

extension Model {
    /// One row of the summary table.
    public struct LayerReport: Sendable {
        public let name: String, type: String
        public let outputShape: [Int]
        public let parameters: Int, trainableParameters: Int
        public let flops: Int
        public let receptiveField: ReceptiveField
        public let inputs: [String]
    }

    /// Per-layer output shape, parameters, FLOPs (per example, forward) and receptive field.
    public var layerReports: [LayerReport] {
        var fields = [ObjectIdentifier: ReceptiveField]()
        let spatial = max(inputShape.count - 1, 0)
        fields[ObjectIdentifier(input)] = ReceptiveField(size: [Double](repeating: 1, count: spatial),
                                                          jump: [Double](repeating: 1, count: spatial), isGlobal: false)
        return nodes.map { node in
            let layer = node.layer!
            let field = ReceptiveField.after(layer, inputs: node.inputs.map { fields[ObjectIdentifier($0)]! })
            fields[ObjectIdentifier(node)] = field
            return LayerReport(name: layer.name!, type: layer.typeName, outputShape: node.shape,
                               parameters: layer.parameterCount, trainableParameters: layer.trainableParameterCount,
                               flops: layer.flops, receptiveField: field,
                               inputs: node.inputs.map { $0.layer?.name ?? "input" })
        }
    }

    /// Floating-point operations of one forward pass for one example.
    public var flops: Int { layers.reduce(0) { $0 + $1.flops } }

    /// The classic Keras table — `Layer (type)`, `Output Shape`, `Param #` and the three
    /// totals — with two more columns Keras lacks: FLOPs and receptive field.
    public func summary() -> String {
        let reports = layerReports
        var header = ["Layer (type)", "Output Shape", "Param #", "FLOPs", "Receptive field"]
        if !isSequential { header.append("Connected to") }
        var rows = [[String]]()
        if !isSequential { rows.append(["input (InputLayer)", kerasShape(inputShape), "0", "0", "1", ""]) }
        for r in reports {
            var row = ["\(r.name) (\(r.type))", kerasShape(r.outputShape), groupedDigits(r.parameters),
                       groupedDigits(r.flops), r.receptiveField.description]
            if !isSequential { row.append(r.inputs.joined(separator: ", ")) }
            rows.append(row)
        }
        let widths = header.indices.map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) + 3 }
        func line(_ cells: [String]) -> String {
            let padded = " " + zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined()
            return String(padded.reversed().drop { $0 == " " }.reversed())
        }
        let width = widths.reduce(1, +)
        var out = ["Model: \"\(name)\"", String(repeating: "_", count: width), line(header), String(repeating: "=", count: width)]
        for (i, row) in rows.enumerated() {
            out.append(line(row))
            out.append(String(repeating: i == rows.count - 1 ? "=" : "_", count: width))
        }
        let total = parameterCount, trainable = trainableParameterCount
        out.append("Total params: \(groupedDigits(total))")
        out.append("Trainable params: \(groupedDigits(trainable))")
        out.append("Non-trainable params: \(groupedDigits(total - trainable))")
        out.append("Forward FLOPs per example: \(groupedDigits(flops))")
        out.append("Receptive field at the output: \(reports.last?.receptiveField.description ?? "-")")
        out.append(String(repeating: "_", count: width))
        return out.joined(separator: "\n")
    }
}
