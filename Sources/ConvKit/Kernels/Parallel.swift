import COpenBLAS
import Foundation
import Synchronization

/// Splits work over the batch across the cores: the fastest CPU convolution libraries
/// thread over the batch first, which needs no synchronisation inside a layer.
/// `CONVKIT_THREADS=1` forces one thread (for exact single-thread reproducibility).
package enum Parallel {
    package static let workers: Int = {
        if let value = ProcessInfo.processInfo.environment["CONVKIT_THREADS"], let n = Int(value), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// OpenBLAS runs single-threaded: ConvKit's own workers do the splitting. (Switching
    /// OpenBLAS between 1 and 2 threads per call left its threads spinning: ~25% of the time.)
    private static let singleThreadedBLAS: Void = { openblas_set_num_threads(1) }()

    /// Call before any OpenBLAS call (cheap after the first time).
    static func useSingleThreadedBLAS() { _ = singleThreadedBLAS }

    /// Element-wise work below this many values stays on one thread: the worker may be asleep
    /// (waking it costs 50–200 µs on these VMs), and a quarter of this threshold measured no
    /// faster with the spinning pool.
    static let elementwiseThreshold = 1 << 16

    /// `forEachChunk` when `values` (the work's size) reaches `elementwiseThreshold`; one call
    /// over the whole range otherwise.
    static func forEachChunk(_ count: Int, values: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        if values < elementwiseThreshold { body(0..<count, 0) } else { forEachChunk(count, body) }
    }

    /// How many ranges `forEachChunk(count, values:)` makes.
    static func chunkCount(_ count: Int, values: Int) -> Int { values < elementwiseThreshold ? 1 : max(1, min(workers, count)) }

    /// Runs `body(range, worker)` on up to `workers` contiguous ranges of `0..<count`.
    static func forEachChunk(_ count: Int, _ body: @Sendable (Range<Int>, Int) -> Void) {
        useSingleThreadedBLAS()
        let n = min(workers, count)
        guard n > 1 else { body(0..<count, 0); return }
        let chunk: @Sendable (Int) -> Void = { w in body((count * w / n)..<(count * (w + 1) / n), w) }
        if pool.run(chunks: n, chunk) { return }
        DispatchQueue.concurrentPerform(iterations: n, execute: chunk)
    }

    /// Runs `body(items, worker)` on up to `workers` workers, where `items` hands each worker
    /// the next unclaimed index of `0..<count` whenever it asks: a worker on a core the VM
    /// slows down takes fewer. Only for work without per-worker sums, which need
    /// `forEachChunk`'s fixed ranges to come out the same on every run.
    static func forEachClaimedItem(_ count: Int, _ body: @Sendable (ClaimedItems, Int) -> Void) {
        let counter = ClaimedItems.Counter()
        forEachChunk(min(workers, count)) { _, worker in body(ClaimedItems(counter: counter, count: count), worker) }
    }

    /// `forEachClaimedItem` when `balanced`, else `forEachChunk`'s fixed ranges (which
    /// per-worker sums need), each worker's items handed to `body` as one sequence.
    static func forEachItem(_ count: Int, balanced: Bool, _ body: @Sendable (any Sequence<Int>, Int) -> Void) {
        if balanced {
            forEachClaimedItem(count) { items, worker in body(items, worker) }
        } else {
            forEachChunk(count) { items, worker in body(items, worker) }
        }
    }

    /// Spinning workers for `forEachChunk`; a nested call, or one from another thread while
    /// the pool is busy, goes to Dispatch instead.
    private static let pool = WorkerPool(threads: workers,
                                         spinNanoseconds: WorkerPool.spinNanoseconds(environment: ProcessInfo.processInfo.environment))
}

/// The indices a worker claims from a counter shared with the other workers, until none are left.
struct ClaimedItems: Sequence, IteratorProtocol {
    final class Counter: Sendable { let claimed = Atomic<Int>(0) }
    let counter: Counter, count: Int

    mutating func next() -> Int? {
        let item = counter.claimed.wrappingAdd(1, ordering: .relaxed).oldValue
        return item < count ? item : nil
    }
}

/// A pointer that crosses into worker closures; each worker touches its own part.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    init(_ base: UnsafePointer<T>) { self.base = UnsafeMutablePointer(mutating: base) }
    subscript(index: Int) -> T {
        get { base[index] }
        nonmutating set { base[index] = newValue }
    }
}
