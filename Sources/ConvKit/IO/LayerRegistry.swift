/// Makes layers from their Keras class names and arguments, for model files.
enum LayerRegistry {
    static let makers: [String: @Sendable (inout LayerArguments) throws -> Layer] = [
        "Conv1D": { try convolution(&$0, rank: 1) },
        "Conv2D": { try convolution(&$0, rank: 2) },
        "Conv3D": { try convolution(&$0, rank: 3) },
        "DepthwiseConv2D": { a in
            DepthwiseConv2D(kernelSize: try a.size("kernel_size", first: true), strides: try a.size("strides", default: 1),
                            padding: try a.padding(), depthMultiplier: try a.int("depth_multiplier", default: 1),
                            dilationRate: try a.size("dilation_rate", default: 1), activation: try a.activation(),
                            useBias: try a.bool("use_bias", default: true),
                            depthwiseInitializer: try a.initializer("depthwise_initializer", default: .glorotUniform),
                            biasInitializer: try a.initializer("bias_initializer", default: .zeros))
        },
        "SeparableConv2D": { a in
            SeparableConv2D(filters: try a.int("filters", first: true), kernelSize: try a.size("kernel_size"),
                            strides: try a.size("strides", default: 1), padding: try a.padding(),
                            depthMultiplier: try a.int("depth_multiplier", default: 1),
                            dilationRate: try a.size("dilation_rate", default: 1), activation: try a.activation(),
                            useBias: try a.bool("use_bias", default: true),
                            depthwiseInitializer: try a.initializer("depthwise_initializer", default: .glorotUniform),
                            pointwiseInitializer: try a.initializer("pointwise_initializer", default: .glorotUniform),
                            biasInitializer: try a.initializer("bias_initializer", default: .zeros))
        },
        "LCConv2D": { a in
            LCConv2D(filters: try a.int("filters", first: true), kernelSize: try a.size("kernel_size"),
                     expansion: try a.int("expansion", default: 1), strides: try a.size("strides", default: 1),
                     padding: try a.padding(), dilationRate: try a.size("dilation_rate", default: 1),
                     frozenSpatial: try a.bool("frozen_spatial", default: false),
                     intermediate: try a.optionalChoice("intermediate", LCConv2D.Intermediate.self) ?? .none,
                     computation: try a.optionalChoice("computation", LCConv2D.Computation.self), activation: try a.activation(),
                     useBias: try a.bool("use_bias", default: true),
                     spatialInitializer: try a.initializer("spatial_initializer", default: .glorotUniform),
                     combinationInitializer: try a.initializer("combination_initializer", default: .glorotUniform),
                     biasInitializer: try a.initializer("bias_initializer", default: .zeros))
        },
        "Conv2DTranspose": { a in
            Conv2DTranspose(filters: try a.int("filters", first: true), kernelSize: try a.size("kernel_size"),
                            strides: try a.size("strides", default: 1), padding: try a.padding(),
                            dilationRate: try a.size("dilation_rate", default: 1), activation: try a.activation(),
                            useBias: try a.bool("use_bias", default: true),
                            kernelInitializer: try a.initializer("kernel_initializer", default: .glorotUniform),
                            biasInitializer: try a.initializer("bias_initializer", default: .zeros))
        },
        "MaxPooling1D": { try pooling(&$0, rank: 1, mode: .max) },
        "MaxPooling2D": { try pooling(&$0, rank: 2, mode: .max) },
        "MaxPooling3D": { try pooling(&$0, rank: 3, mode: .max) },
        "AveragePooling1D": { try pooling(&$0, rank: 1, mode: .average) },
        "AveragePooling2D": { try pooling(&$0, rank: 2, mode: .average) },
        "AveragePooling3D": { try pooling(&$0, rank: 3, mode: .average) },
        "GlobalAveragePooling2D": { _ in GlobalAveragePooling2D() },
        "GlobalMaxPooling2D": { _ in GlobalMaxPooling2D() },
        "BatchNormalization": { a in
            BatchNormalization(momentum: try a.float("momentum", default: 0.99), epsilon: try a.float("epsilon", default: 1e-3),
                               center: try a.bool("center", default: true), scale: try a.bool("scale", default: true))
        },
        "Dense": { a in
            Dense(units: try a.int("units", first: true), activation: try a.activation(),
                  useBias: try a.bool("use_bias", default: true),
                  kernelInitializer: try a.initializer("kernel_initializer", default: .glorotUniform),
                  biasInitializer: try a.initializer("bias_initializer", default: .zeros))
        },
        "Flatten": { _ in Flatten() },
        "Reshape": { a in Reshape(try a.intList("target_shape", first: true)) },
        "Activation": { a in Activation(try a.activation(first: true)) },
        "Dropout": { a in Dropout(rate: try a.float("rate", default: .nan, first: true).validRate()) },
        "ZeroPadding2D": { a in ZeroPadding2D(padding: try Margins(try a.intList("padding", default: [1], first: true))) },
        "Cropping2D": { a in Cropping2D(cropping: try Margins(try a.intList("cropping", default: [0], first: true))) },
        "Add": { _ in Add() },
        "Concatenate": { a in Concatenate(axis: try a.int("axis", default: -1, first: true)) },
    ]

