/// Examples for a model from a file, whatever its format, shaped for the model's input.
public enum ModelInput {
    /// `.npy` (float, `[n, …]` or one example), one PNG or PGM image (scaled to [0, 1],
    /// converted to the model's channels and resized to its input; with `invert`, 1 − value),
    /// or anything else as IDX (bytes scaled to [0, 1]). One example gets a batch axis, and
    /// `[n, h, w]` grey images a channel axis, when that makes them `[n] + inputShape`.
    public static func read(_ path: String, for inputShape: [Int], invert: Bool = false) throws -> Tensor {
        var x: Tensor
        let lower = path.lowercased()
        if lower.hasSuffix(".npy") {
            x = try NPY.read(path: path)
        } else if [".png", ".pgm", ".pnm"].contains(where: lower.hasSuffix) {
            guard inputShape.count == 3 else { throw ConvKitError("\(path): a model that takes \(kerasShape(inputShape)) does not take images") }
            x = try ImageFile.read(path: path, channels: inputShape[2])
            if Array(x.shape[1...2]) != Array(inputShape[0...1]) {
                x = Augmentation.resize(x, height: inputShape[0], width: inputShape[1])
            }
            if invert { x = Tensor(shape: x.shape, scalars: x.scalars.map { 1 - $0 }) }
        } else {
            let (shape, values) = try IDX.read(path: path)
            x = Tensor(shape: shape, scalars: values.map { Float($0) / 255 })
        }
        if x.shape == inputShape { x = x.reshaped(to: [1] + x.shape) }
        if x.rank == inputShape.count && Array(x.shape.dropFirst()) + [1] == inputShape {
            x = x.reshaped(to: x.shape + [1])   // [n, h, w] grey images
        }
        return x
    }
}
