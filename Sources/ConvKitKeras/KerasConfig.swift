import ConvKit
import Foundation

/// A Keras 3 model configuration (`config.json`) translated into a ConvKit model file.
///
/// Keras layer arguments mostly carry over by name, since model files use Keras' names. What
/// ConvKit cannot honour (another data format, output padding, a ReLU cap, a quantized Dense…)
/// is refused with the layer and argument named rather than silently dropped.
struct KerasConfig {
    /// The model-file document (`name`, `input`, `layers`) that `ModelFile` builds.
    private(set) var modelFile: [String: Any] = [:]
    /// Each layer's name and its group under `layers/` in model.weights.h5, in model order.
    private(set) var weightGroups: [(name: String, group: String)] = []

    init(json: Any, source: String) throws {
        guard let top = json as? [String: Any], let className = top["class_name"] as? String,
              let config = top["config"] as? [String: Any] else {
            throw ConvKitError("\(source): expected a Keras model configuration with 'class_name' and 'config'")
        }
        guard ["Sequential", "Functional", "Model"].contains(className) else {
            throw ConvKitError("\(source): model class '\(className)' cannot be imported (Sequential or Functional models only)")
        }
        guard let entries = config["layers"] as? [[String: Any]] else { throw ConvKitError("\(source): the model has no 'layers' list") }
        let isSequential = className == "Sequential"
        var inputShape: [Int]?
        var inputName = "input"
        var layers = [[String: Any]]()
        var groupCounts = [String: Int]()

        for entry in entries {
            let kerasClass = entry["class_name"] as? String ?? "?"
            let layerConfig = entry["config"] as? [String: Any] ?? [:]
            let name = layerConfig["name"] as? String ?? entry["name"] as? String ?? "?"
            let at = "\(source): layer '\(name)' (\(kerasClass))"
            if kerasClass == "InputLayer" {
                guard inputShape == nil else { throw ConvKitError("\(at): models with several inputs cannot be imported") }
                guard let shape = layerConfig["batch_shape"] as? [Any] ?? layerConfig["batch_input_shape"] as? [Any] else {
                    throw ConvKitError("\(at): no batch_shape")
                }
                inputShape = try Self.dimensions(shape.dropFirst(), at: at)
                inputName = name
                continue
            }
            let group = snakeCase(kerasClass)
            let count = groupCounts[group, default: 0]
            groupCounts[group] = count + 1
            weightGroups.append((name, count == 0 ? group : "\(group)_\(count)"))

            var (type, arguments) = try Self.translate(kerasClass, layerConfig, at: at)
            arguments["name"] = name
            if layerConfig["trainable"] as? Bool == false { arguments["trainable"] = false }
            if !isSequential {
                arguments["inputs"] = try Self.inboundLayers(entry, at: at).map { $0 == inputName ? "input" : $0 }
            }
            layers.append([type: arguments])
        }

        if isSequential, inputShape == nil, let built = config["build_input_shape"] as? [Any] {
            inputShape = try Self.dimensions(built.dropFirst(), at: "\(source): build_input_shape")
        }
        guard let inputShape else {
            throw ConvKitError("\(source): the model has no input shape (build or call it before saving)")
        }
        if !isSequential {
            let outputs = try Self.endpoints(config["output_layers"], at: "\(source): output_layers")
            guard outputs.count == 1 else { throw ConvKitError("\(source): models with \(outputs.count) outputs cannot be imported") }
            let inputs = try Self.endpoints(config["input_layers"], at: "\(source): input_layers")
            guard inputs == [inputName] else { throw ConvKitError("\(source): models with several inputs cannot be imported") }
            guard let last = layers.last?.values.first as? [String: Any], last["name"] as? String == outputs[0] else {
                throw ConvKitError("\(source): the output layer '\(outputs[0])' must be the last layer of the configuration")
            }
        }
        guard !layers.isEmpty else { throw ConvKitError("\(source): the model has no layers besides its input") }
        modelFile = ["name": config["name"] as? String ?? "imported", "input": inputShape, "layers": layers]
    }

