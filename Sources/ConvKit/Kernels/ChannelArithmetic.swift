/// Per-channel arithmetic over channels-last tensors (rows of `channels` values), split into
/// contiguous row ranges across the cores: BatchNormalization's sums and affine maps. The
/// inner loops take eight channels at a time (`Vector8`), the last `channels % 8` one by one.
///
/// Sums are taken in Float over blocks of 16 rows, then in Double per range, and added in
/// range order, so a given thread count always gives the same result. Small tensors stay on
/// one thread.
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
        let (ap, bp, out) = (SharedPointer(a), SharedPointer(b ?? a), SharedPointer(partial))
        let vectorEnd = c / 8 * 8
        forEachRowRange(rows: rows, channels: c) { range, worker in
            let s = out.base + 2 * c * worker, q = s + c
            let (x, y) = (UnsafePointer(ap.base), UnsafePointer(bp.base))
            for start in stride(from: range.lowerBound, to: range.upperBound, by: 16) {
                let end = min(start + 16, range.upperBound)
                for j in stride(from: 0, to: vectorEnd, by: 8) {
                    var sum = Vector8(), product = Vector8()
                    for r in start..<end {
                        let v = x.vector8(at: r * c + j)
                        sum += v
                        product += v * y.vector8(at: r * c + j)
                    }
                    for k in 0..<8 { s[j + k] += Double(sum[k]); q[j + k] += Double(product[k]) }
                }
                for j in vectorEnd..<c {
                    var sum: Float = 0, product: Float = 0
                    for r in start..<end { sum += x[r * c + j]; product += x[r * c + j] * y[r * c + j] }
                    s[j] += Double(sum); q[j] += Double(product)
                }
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
        withChannelConstants([shift, scale, gain, bias]) { k in
            forEachRowRange(rows: rows, channels: c) { range, _ in
                let (m, s, g, b) = (k.base, k.base + c, k.base + 2 * c, k.base + 3 * c)
                let vectorEnd = c / 8 * 8
                for r in range {
                    let xi = UnsafePointer(xp.base + r * c), n = np.base + r * c, o = yp.base + r * c
                    for j in stride(from: 0, to: vectorEnd, by: 8) {
                        let v = (xi.vector8(at: j) - m.vector8(at: j)) * s.vector8(at: j)
                        n.store(v, at: j)
                        o.store(v * g.vector8(at: j) + b.vector8(at: j), at: j)
                    }
                    for j in vectorEnd..<c {
                        n[j] = (xi[j] - m[j]) * s[j]
                        o[j] = n[j] * g[j] + b[j]
                    }
                }
            }
        }
    }

    /// BatchNormalization's input gradient: dx = scale·(dy − meanDy − x̂·meanDyXhat).
    static func normalizationGradient(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, normalized: UnsafePointer<Float>,
                                      scale: [Float], meanDy: [Float], meanDyXhat: [Float], rows: Int, channels c: Int) {
        let (dp, xp, op) = (SharedPointer(dy), SharedPointer(normalized), SharedPointer(dx))
        withChannelConstants([scale, meanDy, meanDyXhat]) { k in
            forEachRowRange(rows: rows, channels: c) { range, _ in
                let (s, m, mx) = (k.base, k.base + c, k.base + 2 * c)
                let vectorEnd = c / 8 * 8
                for r in range {
                    let d = UnsafePointer(dp.base + r * c), xh = UnsafePointer(xp.base + r * c), o = op.base + r * c
                    for j in stride(from: 0, to: vectorEnd, by: 8) {
                        let v = d.vector8(at: j) - m.vector8(at: j) - xh.vector8(at: j) * mx.vector8(at: j)
                        o.store(s.vector8(at: j) * v, at: j)
                    }
                    for j in vectorEnd..<c { o[j] = s[j] * (d[j] - m[j] - xh[j] * mx[j]) }
                }
            }
        }
    }

    /// The per-channel arrays side by side in one buffer the workers can share.
    private static func withChannelConstants(_ arrays: [[Float]], _ body: (SharedPointer<Float>) -> Void) {
        let c = arrays[0].count
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: arrays.count * c)
        defer { buffer.deallocate() }
        for (k, values) in arrays.enumerated() { (buffer + k * c).initialize(from: values, count: c) }
        body(SharedPointer(buffer))
    }
}
