/// Pooling by definition, one value at a time on one thread: the oracle that `Pooling` is
/// tested against. Windows cover real cells only ('same' padding is not a value): max over
/// them (a NaN makes the maximum NaN), average divided by their number, as Keras does.
public enum PoolingReference {
    public static func maxForward(_ input: Tensor, geometry g: ConvGeometry) -> Tensor {
        reduce(input, g) { cells in cells.contains { $0.isNaN } ? .nan : cells.max()! }
    }

    public static func averageForward(_ input: Tensor, geometry g: ConvGeometry) -> Tensor {
        reduce(input, g) { cells in cells.reduce(0, +) / Float(cells.count) }
    }

    /// Each output gradient goes to the first cell of its window (in tap order) that holds the
    /// window's maximum; a window whose maximum is NaN passes none.
    public static func maxBackward(_ gradOutput: Tensor, input: Tensor, geometry g: ConvGeometry) -> Tensor {
        var dx = Tensor(zeros: g.inputShape)
        let output = maxForward(input, geometry: g)
        forEachWindow(g) { n, ch, o, inputs in
            let best = output.scalars[index(n, o, ch, g.outputPixels, g.inputChannels)]
            guard !best.isNaN, let first = inputs.first(where: { input.scalars[index(n, $0, ch, g.inputPixels, g.inputChannels)] == best }) else { return }
            dx.scalars[index(n, first, ch, g.inputPixels, g.inputChannels)] += gradOutput.scalars[index(n, o, ch, g.outputPixels, g.inputChannels)]
        }
        return dx
    }

    public static func averageBackward(_ gradOutput: Tensor, geometry g: ConvGeometry) -> Tensor {
        var dx = Tensor(zeros: g.inputShape)
        forEachWindow(g) { n, ch, o, inputs in
            let share = gradOutput.scalars[index(n, o, ch, g.outputPixels, g.inputChannels)] / Float(inputs.count)
            for i in inputs { dx.scalars[index(n, i, ch, g.inputPixels, g.inputChannels)] += share }
        }
        return dx
    }

    private static func index(_ n: Int, _ pixel: Int, _ ch: Int, _ pixels: Int, _ channels: Int) -> Int {
        (n * pixels + pixel) * channels + ch
    }

    private static func reduce(_ input: Tensor, _ g: ConvGeometry, _ f: ([Float]) -> Float) -> Tensor {
        var out = Tensor(zeros: g.outputShape)
        forEachWindow(g) { n, ch, o, inputs in
            out.scalars[index(n, o, ch, g.outputPixels, g.inputChannels)] =
                f(inputs.map { input.scalars[index(n, $0, ch, g.inputPixels, g.inputChannels)] })
        }
        return out
    }

    /// `body(image, channel, outputPixel, inputPixels of its window in tap order)`.
    private static func forEachWindow(_ g: ConvGeometry, _ body: (Int, Int, Int, [Int]) -> Void) {
        var windows = [[Int]](repeating: [], count: g.outputPixels)
        g.forEachTap { o, _, i in windows[o].append(i) }
        for n in 0..<g.batch { for (o, inputs) in windows.enumerated() { for ch in 0..<g.inputChannels { body(n, ch, o, inputs) } } }
    }
}
