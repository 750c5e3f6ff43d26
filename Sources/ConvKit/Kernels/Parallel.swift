import COpenBLAS
import Foundation

/// Splits work over the batch across the cores: the fastest CPU convolution libraries
/// thread over the batch first, which needs no synchronisation inside a layer.
/// `CONVKIT_THREADS=1` forces one thread (for exact single-thread reproducibility).
enum Parallel {
    static let workers: Int = {
        if let value = ProcessInfo.processInfo.environment["CONVKIT_THREADS"], let n = Int(value), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(range, worker)` on up to `workers` contiguous ranges of `0..<count`. While
    /// it runs, OpenBLAS uses one thread, since every worker calls it.
    static func forEachChunk(_ count: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        let n = min(workers, count)
        guard n > 1 else { body(0..<count, 0); return }
        let previous = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(previous) }
        DispatchQueue.concurrentPerform(iterations: n) { w in
            body((count * w / n)..<(count * (w + 1) / n), w)
        }
    }
}

/// A pointer that crosses into worker closures; each worker touches its own part.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    init(_ base: UnsafePointer<T>) { self.base = UnsafeMutablePointer(mutating: base) }
}
