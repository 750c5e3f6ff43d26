import ConvKit
import Foundation

/// The few statistics the reports need to say whether a difference is more than seed noise.
public enum Statistics {
    public static func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }

    /// Sample standard deviation (n − 1); nil below two values.
    public static func standardDeviation(_ v: [Double]) -> Double? {
        guard v.count > 1 else { return nil }
        let m = mean(v)
        return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
    }

    /// Two-sided 95% critical value of Student's t with `df` degrees of freedom.
    public static func tCritical(_ df: Double) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
        guard df.isFinite, df >= 1 else { return .infinity }
        // Rounding df down keeps the test conservative.
        let index = Int(df.rounded(.down))
        return index <= table.count ? table[index - 1] : (index <= 30 ? 2.042 : 1.96)
    }

    /// A difference with its standard error and degrees of freedom; `significant` when it is
    /// outside the 95% interval around zero. No error (one value on a side): nil.
    public struct Difference: Sendable {
        public var value: Double
        public var standardError: Double?
        public var degreesOfFreedom: Double?
        public var significant: Bool? {
            guard let se = standardError, let df = degreesOfFreedom else { return nil }
            return se == 0 ? value != 0 : abs(value / se) > tCritical(df)
        }
    }

    /// mean(a) − mean(b) with Welch's standard error and Welch–Satterthwaite degrees of freedom.
    public static func welch(_ a: [Double], _ b: [Double]) -> Difference {
        let d = mean(a) - mean(b)
        guard let sa = standardDeviation(a), let sb = standardDeviation(b) else { return Difference(value: d) }
        let (va, vb) = (sa * sa / Double(a.count), sb * sb / Double(b.count))
        let se = (va + vb).squareRoot()
        let df = (va + vb) * (va + vb) / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
        return Difference(value: d, standardError: se, degreesOfFreedom: df.isFinite ? df : Double(a.count + b.count - 2))
    }

    /// The seed-to-seed standard deviation pooled over groups that share a budget, from every
    /// group with two or more values: √(Σ(nᵢ − 1)·sᵢ² / Σ(nᵢ − 1)), with Σ(nᵢ − 1) degrees of
    /// freedom. nil when no group has two values.
    public static func pooledStandardDeviation(_ groups: [[Double]]) -> (value: Double, degreesOfFreedom: Double)? {
        let spread = groups.filter { $0.count > 1 }
        guard !spread.isEmpty else { return nil }
        var sumOfSquares = 0.0, df = 0.0
        for g in spread {
            let m = mean(g)
            sumOfSquares += g.map { ($0 - m) * ($0 - m) }.reduce(0, +)
            df += Double(g.count - 1)
        }
        return ((sumOfSquares / df).squareRoot(), df)
    }

    /// mean(a) − mean(b) judged by Welch's test where both sides have a spread; otherwise (one
    /// run on a side) by `pooled`, the seed noise of runs like these: standard error
    /// s·√(1/n_a + 1/n_b) with the pooled degrees of freedom. No `pooled`: no error.
    public static func difference(_ a: [Double], _ b: [Double], pooled: (value: Double, degreesOfFreedom: Double)?) -> Difference {
        if a.count > 1 && b.count > 1 { return welch(a, b) }
        let d = mean(a) - mean(b)
        guard let pooled, !a.isEmpty, !b.isEmpty else { return Difference(value: d) }
        return Difference(value: d, standardError: pooled.value * (1 / Double(a.count) + 1 / Double(b.count)).squareRoot(),
                          degreesOfFreedom: pooled.degreesOfFreedom)
    }

    /// The slope between two points whose values carry their own standard errors (one-seed
    /// cells judged by a pooled seed noise): (y₂ − y₁) / (x₂ − x₁), with the errors propagated,
    /// √(se₁² + se₂²) / |x₂ − x₁|, and the fewer degrees of freedom. No error where a point has none.
    public static func slope(from a: (x: Double, y: Difference), to b: (x: Double, y: Difference)) -> Difference {
        let run = b.x - a.x
        guard run != 0 else { return Difference(value: .nan) }
        let value = (b.y.value - a.y.value) / run
        guard let ea = a.y.standardError, let eb = b.y.standardError,
              let da = a.y.degreesOfFreedom, let db = b.y.degreesOfFreedom else { return Difference(value: value) }
        return Difference(value: value, standardError: (ea * ea + eb * eb).squareRoot() / abs(run), degreesOfFreedom: min(da, db))
    }

    /// The least-squares slope of y on x, its standard error, and n − 2 degrees of freedom
    /// (no error below three points).
    public static func slope(x: [Double], y: [Double]) -> Difference {
        let n = Double(x.count)
        guard x.count == y.count, x.count >= 2 else { return Difference(value: .nan) }
        let (mx, my) = (mean(x), mean(y))
        let sxx = x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
        guard sxx > 0 else { return Difference(value: .nan) }
        let b = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +) / sxx
        guard x.count >= 3 else { return Difference(value: b) }
        let residuals = zip(x, y).map { $1 - (my + b * ($0 - mx)) }
        let s2 = residuals.map { $0 * $0 }.reduce(0, +) / (n - 2)
        return Difference(value: b, standardError: (s2 / sxx).squareRoot(), degreesOfFreedom: n - 2)
    }
}
