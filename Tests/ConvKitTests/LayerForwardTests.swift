import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Every layer's forward values against NumPy (scripts/make_fixtures.py).
@Suite struct LayerForwardTests {
    @Test(arguments: Fixtures.shared.cases.indices)
    func matchesNumPyReference(_ index: Int) throws {
        let c = Fixtures.shared.cases[index]
        let model = try singleLayerModel(c.spec, inputShape: c.input_shape)
        let layer = model.layers[0]
        for (name, values) in c.params {
            let p = try #require(layer.parameter(name), "\(c.spec): no parameter \(name)")
            #expect(p.value.count == values.count, "\(c.spec): \(name) has \(p.value.count) values, NumPy \(values.count)")
            p.value = Tensor(shape: p.value.shape, scalars: values)
        }
        let x = Tensor(shape: [c.batch] + c.input_shape, scalars: c.input)
        let y = try model.forward(x, training: c.training)
        #expect(y.shape == c.output_shape, "\(c.spec)")
        let expected = Tensor(shape: c.output_shape, scalars: c.output.map(Float.init))
        if y.shape == expected.shape {
            #expect(relativeError(y, expected) < 1e-5, "\(c.spec): relative error \(relativeError(y, expected))")
        }
    }

    @Test func handSetSobelFilterFindsVerticalEdges() throws {
        // A 4×4 image dark on the left, bright on the right: Sobel-x responds only at the edge.
        let kernel = HandSetFilter.sobelX.reshaped(to: [3, 3, 1, 1])
        let model = try Model(sequential: [Conv2D(filters: 1, kernelSize: 3, useBias: false,
                                                  kernelInitializer: .values(kernel))], inputShape: [4, 4, 1])
        let image = Tensor(shape: [1, 4, 4, 1], scalars: [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])
        let y = try model.predict(image)
        #expect(y.scalars == [4, 4, 4, 4])
    }
}

@Suite struct MergeLayerForwardTests {
    private func twoBranchModel(_ merge: String, _ arguments: String = "") throws -> Model {
        // input → Dense(2, kernel = identity-like values) and input → itself, merged.
        try ModelFile.parse("""
            input: [2]
            layers:
              - Dense: {units: 2, name: d, kernel_initializer: {values: [[1, 2], [3, 4]]}}
              - \(merge): {\(arguments)inputs: [input, d]}
            """)
    }

    @Test func addSumsItsInputs() throws {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, -1, 0.5])
        // x·W = [1+6, 2+8] = [7, 10] and [−1+1.5, −2+2] = [0.5, 0]; plus x.
        #expect(try twoBranchModel("Add").predict(x).scalars == [8, 12, -0.5, 0.5])
    }

    @Test func concatenateCountsTheBatchAxisLikeKeras() throws {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, -1, 0.5])
        #expect(try twoBranchModel("Concatenate").predict(x).scalars == [1, 2, 7, 10, -1, 0.5, 0.5, 0])
        #expect(try twoBranchModel("Concatenate", "axis: 1, ").predict(x).shape == [2, 4])
        // Image concatenation along height (axis 1) and channels (−1).
        let a = Input(shape: [2, 1, 1]), b = try Activation(.linear)(a)
        let tall = try Model(input: a, output: try Concatenate(axis: 1)([a, b]))
        let image = Tensor(shape: [1, 2, 1, 1], scalars: [3, 4])
        #expect(try tall.predict(image) == Tensor(shape: [1, 4, 1, 1], scalars: [3, 4, 3, 4]))
        #expect(throws: ConvKitError.self) { try Concatenate(axis: 0)([a, b]) }
    }
}
