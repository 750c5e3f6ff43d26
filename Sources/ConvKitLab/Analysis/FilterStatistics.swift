import ConvKit
import COpenBLAS
import Foundation

/// Measures of a convolution layer's filters, from its kernel `[kh, kw, in, out]`.
public enum FilterStatistics {
    /// The filter-variance entropy of Gavrikov & Keuper ("CNN Filter DB", 2022), a measure of
    /// diversity: every k×k filter (one per input and output channel) is a row of an
    /// `n × k²` matrix with singular values σᵢ; with pᵢ = σᵢ / Σσ, the entropy −Σ pᵢ ln pᵢ is
    /// divided by ln k², so 0 means all filters are multiples of one pattern and 1 means they
    /// spread evenly over all k² directions (as i.i.d. random filters do). 0 for an all-zero kernel.
    public static func varianceEntropy(_ kernel: Tensor) throws -> Double {
        guard kernel.rank == 4 else { throw ConvKitError("variance entropy needs a 2-D convolution kernel [kh, kw, in, out], got shape \(kernel.shape)") }
        let taps = kernel.shape[0] * kernel.shape[1], filters = kernel.shape[2] * kernel.shape[3]
        guard taps > 1 else { return 0 }
        // Gram matrix G = FᵀF (k² × k²); its eigenvalues are σᵢ². Rows of F are filters, whose
        // tap t sits at kernel offset t·filters + f.
        var gram = [Double](repeating: 0, count: taps * taps)
        for f in 0..<filters {
            for a in 0..<taps {
                let va = Double(kernel.scalars[a * filters + f])
                if va == 0 { continue }
                for b in a..<taps { gram[a * taps + b] += va * Double(kernel.scalars[b * filters + f]) }
            }
        }
        for a in 0..<taps { for b in 0..<a { gram[a * taps + b] = gram[b * taps + a] } }
        // Eigenvalues that are zero in exact arithmetic come out as ±1e-16·λmax; their square
        // roots would add noise, so anything below λmax·1e-12 counts as zero.
        let eigenvalues = try symmetricEigenvalues(gram, order: taps)
        let floor = (eigenvalues.max() ?? 0) * 1e-12
        let singular = eigenvalues.map { $0 > floor ? $0.squareRoot() : 0 }
        let total = singular.reduce(0, +)
        guard total > 0 else { return 0 }
        let entropy = singular.reduce(0.0) { h, s in s > 0 ? h - (s / total) * log(s / total) : h }
        return entropy / log(Double(taps))
    }

    /// The largest Euclidean distance between two filters (output channels) of a kernel,
    /// relative to the largest filter norm: 0 exactly when every filter is the same.
    public static func filterSpread(_ kernel: Tensor) -> Double {
        let out = kernel.shape.last ?? 0, length = out > 0 ? kernel.count / out : 0
        let filters = (0..<out).map { o in (0..<length).map { Double(kernel.scalars[$0 * out + o]) } }
        let largestNorm = filters.map { f in f.reduce(0) { $0 + $1 * $1 }.squareRoot() }.max() ?? 0
        guard largestNorm > 0 else { return 0 }
        var spread = 0.0
        for i in 0..<out {
            for j in (i + 1)..<max(out, i + 1) {
                spread = max(spread, zip(filters[i], filters[j]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot())
            }
        }
        return spread / largestNorm
    }

    /// How much a layer's filters look like oriented edge detectors: for each filter (input
    /// channel 0), the largest |cosine similarity| between its zero-mean weights and a
    /// first-derivative-of-Gaussian edge template (σ = k/4) at 8 orientations, averaged over
    /// the filters. A Sobel filter scores 0.996, the X shape 0; random 7×7 filters about 0.2.
    public static func edgeLikeness(_ kernel: Tensor) throws -> Double {
        guard kernel.rank == 4, kernel.shape[0] == kernel.shape[1], kernel.shape[0] >= 3 else {
            throw ConvKitError("edge likeness needs a square 2-D kernel [k, k, in, out] with k ≥ 3, got shape \(kernel.shape)")
        }
        let k = kernel.shape[0], (cin, cout) = (kernel.shape[2], kernel.shape[3])
        let sigma = Double(k) / 4, centre = Double(k - 1) / 2
        let templates = (0..<8).map { step -> [Double] in
            let angle = Double(step) * Double.pi / 8
            let t = (0..<(k * k)).map { i -> Double in
                let (y, x) = (Double(i / k) - centre, Double(i % k) - centre)
                let along = x * cos(angle) + y * sin(angle)
                return -along * exp(-(x * x + y * y) / (2 * sigma * sigma))
            }
            return unitZeroMean(t)
        }
        var total = 0.0
        for o in 0..<cout {
            let filter = unitZeroMean((0..<(k * k)).map { Double(kernel.scalars[$0 * cin * cout + o]) })
            total += templates.map { t in abs(zip(t, filter).reduce(0) { $0 + $1.0 * $1.1 }) }.max()!
        }
        return total / Double(max(cout, 1))
    }

    private static func unitZeroMean(_ v: [Double]) -> [Double] {
        let mean = v.reduce(0, +) / Double(v.count)
        let centred = v.map { $0 - mean }
        let norm = centred.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? centred.map { $0 / norm } : centred
    }

    /// Eigenvalues (ascending) of a symmetric `order × order` matrix, by LAPACK's dsyev.
    static func symmetricEigenvalues(_ matrix: [Double], order: Int) throws -> [Double] {
        var a = matrix, w = [Double](repeating: 0, count: order)
        var n = Int32(order), lda = Int32(order), info: Int32 = 0, lwork: Int32 = -1
        var query = 0.0
        dsyev_("N", "U", &n, &a, &lda, &w, &query, &lwork, &info, 1, 1)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dsyev_("N", "U", &n, &a, &lda, &w, &work, &lwork, &info, 1, 1)
        guard info == 0 else { throw ConvKitError("the eigenvalue solver failed (LAPACK dsyev info \(info))") }
        return w
    }
}
