import Foundation
import Yams

/// Reads a model description file (YAML, or JSON, which is YAML too) into a `Model`.
///
///     name: seed003-conv
///     input: [28, 28, 1]
///     layers:
///       - Conv2D: {filters: 64, kernel_size: 3, padding: same}
///       - BatchNormalization
///       - Activation: relu
///       - Flatten
///       - Dense: {units: 10, activation: softmax}
///
/// A layer is its Keras class name, alone or mapped to its arguments (Keras names and
/// defaults; a single value stands for the first argument). `name:` names a layer and
/// `inputs: [a, b]` wires it to earlier layers (`input` is the model input) — any layer with
/// `inputs` makes the file a graph; otherwise each layer feeds the next. `trainable: false`
/// freezes a layer; `freeze: [kernel]` freezes single parameters. The output is the last layer.
public enum ModelFile {
    public static func load(path: String, seed: UInt64? = nil) throws -> Model {
        guard FileManager.default.fileExists(atPath: path) else { throw ConvKitError("\(path): no such model file") }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConvKitError("\(path): cannot read the file as UTF-8 text")
        }
        return try parse(text, source: path, seed: seed)
    }

    public static func parse(_ text: String, source: String = "<model>", seed: UInt64? = nil) throws -> Model {
        let root: Yams.Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConvKitError("\(source): not valid YAML or JSON: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw ConvKitError("\(source): expected a mapping with 'input' and 'layers'")
        }
        func fail(_ node: Yams.Node?, _ message: String) -> ConvKitError {
            ConvKitError("\(source)\(node?.mark.map { ", line \($0.line)" } ?? ""): \(message)")
        }
        for key in top.keys where !["name", "input", "layers", "architecture", "seed", "description"].contains(key.string ?? "") {
            throw fail(key, "unknown top-level field '\(key.string ?? "?")' (expected name, description, input, layers or architecture, seed)")
        }
        let name = top["name"]?.string ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        guard let inputNode = top["input"] else { throw fail(root, "missing 'input' (the example shape, e.g. [28, 28, 1])") }
        guard let shape = inputNode.sequence?.compactMap(\.integer), shape.count == inputNode.sequence?.count,
              !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw fail(inputNode, "'input' must be a list of positive integers, e.g. [28, 28, 1]")
        }
        let fileSeed: UInt64? = try top["seed"].map { node in
            guard let s = node.integer, s >= 0 else { throw fail(node, "'seed' must be a non-negative integer") }
            return UInt64(s)
        }
        if let architecture = top["architecture"] {
            guard top["layers"] == nil else { throw fail(architecture, "give either 'layers' or 'architecture', not both") }
            var arguments = try LayerArguments(node: architecture, index: 1, source: source)
            do {
                return try ArchitectureRegistry.make(&arguments, inputShape: shape, name: name, seed: seed ?? fileSeed ?? 0)
            } catch let error as ConvKitError {
                throw fail(architecture, "architecture \(arguments.type): \(error.description)")
            }
        }
        guard let layerNodes = top["layers"]?.sequence, !layerNodes.isEmpty else {
            throw fail(top["layers"] ?? root, "'layers' must be a non-empty list")
        }

        var entries = [(layer: Layer, inputs: [String]?, freeze: [String])]()
        for (i, node) in layerNodes.enumerated() {
            var arguments = try LayerArguments(node: node, index: i + 1, source: source)
            do {
                let layer = try LayerRegistry.make(&arguments)
                layer.name = try arguments.optionalString("name")
                layer.trainable = try arguments.bool("trainable", default: true)
                let inputs = try arguments.optionalStringList("inputs")
                let freeze = try arguments.optionalStringList("freeze") ?? []
                try arguments.rejectUnused()
                entries.append((layer, inputs, freeze))
            } catch let error as ConvKitError {
                throw fail(node, "\(arguments.label): \(error.description)")
            }
        }

        let seed = seed ?? fileSeed ?? 0
        let model: Model
        do {
            if entries.allSatisfy({ $0.inputs == nil }) {
                model = try Model(sequential: entries.map(\.layer), inputShape: shape, name: name, seed: seed)
            } else {
                model = try buildGraph(entries.map { ($0.layer, $0.inputs) }, inputShape: shape, name: name, seed: seed)
            }
        } catch let error as ConvKitError {
            throw ConvKitError("\(source): \(error.description)")
        }
        for (layer, _, freeze) in entries {
            for key in freeze {
                guard let p = layer.parameter(key) else {
                    throw ConvKitError("\(source): layer '\(layer.name!)' has no parameter '\(key)' to freeze (it has \(layer.parameters.map(\.name).joined(separator: ", ")))")
                }
                p.trainable = false
            }
        }
        return model
    }

    private static func buildGraph(_ entries: [(Layer, [String]?)], inputShape: [Int], name: String, seed: UInt64) throws -> Model {
        // Name layers first, so that `inputs:` may refer to automatic names (`conv2d_1`).
        if entries.contains(where: { $0.0.name == "input" }) {
            throw ConvKitError("'input' names the model input; choose another layer name")
        }
        try Model.assignNames(entries.map(\.0))
        let input = Input(shape: inputShape)
        var nodes = ["input": input]
        var previous = input
        for (i, (layer, inputNames)) in entries.enumerated() {
            let sources = try (inputNames.map { $0.map(Optional.some) } ?? [nil]).map { wanted -> Node in
                guard let wanted else { return previous }
                guard let node = nodes[wanted] else {
                    throw ConvKitError("layer \(i + 1) (\(layer.typeName)): input '\(wanted)' is not the name of an earlier layer or 'input'")
                }
                return node
            }
            do { previous = try layer(sources) } catch let error as ConvKitError {
                throw ConvKitError("layer \(i + 1), \(error.description)")
            }
            nodes[layer.name!] = previous
        }
        return try Model(input: input, output: previous, name: name, seed: seed)
    }
}