    // MARK: - Wiring

    /// The layer names a functional layer takes its inputs from (each layer called once).
    private static func inboundLayers(_ entry: [String: Any], at: String) throws -> [String] {
        guard let nodes = entry["inbound_nodes"] as? [[String: Any]], !nodes.isEmpty else {
            throw ConvKitError("\(at): has no inbound nodes")
        }
        guard nodes.count == 1 else { throw ConvKitError("\(at): is called \(nodes.count) times; shared layers cannot be imported") }
        let kwargs = nodes[0]["kwargs"] as? [String: Any] ?? [:]
        // Keras records unset call options (`mask: null`) too; a set one would change the result.
        if let extra = kwargs.first(where: { $0.key != "training" && !($0.value is NSNull) })?.key {
            throw ConvKitError("\(at): call argument '\(extra)' is not supported")
        }
        guard let args = nodes[0]["args"] as? [Any], args.count == 1 else { throw ConvKitError("\(at): expected one call argument") }
        let tensors = (args[0] as? [Any]) ?? [args[0]]
        return try tensors.map { tensor in
            guard let t = tensor as? [String: Any], let c = t["config"] as? [String: Any],
                  let history = c["keras_history"] as? [Any], history.count == 3, let layer = history[0] as? String else {
                throw ConvKitError("\(at): an input is not a Keras tensor")
            }
            guard (history[1] as? Int) == 0, (history[2] as? Int) == 0 else {
                throw ConvKitError("\(at): takes the output of a shared or multi-output layer ('\(layer)'), which cannot be imported")
            }
            return layer
        }
    }

    /// `["name", 0, 0]` or `[["name", 0, 0], …]` → the layer names.
    private static func endpoints(_ value: Any?, at: String) throws -> [String] {
        guard let list = value as? [Any], !list.isEmpty else { throw ConvKitError("\(at): missing") }
        if let single = list.first as? String, list.count == 3 { return [single] }
        return try list.map { item in
            guard let triple = item as? [Any], let name = triple.first as? String else { throw ConvKitError("\(at): unexpected entry") }
            return name
        }
    }

    private static func dimensions(_ values: ArraySlice<Any>, at: String) throws -> [Int] {
        try values.map { v in
            guard let n = v as? Int, n > 0 else { throw ConvKitError("\(at): every dimension but the batch must be a fixed positive size") }
            return n
        }
    }

    // MARK: - Layer arguments

