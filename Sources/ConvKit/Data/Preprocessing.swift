import Foundation

/// Per-channel standardisation with statistics taken from the training images.
public struct Standardization: Codable, Sendable, Equatable {
    public var mean: [Float], std: [Float]

    /// Mean and (biased) standard deviation of each channel of `images` `[n, …, c]`.
    public init(fitting images: Tensor) {
        let c = images.shape.last!, rows = images.count / c
        var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        for i in 0..<images.count { let v = Double(images.scalars[i]); sum[i % c] += v; squares[i % c] += v * v }
        mean = sum.map { Float($0 / Double(rows)) }
        std = (0..<c).map { Float(max(squares[$0] / Double(rows) - pow(sum[$0] / Double(rows), 2), 1e-12).squareRoot()) }
    }

    public func apply(_ images: Tensor) -> Tensor {
        let c = mean.count
        var out = images
        for i in 0..<out.count { out.scalars[i] = (out.scalars[i] - mean[i % c]) / std[i % c] }
        return out
    }
}

/// Image augmentations for `[n, h, w, c]` batches, drawing from a seeded generator.
public enum Augmentation {
    /// Bilinear resize with half-pixel centres (TensorFlow's `resize` default), e.g. 28→32.
    public static func resize(_ images: Tensor, height: Int, width: Int) -> Tensor {
        let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var out = Tensor(zeros: [n, height, width, c])
        func source(_ o: Int, _ outSize: Int, _ inSize: Int) -> (Int, Int, Float) {
            let x = max((Float(o) + 0.5) * Float(inSize) / Float(outSize) - 0.5, 0)
            let i0 = min(Int(x), inSize - 1), i1 = min(i0 + 1, inSize - 1)
            return (i0, i1, x - Float(i0))
        }
        for b in 0..<n { for y in 0..<height {
            let (y0, y1, fy) = source(y, height, h)
            for x in 0..<width {
                let (x0, x1, fx) = source(x, width, w)
                for ch in 0..<c {
                    func at(_ r: Int, _ q: Int) -> Float { images.scalars[((b * h + r) * w + q) * c + ch] }
                    let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx, bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
                    out.scalars[((b * height + y) * width + x) * c + ch] = top * (1 - fy) + bottom * fy
                }
            }
        }}
        return out
    }

    /// Pads each image with `padding` zeros on every side and crops a random window of the
    /// original size (the CIFAR-style crop).
    public static func randomCrop(_ images: Tensor, padding: Int, using generator: inout SeededGenerator) -> Tensor {
        let n = images.shape[0]
        var out = Tensor(zeros: images.shape)
        let item = images.count / max(n, 1)
        for b in 0..<n {
            let dy = Int(generator.next() % UInt64(2 * padding + 1)) - padding
            let dx = Int(generator.next() % UInt64(2 * padding + 1)) - padding
            let shifted = shiftedCopy(images.slice(batch: b..<(b + 1)), to: [1] + images.shape.dropFirst(), dy: dy, dx: dx)
            out.scalars.replaceSubrange((b * item)..<((b + 1) * item), with: shifted.scalars)
        }
        return out
    }

    /// Mirrors each image left–right with probability `probability`.
    public static func horizontalFlip(_ images: Tensor, probability: Double = 0.5, using generator: inout SeededGenerator) -> Tensor {
        let (n, h, w, c) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var out = images
        for b in 0..<n where generator.nextUnit() < probability {
            for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                out.scalars[((b * h + y) * w + x) * c + ch] = images.scalars[((b * h + y) * w + (w - 1 - x)) * c + ch]
            }}}
        }
        return out
    }
}
