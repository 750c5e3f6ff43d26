import ConvKit
import ConvKitLab
import ConvKitMPI
import Foundation

/// Runs `body` as one rank of a data-parallel job when `mpirun` started this process, and
/// alone otherwise. Under mpirun each rank gets its share of the cores (unless CONVKIT_THREADS
/// says otherwise), only rank 0 prints, and an error on any rank stops the whole job.
///
/// Gradient sums overlap backward in buckets only across machines: on one machine the
/// shared-memory sums are cheap, and one sum after backward measured faster (BENCHMARKS.md).
func withDistribution(gradientBucketSize: Int?, announce: String = "Data-parallel training on",
                      _ body: ((any DistributedStrategy)?) throws -> Void) throws {
    guard MPIDataParallel.isLaunchedByMPIRun else { try body(nil); return }
    if ProcessInfo.processInfo.environment["CONVKIT_THREADS"] == nil {
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / MPIDataParallel.localRanks)
        setenv("CONVKIT_THREADS", String(threads), 1)
    }
    let bucketSize = gradientBucketSize ?? (MPIDataParallel.localRanks == MPIDataParallel.worldRanks ? 0 : 1 << 18)
    let mpi = try MPIDataParallel(gradientBucketSize: bucketSize)
    Console.isMuted = mpi.rank != 0
    if mpi.rank == 0 { Console.line("\(announce) \(mpi.worldSize) MPI ranks") }
    do { try body(mpi) } catch {
        FileHandle.standardError.write(Data("Error on rank \(mpi.rank) of \(mpi.worldSize): \(error)\n".utf8))
        mpi.abort(code: 1)
    }
    mpi.finish()
}