    /// Keras arguments copied as they are, per ConvKit layer type.
    private static let copiedArguments: [String: [String]] = {
        let convolution = ["filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "activation", "use_bias"]
        let pooling = ["pool_size", "strides", "padding"]
        return [
            "Conv1D": convolution, "Conv2D": convolution, "Conv3D": convolution,
            "DepthwiseConv2D": ["kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "activation", "use_bias"],
            "SeparableConv2D": ["filters", "kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "activation", "use_bias"],
            "Conv2DTranspose": ["filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias"],
            "MaxPooling1D": pooling, "MaxPooling2D": pooling, "MaxPooling3D": pooling,
            "AveragePooling1D": pooling, "AveragePooling2D": pooling, "AveragePooling3D": pooling,
            "GlobalAveragePooling2D": [], "GlobalMaxPooling2D": [],
            "BatchNormalization": ["momentum", "epsilon", "center", "scale"],
            "Dense": ["units", "activation", "use_bias"],
            "Flatten": [], "Reshape": ["target_shape"], "Activation": ["activation"], "Dropout": ["rate"],
            "ZeroPadding2D": [], "Cropping2D": [], "Add": [], "Concatenate": ["axis"],
        ]
    }()

    /// Arguments that only matter to Keras' own bookkeeping or training extras.
    private static func isIgnored(_ key: String) -> Bool {
        ["name", "trainable", "dtype", "seed", "synchronized", "renorm_momentum", "renorm_clipping"].contains(key)
            || key.hasSuffix("_initializer") || key.hasSuffix("_regularizer") || key.hasSuffix("_constraint")
    }

    /// Arguments that must hold one value (Keras' default) for ConvKit to compute the same thing.
    private static func isDefault(_ key: String, _ value: Any, config: [String: Any]) -> Bool {
        switch key {
        case "data_format": return value as? String == "channels_last"
        case "output_padding", "noise_shape", "quantization_config", "max_value": return value is NSNull
        case "lora_rank": return value is NSNull || value as? Int == 0
        case "lora_alpha": return true
        case "keepdims", "renorm", "sparse", "ragged": return value as? Bool == false
        case "threshold", "negative_slope": return (value as? Double) == 0
        case "axis":
            // BatchNormalization and Softmax act on the channels, the last axis.
            if value as? Int == -1 || (value as? [Int]) == [-1] { return true }
            let rank = ((config["build_config"] as? [String: Any])?["input_shape"] as? [Any])?.count
            return rank.map { value as? Int == $0 - 1 || (value as? [Int]) == [$0 - 1] } ?? false
        default: return false
        }
    }

    static func translate(_ kerasClass: String, _ config: [String: Any], at: String) throws -> (String, [String: Any]) {
        var type = kerasClass
        var arguments = [String: Any]()
        var handled = Set<String>()
        switch kerasClass {
        case "ReLU":
            type = "Activation"; arguments["activation"] = "relu"
        case "LeakyReLU":
            // ConvKit's leaky ReLU has Keras' activation slope, 0.2 (the LeakyReLU layer defaults to 0.3).
            let slope = config["negative_slope"] as? Double ?? config["alpha"] as? Double ?? 0.3
            guard abs(slope - Double(ActivationFunction.leakySlope)) < 1e-6 else {
                throw ConvKitError("\(at): negative_slope \(slope) is not supported (ConvKit's leaky_relu uses \(ActivationFunction.leakySlope))")
            }
            type = "Activation"; arguments["activation"] = "leaky_relu"; handled = ["negative_slope", "alpha"]
        case "Softmax":
            type = "Activation"; arguments["activation"] = "softmax"
        case "ZeroPadding2D", "Cropping2D":
            let key = kerasClass == "ZeroPadding2D" ? "padding" : "cropping"
            arguments[key] = try margins(config[key], key: key, at: at)
            handled = [key]
        default:
            guard copiedArguments[kerasClass] != nil else {
                throw ConvKitError("\(at): Keras layer class '\(kerasClass)' has no ConvKit counterpart")
            }
        }
        let copied = Set(copiedArguments[type] ?? []).subtracting(arguments.keys)
        for (key, value) in config.sorted(by: { $0.key < $1.key }) where !handled.contains(key) {
            if copied.contains(key) {
                if key == "activation" {
                    guard let name = value as? String, ActivationFunction(rawValue: name) != nil else {
                        throw ConvKitError("\(at): activation \(value) is not supported (ConvKit has \(ActivationFunction.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
                arguments[key] = value
            } else if !isIgnored(key) && !isDefault(key, value, config: config) {
                throw ConvKitError("\(at): argument '\(key)' = \(value) is not supported")
            }
        }
        return (type, arguments)
    }

    /// Keras' `((top, bottom), (left, right))`, `(vertical, horizontal)` or one number →
    /// ConvKit's `[top, bottom, left, right]`, `[vertical, horizontal]` or `[n]`.
    private static func margins(_ value: Any?, key: String, at: String) throws -> [Int] {
        if let n = value as? Int { return [n] }
        if let pairs = value as? [[Int]], pairs.count == 2, pairs.allSatisfy({ $0.count == 2 }) { return pairs.flatMap { $0 } }
        if let pair = value as? [Int], pair.count == 2 { return pair }
        throw ConvKitError("\(at): '\(key)' must be a number, two numbers or two pairs")
    }
}
