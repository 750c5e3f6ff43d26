import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Central-difference checks of input and parameter gradients for every layer.
@Suite struct GradientTests {
    struct Case: Sendable, CustomStringConvertible {
        let spec: String, inputShape: [Int]
        var description: String { spec }
    }

    static let cases: [Case] = [
        Case(spec: "Conv2D: {filters: 3, kernel_size: 3, strides: 2, padding: same, activation: tanh}", inputShape: [5, 6, 2]),
        Case(spec: "Conv2D: {filters: 4, kernel_size: 3, dilation_rate: 2, groups: 2}", inputShape: [6, 6, 4]),
        Case(spec: "Conv2D: {filters: 3, kernel_size: 1, activation: sigmoid}", inputShape: [3, 3, 4]),
        Case(spec: "Conv1D: {filters: 2, kernel_size: 3, padding: same, activation: gelu}", inputShape: [7, 3]),
        Case(spec: "Conv3D: {filters: 2, kernel_size: 2, strides: [1, 2, 1]}", inputShape: [3, 4, 3, 2]),
        Case(spec: "DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2, padding: same}", inputShape: [4, 5, 3]),
        Case(spec: "DepthwiseConv2D: {kernel_size: 3, strides: 2}", inputShape: [5, 5, 2]),
        Case(spec: "SeparableConv2D: {filters: 3, kernel_size: 3, depth_multiplier: 2, padding: same}", inputShape: [4, 4, 2]),
        Case(spec: "LCConv2D: {filters: 2, kernel_size: 3, expansion: 3, strides: 2, padding: same, activation: tanh}", inputShape: [5, 5, 2]),
        Case(spec: "LCConv2D: {filters: 3, kernel_size: 3, expansion: 2, frozen_spatial: true}", inputShape: [4, 4, 2]),
        Case(spec: "Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, padding: same}", inputShape: [3, 3, 2]),
        Case(spec: "Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2}", inputShape: [2, 3, 2]),
        Case(spec: "MaxPooling2D: {pool_size: 2, padding: same}", inputShape: [5, 5, 2]),
        Case(spec: "AveragePooling2D: {pool_size: 3, strides: 2, padding: same}", inputShape: [5, 6, 2]),
        Case(spec: "MaxPooling1D: {pool_size: 2}", inputShape: [6, 2]),
        Case(spec: "AveragePooling3D: {pool_size: 2, padding: same}", inputShape: [3, 3, 3, 2]),
        Case(spec: "GlobalAveragePooling2D", inputShape: [3, 4, 3]),
        Case(spec: "GlobalMaxPooling2D", inputShape: [3, 4, 3]),
        Case(spec: "BatchNormalization", inputShape: [3, 3, 4]),
        Case(spec: "Dense: {units: 4, activation: leaky_relu}", inputShape: [5]),
        Case(spec: "Dense: {units: 3, activation: softmax}", inputShape: [2, 4]),
        Case(spec: "Activation: relu", inputShape: [4, 3]),
        Case(spec: "Activation: softmax", inputShape: [5]),
        Case(spec: "Flatten", inputShape: [2, 3, 2]),
        Case(spec: "Reshape: [3, -1]", inputShape: [2, 3, 2]),
        Case(spec: "ZeroPadding2D: [1, 0, 2, 1]", inputShape: [3, 3, 2]),
        Case(spec: "Cropping2D: [1, 1, 0, 1]", inputShape: [4, 4, 2]),
    ]

    @Test(arguments: cases)
    func layerGradientsMatchCentralDifferences(_ c: Case) throws {
        let model = try singleLayerModel(c.spec, inputShape: c.inputShape)
        let x = randomTensor([3] + c.inputShape, seed: 42)
        let failures = try gradientMismatches(model, input: x)
        #expect(failures.isEmpty, "\(c.spec): \(failures.joined(separator: "; "))")
    }

    /// Dense's bias gradient is the column sums of the output gradient, also at a size whose sums
    /// the workers split (256 × 300 values, above the threading threshold).
    @Test func denseBiasGradientIsTheColumnSumsAtEverySize() throws {
        for rows in [3, 256] {
            let model = try singleLayerModel("Dense: {units: 300}", inputShape: [8])
            _ = try model.forward(randomTensor([rows, 8], seed: 5), training: true)
            let gradient = randomTensor([rows, 300], seed: 6)
            try model.backward(gradient)
            let bias = try #require(model.layers[0].parameter("bias")?.gradient)
            let columns = (0..<300).map { j in Float((0..<rows).reduce(0.0) { $0 + Double(gradient.scalars[$1 * 300 + j]) }) }
            #expect(relativeError(bias, Tensor(shape: [300], scalars: columns)) < 1e-5, "batch \(rows)")
        }
    }

    @Test func mergeLayerGradientsAccumulateOverBranches() throws {
        // input → tanh → Add(input, tanh) and Concatenate(input, sigmoid): the input gradient
        // sums both paths.
        for merge in ["Add", "Concatenate"] {
            let model = try ModelFile.parse("""
                input: [3, 2]
                layers:
                  - Activation: {activation: tanh, name: t}
                  - Dense: {units: 2, name: d, inputs: input}
                  - \(merge): {inputs: [t, d]}
                """)
            let failures = try gradientMismatches(model, input: randomTensor([2, 3, 2], seed: 8))
            #expect(failures.isEmpty, "\(merge): \(failures.joined(separator: "; "))")
        }
    }

    @Test func dropoutScalesAndRoutesGradientsThroughItsMask() throws {
        let model = try singleLayerModel("Dropout: 0.5", inputShape: [200])
        let x = Tensor(repeating: 1, shape: [2, 200])
        let y = try model.forward(x, training: true)
        let kept = y.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })                       // 1/(1 − 0.5)
        #expect((120...280).contains(kept.count))                 // about half of 400
        let dx = try model.backward(Tensor(repeating: 1, shape: [2, 200]))
        #expect(dx.scalars == y.scalars)                          // same mask, same scale
        #expect(try model.predict(x) == x)                        // inference passes through
    }

    @Test(arguments: ["categorical_crossentropy", "categorical_crossentropy_smoothed", "categorical_crossentropy_logits",
                      "sparse_categorical_crossentropy_logits", "binary_crossentropy", "binary_crossentropy_logits",
                      "mean_squared_error"])
    func lossGradientsMatchCentralDifferences(_ name: String) throws {
        let c = try #require(Fixtures.shared.losses.first { $0.spec == name })
        let loss = TrainingTests.loss(named: name)
        // Away from the clip for probabilities; logits may be negative.
        let p = Tensor(shape: c.shape, scalars: name.contains("logits") || name.contains("squared") ? c.predictions : c.predictions.map { max($0, 0.01) })
        let y = Tensor(shape: c.targets_shape, scalars: c.targets)
        let exact = try loss.compute(predictions: p, targets: y).gradient
        let h: Float = 1e-3
        for i in 0..<p.count {
            var plus = p, minus = p
            plus.scalars[i] += h; minus.scalars[i] -= h
            let numeric = (try loss.compute(predictions: plus, targets: y).value - loss.compute(predictions: minus, targets: y).value) / (2 * h)
            #expect(abs(numeric - exact.scalars[i]) < 2e-3 + 1e-2 * abs(exact.scalars[i]), "\(name)[\(i)]: numeric \(numeric), analytic \(exact.scalars[i])")
        }
    }
}
