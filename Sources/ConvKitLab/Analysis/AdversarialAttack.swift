import ConvKit
/// The fast gradient sign method (Goodfellow et al. 2015): one step of size ε in the direction
/// of the sign of the loss gradient with respect to the input, kept inside the valid range.
public enum AdversarialAttack {
    /// Adversarial versions of `x` (in the model's input space; give ε and `bounds` in the same
    /// units, e.g. ε/σ after standardisation). The gradient is taken in inference mode.
    public static func fgsm(_ model: Model, _ x: Tensor, targets: Tensor, epsilon: Float, bounds: ClosedRange<Float>?,
                            loss: any Loss = CategoricalCrossentropy()) throws -> Tensor {
        let gradient = try model.inputGradient(x, targets: targets, loss: loss).gradient
        var adversarial = x
        for i in 0..<x.count {
            let g = gradient.scalars[i]
            var v = x.scalars[i] + (g > 0 ? epsilon : g < 0 ? -epsilon : 0)
            if let bounds { v = min(max(v, bounds.lowerBound), bounds.upperBound) }
            adversarial.scalars[i] = v
        }
        return adversarial
    }

    /// Accuracy on FGSM examples made from `x`, `batchSize` at a time.
    public static func robustAccuracy(_ model: Model, _ x: Tensor, targets: Tensor, epsilon: Float, bounds: ClosedRange<Float>?,
                                      batchSize: Int = 256, loss: any Loss = CategoricalCrossentropy()) throws -> Double {
        let n = x.shape[0]
        var correct = 0.0
        for start in stride(from: 0, to: n, by: max(batchSize, 1)) {
            let range = start..<min(start + batchSize, n)
            let (bx, by) = (x.slice(batch: range), targets.slice(batch: range))
            let adversarial = try fgsm(model, bx, targets: by, epsilon: epsilon, bounds: bounds, loss: loss)
            correct += Double(try Accuracy.compute(predictions: try model.predict(adversarial), targets: by)) * Double(range.count)
        }
        return correct / Double(n)
    }
}
