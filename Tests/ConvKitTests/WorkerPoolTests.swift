import Dispatch
import Foundation
import Synchronization
import Testing
@testable import ConvKit

/// The spinning worker pool behind `Parallel.forEachChunk`.
@Suite(.timeLimit(.minutes(1))) struct WorkerPoolTests {
    /// Adds 1 to `counts[chunk]` for each chunk the pool runs.
    final class Counts: @unchecked Sendable {
        var values: [Int]
        init(_ n: Int) { values = Array(repeating: 0, count: n) }
    }

    @Test func everyChunkRunsOnceInEveryJob() {
        let pool = WorkerPool(threads: 2)
        for job in 0..<1000 {
            let chunks = job % 2 + 1
            let counts = Counts(chunks)
            let ran = counts.values.withUnsafeMutableBufferPointer { buffer in
                let slots = SharedPointer(buffer.baseAddress!)
                return pool.run(chunks: chunks) { slots[$0] += 1 }
            }
            #expect(ran)
            #expect(counts.values == Array(repeating: 1, count: chunks), "job \(job)")
        }
    }

    /// A job after the helpers have gone to sleep wakes them.
    @Test func helpersWakeAfterSleeping() {
        let pool = WorkerPool(threads: 2)
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: Double(WorkerPool.spinNanoseconds) * 3e-9)
            let helperRan = Atomic<Bool>(false)
            let ran = pool.run(chunks: 2) { if $0 == 1 { helperRan.store(true, ordering: .relaxed) } }
            let helperDidRun = helperRan.load(ordering: .relaxed)
            #expect(ran && helperDidRun)
        }
    }

    /// The pool serves one caller at a time; a nested call, or more chunks than threads, is
    /// refused (and `Parallel.forEachChunk` then uses Dispatch).
    @Test func refusesNestedAndOversizedJobs() {
        let pool = WorkerPool(threads: 2)
        let nestedRan = Atomic<Bool>(true)
        let outerRan = pool.run(chunks: 2) { chunk in
            if chunk == 0 { nestedRan.store(pool.run(chunks: 1) { _ in }, ordering: .relaxed) }
        }
        let innerRan = nestedRan.load(ordering: .relaxed), oversizedRan = pool.run(chunks: 3) { _ in }
        #expect(outerRan && !innerRan && !oversizedRan)
    }

    /// Callers on several threads at once (as in parallel tests) each get every chunk run.
    @Test func concurrentCallersAllComplete() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<200 {
                Parallel.forEachChunk(1000) { range, _ in total.add(range.count, ordering: .relaxed) }
            }
        }
        let counted = total.load(ordering: .relaxed)
        #expect(counted == 8 * 200 * 1000)
    }

    /// Workers claiming items from a shared counter cover every item exactly once.
    @Test func claimedItemsCoverEveryItemOnce() {
        let counts = Counts(1000)
        counts.values.withUnsafeMutableBufferPointer { buffer in
            let slots = SharedPointer(buffer.baseAddress!)
            Parallel.forEachClaimedItem(1000) { items, _ in for item in items { slots[item] += 1 } }
        }
        #expect(counts.values == Array(repeating: 1, count: 1000))
    }
}
