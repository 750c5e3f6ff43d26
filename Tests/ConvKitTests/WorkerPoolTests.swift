import Dispatch
import Foundation
import Synchronization
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// The spinning worker pool behind `Parallel.forEachChunk`. A lost wake-up would hang a job,
/// so each test runs on its own thread and fails when it has not finished within 30 s.
@Suite struct WorkerPoolTests {
    /// Adds 1 to `counts[chunk]` for each chunk the pool runs.
    final class Counts: @unchecked Sendable {
        var values: [Int]
        init(_ n: Int) { values = Array(repeating: 0, count: n) }
    }

    /// Runs `body` on a thread of its own; false when it has not returned after 30 s.
    func finishes(_ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread { body(); done.signal() }.start()
        return done.wait(timeout: .now() + 30) == .success
    }

    @Test func everyChunkRunsOnceInEveryJob() {
        let pool = WorkerPool(threads: 2)
        let allRan = Atomic<Bool>(true)
        let finished = finishes {
            for job in 0..<1000 {
                let chunks = job % 2 + 1
                let counts = Counts(chunks)
                let ran = counts.values.withUnsafeMutableBufferPointer { buffer in
                    let slots = SharedPointer(buffer.baseAddress!)
                    return pool.run(chunks: chunks) { slots[$0] += 1 }
                }
                if !ran || counts.values != Array(repeating: 1, count: chunks) { allRan.store(false, ordering: .relaxed) }
            }
        }
        let correct = allRan.load(ordering: .relaxed)
        #expect(finished && correct)
    }

    /// A job after the helpers have gone to sleep wakes them; without a spin (`CONVKIT_SPIN_US=0`)
    /// they sleep between almost every pair of jobs.
    @Test(arguments: [WorkerPool.defaultSpinNanoseconds, 0])
    func helpersWakeAfterSleeping(spin: UInt64) {
        let pool = WorkerPool(threads: 2, spinNanoseconds: spin)
        let helperRan = Atomic<Int>(0)
        let jobs = spin == 0 ? 300 : 3
        let finished = finishes {
            for job in 0..<jobs {
                if spin > 0 || job % 10 == 0 { Thread.sleep(forTimeInterval: Double(max(spin, 100_000)) * 3e-9) }
                _ = pool.run(chunks: 2) { if $0 == 1 { helperRan.add(1, ordering: .relaxed) } }
            }
        }
        let helperRuns = helperRan.load(ordering: .relaxed)
        #expect(finished && helperRuns == jobs)
    }

    @Test func spinComesFromTheEnvironment() {
        #expect(WorkerPool.spinNanoseconds(environment: [:]) == 2_000_000)
        #expect(WorkerPool.spinNanoseconds(environment: ["CONVKIT_SPIN_US": "0"]) == 0)
        #expect(WorkerPool.spinNanoseconds(environment: ["CONVKIT_SPIN_US": "250"]) == 250_000)
        #expect(WorkerPool.spinNanoseconds(environment: ["CONVKIT_SPIN_US": "-5"]) == 2_000_000)
        #expect(WorkerPool.spinNanoseconds(environment: ["CONVKIT_SPIN_US": "1.5"]) == 2_000_000)
    }

    /// The pool serves one caller at a time; a nested call, or more chunks than threads, is
    /// refused (and `Parallel.forEachChunk` then uses Dispatch).
    @Test func refusesNestedAndOversizedJobs() {
        let pool = WorkerPool(threads: 2)
        let outcomes = Atomic<Int>(0)
        let finished = finishes {
            let outerRan = pool.run(chunks: 2) { chunk in
                if chunk == 0, !pool.run(chunks: 1, { _ in }) { outcomes.add(1, ordering: .relaxed) }
            }
            if outerRan { outcomes.add(10, ordering: .relaxed) }
            if !pool.run(chunks: 3, { _ in }) { outcomes.add(100, ordering: .relaxed) }
        }
        let seen = outcomes.load(ordering: .relaxed)
        #expect(finished && seen == 111)
    }

    /// Callers on several threads at once (as in parallel tests) each get every chunk run.
    @Test func concurrentCallersAllComplete() {
        let total = Atomic<Int>(0)
        let finished = finishes {
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                for _ in 0..<200 {
                    Parallel.forEachChunk(1000) { range, _ in total.add(range.count, ordering: .relaxed) }
                }
            }
        }
        let counted = total.load(ordering: .relaxed)
        #expect(finished && counted == 8 * 200 * 1000)
    }

    /// Workers claiming items from a shared counter cover every item exactly once.
    @Test func claimedItemsCoverEveryItemOnce() {
        let counts = Counts(1000)
        let finished = finishes {
            counts.values.withUnsafeMutableBufferPointer { buffer in
                let slots = SharedPointer(buffer.baseAddress!)
                Parallel.forEachClaimedItem(1000) { items, _ in for item in items { slots[item] += 1 } }
            }
        }
        #expect(finished && counts.values == Array(repeating: 1, count: 1000))
    }
}
