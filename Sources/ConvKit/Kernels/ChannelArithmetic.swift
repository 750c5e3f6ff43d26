/// Per-channel arithmetic over channels-last tensors (rows of `channels` values), split into
/// contiguous row ranges across the cores: BatchNormalization's sums and affine maps.
///
/// Sums are taken in Float over blocks of 16 rows, then in Double per range, and added in range order, so a given thread count
/// always gives the same result. Small tensors stay on one thread.
enum ChannelArithmetic {
    private static func forEachRowRange(rows: Int, channels: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        Parallel.forEachChunk(rows, values: rows * channels, body)
    }

    /// Per channel: Σa, and Σa·b (or Σa² when `b` is nil).
    static func sums(_ a: UnsafePointer<Float>, times b: UnsafePointer<Float>?, rows: Int, channels c: Int) -> (sum: [Double], products: [Double]) {
        let workers = Parallel.chunkCount(rows, values: rows * c)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * workers)
        partial.initialize(repeating: 0, count: 2 * c * workers)
        defer { partial.deallocate() }
        let (ap, bp, out) = (SharedPointer(a), b.map(SharedPointer.init), SharedPointer(partial))
        forEachRowRange(rows: rows, channels: c) { range, worker in
            let s = out.base + 2 * c * worker, q = s + c
            // Float sums over short blocks of rows (8 lanes wide), each block added in Double.
            let block = UnsafeMutablePointer<Float>.allocate(capacity: 2 * c)
            defer { block.deallocate() }
            for start in stride(from: range.lowerBound, to: range.upperBound, by: 16) {
                block.initialize(repeating: 0, count: 2 * c)
                for r in start..<min(start + 16, range.upperBound) {
                    let x = ap.base + r * c, y = (bp ?? ap).base + r * c
                    for j in 0..<c {
                        block[j] += x[j]
                        block[c + j] += x[j] * y[j]
                    }
                }
                for j in 0..<c { s[j] += Double(block[j]); q[j] += Double(block[c + j]) }
            }
        }
        var sum = [Double](repeating: 0, count: c), products = [Double](repeating: 0, count: c)
        for w in 0..<workers {
            for j in 0..<c { sum[j] += partial[2 * c * w + j]; products[j] += partial[2 * c * w + c + j] }
        }
        return (sum, products)
    }

    /// normalized = (x − shift)·scale and y = normalized·gain + bias, per channel.
    static func normalize(_ x: UnsafePointer<Float>, into normalized: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          shift: [Float], scale: [Float], gain: [Float], bias: [Float], rows: Int, channels c: Int) {
        let (xp, np, yp) = (SharedPointer(x), SharedPointer(normalized), SharedPointer(y))
        let perChannel = SharedPointer(UnsafeMutablePointer<Float>.allocate(capacity: 4 * c))
        defer { perChannel.base.deallocate() }
        for (k, values) in [shift, scale, gain, bias].enumerated() { (perChannel.base + k * c).initialize(from: values, count: c) }
        forEachRowRange(rows: rows, channels: c) { range, _ in
            let (m, s, g, b) = (perChannel.base, perChannel.base + c, perChannel.base + 2 * c, perChannel.base + 3 * c)
            for r in range {
                let xi = xp.base + r * c, n = np.base + r * c, o = yp.base + r * c
                for j in 0..<c {
                    n[j] = (xi[j] - m[j]) * s[j]
                    o[j] = n[j] * g[j] + b[j]
                }
            }
        }
    }

    /// BatchNormalization's input gradient: dx = scale·(dy − meanDy − x̂·meanDyXhat).
    static func normalizationGradient(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, normalized: UnsafePointer<Float>,
                                      scale: [Float], meanDy: [Float], meanDyXhat: [Float], rows: Int, channels c: Int) {
        let (dp, xp, op) = (SharedPointer(dy), SharedPointer(normalized), SharedPointer(dx))
        scale.withUnsafeBufferPointer { s in meanDy.withUnsafeBufferPointer { m in meanDyXhat.withUnsafeBufferPointer { mx in
            let (sp, mp, mxp) = (SharedPointer(s.baseAddress!), SharedPointer(m.baseAddress!), SharedPointer(mx.baseAddress!))
            forEachRowRange(rows: rows, channels: c) { range, _ in
                for r in range {
                    let d = dp.base + r * c, xh = xp.base + r * c, o = op.base + r * c
                    for j in 0..<c { o[j] = sp.base[j] * (d[j] - mp.base[j] - xh[j] * mxp.base[j]) }
                }
            }
        }}}
    }
}