/// The arguments of one layer entry, read with type checks; every argument must be used.
struct LayerArguments {
    let type: String
    let index: Int
    private var values: [(key: String, value: Yams.Node)] = []
    private var positional: Yams.Node?
    private var used = Set<String>()

    var label: String { "layer \(index) (\(type))" }

    init(node: Yams.Node, index: Int, source: String) throws {
        self.index = index
        let at = "\(source)\(node.mark.map { ", line \($0.line)" } ?? ""): layer \(index)"
        if let name = node.scalar?.string {
            type = name
            return
        }
        guard let mapping = node.mapping, mapping.count == 1, let (key, value) = mapping.first.map({ ($0.key, $0.value) }),
              let name = key.string else {
            throw ConvKitError("\(at): expected a layer name or a mapping '- LayerType: {arguments}'")
        }
        type = name
        if let args = value.mapping {
            for (k, v) in args {
                guard let key = k.string else { throw ConvKitError("\(at) (\(name)): argument names must be strings") }
                values.append((key, v))
            }
        } else if value.scalar?.string != "" || value.sequence != nil {
            positional = value
        }
    }

    /// The value of `key`, or the lone positional value when `key` is the first argument.
    private mutating func take(_ key: String, positionalFirst: Bool) -> Yams.Node? {
        if let i = values.firstIndex(where: { $0.key == key }) {
            used.insert(key)
            return values[i].value
        }
        if positionalFirst, let p = positional { positional = nil; return p }
        return nil
    }

    mutating func rejectUnused() throws {
        if positional != nil { throw ConvKitError("takes no positional value") }
        let unknown = values.map(\.key).filter { !used.contains($0) }
        if !unknown.isEmpty { throw ConvKitError("unknown argument(s) \(unknown.map { "'\($0)'" }.joined(separator: ", "))") }
    }

    private func typeError(_ key: String, _ expected: String, _ node: Yams.Node) -> ConvKitError {
        ConvKitError("argument '\(key)' must be \(expected), got \(describe(node))")
    }