    static func make(_ arguments: inout LayerArguments) throws -> Layer {
        guard let maker = makers[arguments.type] else {
            throw ConvKitError("unknown layer type (known: \(makers.keys.sorted().joined(separator: ", ")))")
        }
        return try maker(&arguments)
    }

    private static func convolution(_ a: inout LayerArguments, rank: Int) throws -> Layer {
        try ConvolutionLayer.make(
            rank: rank, filters: try a.int("filters", first: true), kernelSize: try a.size("kernel_size"),
            strides: try a.size("strides", default: 1), padding: try a.padding(),
            dilationRate: try a.size("dilation_rate", default: 1), groups: try a.int("groups", default: 1),
            activation: try a.activation(), useBias: try a.bool("use_bias", default: true),
            kernelInitializer: try a.initializer("kernel_initializer", default: .glorotUniform),
            biasInitializer: try a.initializer("bias_initializer", default: .zeros))
    }

    private static func pooling(_ a: inout LayerArguments, rank: Int, mode: PoolingLayer.Mode) throws -> Layer {
        let pool = try a.size("pool_size", default: 2, first: true)
        let strides = try a.optionalSize("strides")
        let padding = try a.padding()
        switch (rank, mode) {
        case (1, .max): return MaxPooling1D(poolSize: pool, strides: strides, padding: padding)
        case (2, .max): return MaxPooling2D(poolSize: pool, strides: strides, padding: padding)
        case (3, .max): return MaxPooling3D(poolSize: pool, strides: strides, padding: padding)
        case (1, .average): return AveragePooling1D(poolSize: pool, strides: strides, padding: padding)
        case (2, .average): return AveragePooling2D(poolSize: pool, strides: strides, padding: padding)
        default: return AveragePooling3D(poolSize: pool, strides: strides, padding: padding)
        }
    }
}

private extension Float {
    func validRate() throws -> Float {
        if isNaN { throw ConvKitError("missing required argument 'rate'") }
        return self
    }
}

extension ConvolutionLayer {
    /// The public class for `rank` (Conv1D, Conv2D or Conv3D).
    static func make(rank: Int, filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding,
                     dilationRate: SpatialSize, groups: Int, activation: ActivationFunction, useBias: Bool,
                     kernelInitializer: any Initializer, biasInitializer: any Initializer) throws -> ConvolutionLayer {
        switch rank {
        case 1: return Conv1D(filters: filters, kernelSize: kernelSize, strides: strides, padding: padding, dilationRate: dilationRate,
                              groups: groups, activation: activation, useBias: useBias,
                              kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
        case 2: return Conv2D(filters: filters, kernelSize: kernelSize, strides: strides, padding: padding, dilationRate: dilationRate,
                              groups: groups, activation: activation, useBias: useBias,
                              kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
        default: return Conv3D(filters: filters, kernelSize: kernelSize, strides: strides, padding: padding, dilationRate: dilationRate,
                               groups: groups, activation: activation, useBias: useBias,
                               kernelInitializer: kernelInitializer, biasInitializer: biasInitializer)
        }
    }
}

/// Whole networks named in a model file's `architecture:` field, instead of a `layers:` list:
///
///     architecture:
///       ResNet: {depth: 20, width: 16, kernel_size: 3, block: lc, expansion: 4, frozen_spatial: true}
///
/// An LC ResNet may also name the paper's ablation, `intermediate: relu|batch_norm|batch_norm_relu`.
enum ArchitectureRegistry {
    static func make(_ a: inout LayerArguments, inputShape: [Int], name: String, seed: UInt64) throws -> Model {
        switch a.type {
        case "ResNet":
            var resnet = ResNet(depth: try a.int("depth", default: 20), width: try a.int("width", default: 16),
                                kernelSize: try a.int("kernel_size", default: 3), classes: try a.int("classes", default: 10),
                                initializer: try a.initializer("initializer", default: .pytorchDefault))
            let block = try a.optionalString("block") ?? "conv"
            let expansion = try a.int("expansion", default: 1), frozen = try a.bool("frozen_spatial", default: false)
            let intermediate = try a.optionalChoice("intermediate", LCConv2D.Intermediate.self)
            switch block {
            case "conv":
                guard expansion == 1, !frozen, intermediate == nil else {
                    throw ConvKitError("expansion, frozen_spatial and intermediate need block: lc")
                }
            case "lc":
                resnet.convolution = .linearCombination(expansion: expansion, frozen: frozen, intermediate: intermediate ?? .none)
            default: throw ConvKitError("argument 'block' must be conv or lc, got '\(block)'")
            }
            try a.rejectUnused()
            return try resnet.model(inputShape: inputShape, name: name, seed: seed)
        default:
            throw ConvKitError("unknown architecture (known: ResNet)")
        }
    }
}
