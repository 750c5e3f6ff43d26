import ConvKit
import Foundation

/// Data-parallel training over Open MPI: one process per rank, started by
/// `mpirun -np N convkit train …` (or any program calling `fit(distributed:)`), on one machine
/// or several. libmpi is loaded at run time, so ConvKit builds without MPI installed.
public final class MPIDataParallel: DistributedStrategy, @unchecked Sendable {
    private let mpi: OpenMPI
    private var pending: [OpenMPI.Handle?] = []
    public var rank: Int { mpi.rank }
    public var worldSize: Int { mpi.size }
    public let gradientBucketSize: Int

    /// True when this process was started by Open MPI's `mpirun`.
    public static var isLaunchedByMPIRun: Bool { ConvKit.isLaunchedByMPIRun }

    /// How many ranks `mpirun` started on this machine, and in all (1 when not under mpirun).
    public static var localRanks: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    }
    public static var worldRanks: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] ?? "") ?? 1
    }

    /// Loads libmpi and joins the job. `gradientBucketSize` (floats): see `DistributedStrategy`.
    public init(gradientBucketSize: Int = 1 << 18) throws {
        mpi = try OpenMPI()
        self.gradientBucketSize = gradientBucketSize
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { try mpi.allReduceSum(values) }
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws { try mpi.broadcast(values, from: root) }
    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { pending.append(try mpi.startAllReduceSum(values)) }
    public func progressPendingSums() throws { try mpi.progress(&pending) }
    public func finishPendingSums() throws {
        try mpi.waitAll(&pending)
        pending.removeAll()
    }

    /// Ends the job cleanly; call once, at the end, on every rank.
    public func finish() { mpi.finalize() }

    /// Stops every rank of the job (after an error on this one), instead of leaving the others
    /// waiting for a gradient sum that never comes.
    public func abort(code: Int32 = 1) -> Never { mpi.abort(code: code) }
}
