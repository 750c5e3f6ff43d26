import CKernels
import Dispatch
import Foundation
import Synchronization

/// Threads that run `Parallel.forEachChunk`'s chunks beside the calling thread. An idle
/// worker spins for a couple of milliseconds before it sleeps: waking a sleeping thread costs
/// 50–200 µs on these VMs, as long as many layers' work, and a training step hands the
/// workers dozens of chunks.
final class WorkerPool: @unchecked Sendable {
    /// How long an idle worker spins before it sleeps, unless `CONVKIT_SPIN_US` (microseconds)
    /// says otherwise: 0 sleeps almost at once, for a program whose other threads want the cores.
    static let defaultSpinNanoseconds: UInt64 = 2_000_000
    let spinNanoseconds: UInt64

    /// The spin that `CONVKIT_SPIN_US` asks for; the default when it is unset or not a whole
    /// number of microseconds.
    static func spinNanoseconds(environment: [String: String]) -> UInt64 {
        guard let text = environment["CONVKIT_SPIN_US"], let microseconds = UInt64(text), microseconds <= 10_000_000 else {
            return defaultSpinNanoseconds
        }
        return microseconds * 1000
    }

    /// One background thread; chunk `index` of each job is its.
    private final class Helper: Sendable {
        let index: Int
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        init(index: Int) { self.index = index }
    }

    private let helpers: [Helper]
    /// The current job: its sequence number times 2¹⁶ plus its chunk count, published last.
    private let ticket = Atomic<Int>(0)
    /// Helpers' chunks of the current job that have not finished.
    private let pending = Atomic<Int>(0)
    /// Held by the one caller the pool serves at a time.
    private let busy = Atomic<Bool>(false)
    private var sequence = 0
    private nonisolated(unsafe) var job: ((Int) -> Void)?

    /// A pool of `threads - 1` helpers (the caller is the first thread).
    init(threads: Int, spinNanoseconds: UInt64 = defaultSpinNanoseconds) {
        self.spinNanoseconds = spinNanoseconds
        helpers = (1..<max(threads, 1)).map(Helper.init)
        for helper in helpers {
            let thread = Thread { [unowned self] in self.serve(helper) }
            thread.name = "convkit-worker-\(helper.index)"
            thread.start()
        }
    }

    /// Runs `body(chunk)` for `chunk` in `0..<chunks`, chunk 0 on the calling thread, and
    /// returns when all are done. Returns false without running anything when the pool is
    /// serving another caller (another thread, or a chunk of this job) or has too few threads.
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        guard chunks <= helpers.count + 1, chunks < 1 << 16,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            job = body
            pending.store(chunks - 1, ordering: .relaxed)
            sequence += 1
            ticket.store(sequence << 16 | chunks, ordering: .sequentiallyConsistent)
            for helper in helpers where helper.index < chunks {
                if helper.sleeping.exchange(false, ordering: .sequentiallyConsistent) { helper.wake.signal() }
            }
            body(0)
            while pending.load(ordering: .acquiring) > 0 { convkit_spin_pause() }
            job = nil
        }
        return true
    }

    private func serve(_ helper: Helper) {
        var seen = 0
        while true {
            var current = ticket.load(ordering: .acquiring)
            if current == seen {
                current = waitForTicket(after: seen, helper)
                if current == seen { continue }
            }
            seen = current
            if helper.index < current & 0xFFFF {
                job!(helper.index)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Spins until the ticket moves past `seen`, then sleeps until the caller wakes this
    /// helper. Returns the ticket it saw last (still `seen` after a wake-up).
    private func waitForTicket(after seen: Int, _ helper: Helper) -> Int {
        let deadline = DispatchTime.now().uptimeNanoseconds + spinNanoseconds
        var spins = 0
        while true {
            let current = ticket.load(ordering: .acquiring)
            if current != seen { return current }
            spins += 1
            if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
            convkit_spin_pause()
        }
        // Announce the sleep, then look once more: either this look sees the new ticket or the
        // caller sees `sleeping` (both are sequentially consistent), so no wake-up is lost.
        helper.sleeping.store(true, ordering: .sequentiallyConsistent)
        let current = ticket.load(ordering: .sequentiallyConsistent)
        if current == seen || !helper.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            helper.wake.wait()  // the caller cleared `sleeping` and signals
        }
        return current
    }
}
