import COpenBLAS

/// Single-precision matrix multiply, row-major: C = alpha·op(A)·op(B) + beta·C,
/// where op(A) is m×k and op(B) is k×n.
public enum GEMM {
    /// Products smaller than this run on one thread: waking a sleeping worker costs 50–200 µs,
    /// and a tenth of this threshold measured no faster with the spinning pool.
    static let parallelThreshold = 20_000_000

    /// With `parallel`, a large product is split over ConvKit's workers along the longer side
    /// of C, rows or columns (each part is independent, so no reduction is needed). Each worker
    /// packs the whole of the other operand, so splitting the longer side packs the smaller one
    /// twice: for Dense at batch 128, C's columns. Kernels that already run inside a worker pass
    /// `parallel: false`.
    public static func multiply(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        parallel: Bool = true
    ) {
        if m == 0 || n == 0 { return }
        if parallel && Parallel.workers > 1 && max(m, n) >= 2 * Parallel.workers && 2 * m * n * k >= parallelThreshold {
            let (sa, sb, sc) = (SharedPointer(a), SharedPointer(b), SharedPointer(c))
            @Sendable func block(_ rows: Range<Int>, _ columns: Range<Int>) {
                let aStart = transposeA ? rows.lowerBound : rows.lowerBound * lda
                let bStart = transposeB ? columns.lowerBound * ldb : columns.lowerBound
                multiply(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: columns.count, k: k, alpha: alpha,
                         a: sa.base + aStart, lda: lda, b: sb.base + bStart, ldb: ldb, beta: beta,
                         c: sc.base + rows.lowerBound * ldc + columns.lowerBound, ldc: ldc, parallel: false)
            }
            if m >= n {
                Parallel.forEachChunk(m) { rows, _ in block(rows, 0..<n) }
            } else {
                Parallel.forEachChunk(n) { columns, _ in block(0..<m, columns) }
            }
            return
        }
        Parallel.useSingleThreadedBLAS()
        if (m == 1 || n == 1) && k > 0 {
            multiplyVector(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                           a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// A product with one row or one column of C as a matrix-vector product: for Dense layers at
    /// batch 1, OpenBLAS 0.3.21's Haswell sgemm takes about 3× as long as its sgemv, and its
    /// AVX-512 (SkylakeX) sgemm 1.1–1.2× as long (`make bench-dense-bound`,
    /// docs/performance-notebook.md).
    private static func multiplyVector(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 1 {
            // C's row = a's row · op(B), that is op(B)ᵀ · a: B holds k×n (or n×k, transposed) rows.
            cblas_sgemv(CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans,
                        Int32(transposeB ? n : k), Int32(transposeB ? k : n), alpha, b, Int32(ldb),
                        a, Int32(transposeA ? lda : 1), beta, c, 1)
        } else {
            // C's column = op(A) · b's column: A holds m×k (or k×m, transposed) rows.
            cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                        Int32(transposeA ? k : m), Int32(transposeA ? m : k), alpha, a, Int32(lda),
                        b, Int32(transposeB ? 1 : ldb), beta, c, Int32(ldc))
        }
    }

    /// The naive twin of `multiply`, the oracle for tests.
    public static func multiplyReference(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k {
                    let av = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += av * bv
                }
                c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
}

extension GEMM {
    /// `c` = alpha·op(a)·op(b) + beta·c for row-major matrices held in arrays: op(a) is m×k,
    /// op(b) k×n, c m×n.
    static func multiply(_ a: [Float], _ b: [Float], transposingA ta: Bool = false, transposingB tb: Bool = false,
                         into c: inout [Float], m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "GEMM.multiply: operands too small")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: a.baseAddress!, lda: ta ? m : k,
                             b: b.baseAddress!, ldb: tb ? k : n, beta: beta, c: c.baseAddress!, ldc: n)
                }
            }
        }
    }
}