    private func describe(_ node: Yams.Node) -> String {
        if let s = node.scalar?.string { return "'\(s)'" }
        if node.sequence != nil { return "a list" }
        return "a mapping"
    }

    mutating func int(_ key: String, default value: Int? = nil, first: Bool = false) throws -> Int {
        guard let node = take(key, positionalFirst: first) else {
            if let value { return value }
            throw ConvKitError("missing required argument '\(key)'")
        }
        guard let v = node.integer else { throw typeError(key, "an integer", node) }
        return v
    }

    mutating func float(_ key: String, default value: Float, first: Bool = false) throws -> Float {
        guard let node = take(key, positionalFirst: first) else { return value }
        guard let v = node.float else { throw typeError(key, "a number", node) }
        return Float(v)
    }

    mutating func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let node = take(key, positionalFirst: false) else { return value }
        guard let v = node.bool else { throw typeError(key, "true or false", node) }
        return v
    }

    mutating func optionalString(_ key: String) throws -> String? {
        guard let node = take(key, positionalFirst: false) else { return nil }
        guard let v = node.scalar?.string else { throw typeError(key, "a string", node) }
        return v
    }

    /// One of an enumeration's raw values; nil when absent.
    mutating func optionalChoice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws -> T? where T.RawValue == String {
        guard let name = try optionalString(key) else { return nil }
        guard let value = T(rawValue: name) else {
            throw ConvKitError("argument '\(key)' must be one of \(T.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")), got '\(name)'")
        }
        return value
    }

    mutating func optionalStringList(_ key: String) throws -> [String]? {
        guard let node = take(key, positionalFirst: false) else { return nil }
        if let s = node.scalar?.string { return [s] }
        guard let list = node.sequence?.compactMap({ $0.scalar?.string }), list.count == node.sequence?.count else {
            throw typeError(key, "a list of names", node)
        }
        return list
    }

    mutating func intList(_ key: String, default value: [Int]? = nil, first: Bool = false) throws -> [Int] {
        guard let node = take(key, positionalFirst: first) else {
            if let value { return value }
            throw ConvKitError("missing required argument '\(key)'")
        }
        if let v = node.integer { return [v] }
        guard let list = node.sequence?.compactMap(\.integer), list.count == node.sequence?.count else {
            throw typeError(key, "an integer or a list of integers", node)
        }
        return list
    }

    mutating func size(_ key: String, default value: SpatialSize? = nil, first: Bool = false) throws -> SpatialSize {
        if values.contains(where: { $0.key == key }) || (first && positional != nil) || value == nil {
            return SpatialSize(try intList(key, first: first))
        }
        return value!
    }

    mutating func optionalSize(_ key: String) throws -> SpatialSize? {
        values.contains(where: { $0.key == key }) ? SpatialSize(try intList(key)) : nil
    }

    mutating func padding(_ key: String = "padding") throws -> Padding {
        guard let node = take(key, positionalFirst: false) else { return .valid }
        switch node.scalar?.string.lowercased() {
        case "valid": return .valid
        case "same": return .same
        default: throw typeError(key, "'valid' or 'same'", node)
        }
    }

    mutating func activation(_ key: String = "activation", first: Bool = false) throws -> ActivationFunction {
        guard let node = take(key, positionalFirst: first) else { return .linear }
        guard let name = node.scalar?.string else { throw typeError(key, "an activation name", node) }
        return try ActivationFunction(named: name)
    }

    mutating func initializer(_ key: String, default value: any Initializer) throws -> any Initializer {
        guard let node = take(key, positionalFirst: false) else { return value }
        do { return try InitializerSpec.parse(node) } catch let error as ConvKitError {
            throw ConvKitError("argument '\(key)': \(error.description)")
        }
    }
}

/// Initializers in model files: a Keras name (`he_normal`), or a one-key mapping with
/// arguments (`{random_normal: {stddev: 0.01}}`, `{constant: 0.5}`, `{values: [[...]]}`).
enum InitializerSpec {
    static let names = ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
                        "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                        "lecun_uniform", "orthogonal", "variance_scaling", "pytorch_default", "values"]

    static func parse(_ node: Yams.Node) throws -> any Initializer {
        var name: String, args = [String: Yams.Node](), lone: Yams.Node?
        if let s = node.scalar?.string {
            name = s
        } else if let m = node.mapping, m.count == 1, let key = m.first?.key.string {
            name = key
            if let inner = m.first!.value.mapping {
                for (k, v) in inner { if let k = k.string { args[k] = v } }
            } else { lone = m.first!.value }
        } else { throw ConvKitError("expected an initializer name or '{name: {arguments}}'") }
        name = snakeCase(name)
        func number(_ key: String, _ fallback: Double) throws -> Double {
            guard let v = args.removeValue(forKey: key) ?? (key == "value" || key == "stddev" || key == "gain" ? lone : nil) else { return fallback }
            guard let d = v.float else { throw ConvKitError("'\(key)' must be a number") }
            return d
        }
        let made: any Initializer
        switch name {
        case "zeros": made = Constant(0)
        case "ones": made = Constant(1)
        case "constant": made = Constant(Float(try number("value", 0)))
        case "random_normal": made = RandomNormal(mean: Float(try number("mean", 0)), stddev: Float(try number("stddev", 0.05)))
        case "truncated_normal": made = TruncatedNormal(mean: Float(try number("mean", 0)), stddev: Float(try number("stddev", 0.05)))
        case "random_uniform": made = RandomUniform(minval: Float(try number("minval", -0.05)), maxval: Float(try number("maxval", 0.05)))
        case "glorot_uniform": made = .glorotUniform
        case "glorot_normal": made = .glorotNormal
        case "he_normal": made = .heNormal
        case "he_uniform": made = .heUniform
        case "lecun_normal": made = .lecunNormal
        case "lecun_uniform": made = .lecunUniform
        case "pytorch_default": made = .pytorchDefault
        case "orthogonal": made = Orthogonal(gain: try number("gain", 1))
        case "variance_scaling":
            let mode = try args.removeValue(forKey: "mode").map { n in
                guard let m = n.string.flatMap({ VarianceScaling.Mode(rawValue: $0) }) else { throw ConvKitError("'mode' must be fan_in, fan_out or fan_avg") }
                return m
            } ?? .fanIn
            let distribution = try args.removeValue(forKey: "distribution").map { n in
                guard let d = n.string.flatMap({ VarianceScaling.Distribution(rawValue: $0) }) else {
                    throw ConvKitError("'distribution' must be truncated_normal, untruncated_normal or uniform")
                }
                return d
            } ?? .truncatedNormal
            made = VarianceScaling(scale: try number("scale", 1), mode: mode, distribution: distribution)
        case "values":
            guard let lone else { throw ConvKitError("'values' takes a (nested) list of numbers") }
            var flat = [Float]()
            func collect(_ n: Yams.Node) throws {
                if let list = n.sequence { try list.forEach(collect) }
                else if let v = n.float { flat.append(Float(v)) }
                else { throw ConvKitError("'values' must hold numbers only") }
            }
            try collect(lone)
            return FromValues(Tensor(shape: [flat.count], scalars: flat))
        default:
            throw ConvKitError("unknown initializer '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        if let extra = args.keys.sorted().first { throw ConvKitError("initializer '\(name)' has no argument '\(extra)'") }
        return made
    }
}

extension Yams.Node {
    /// A plain decimal integer, or nil. Yams' own `int` also reads YAML 1.1 forms such as
    /// sexagesimal `1:30`, and traps when those overflow (found by `make fuzz`), so model files
    /// read integers with this instead.
    var integer: Int? {
        guard let text = scalar?.string, text.count <= 20 else { return nil }
        return Int(text)
    }
}
