import Foundation

/// True when this process was started by Open MPI's `mpirun` (it sets OMPI_COMM_WORLD_SIZE).
public var isLaunchedByMPIRun: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

/// How several processes train one model together (data parallelism): every process holds
/// the whole model, trains on its own part of each global batch, and the gradients are summed
/// across processes before every optimizer step, so all processes take the same step.
/// `fit(distributed:)` and `evaluate(distributed:)` take one; `MPIDataParallel` is the one
/// ConvKit ships (Open MPI, launched by `mpirun`, in the ConvKitMPI module).
public protocol DistributedStrategy: AnyObject {
    /// This process's index in `0..<worldSize`. Process 0 prints, writes files and runs callbacks.
    var rank: Int { get }
    var worldSize: Int { get }
    /// Gradients are summed in buckets of at least this many floats, each started as soon as
    /// backward has produced it, so that communication overlaps the rest of backward; 0 sums
    /// everything in one call after backward.
    var gradientBucketSize: Int { get }

    /// Replaces `values` on every process with their element-wise sum over all processes.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `values` on every process with those of process `root`.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws
    /// Starts `allReduceSum(values)` without waiting; `values` must stay valid until
    /// `finishPendingSums` returns.
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// Gives started sums a chance to progress (called between layers of backward).
    func progressPendingSums() throws
    /// Waits until every started sum is complete.
    func finishPendingSums() throws
}

extension DistributedStrategy {
    public var gradientBucketSize: Int { 0 }
    public func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws { try allReduceSum(values) }
    public func progressPendingSums() throws {}
    public func finishPendingSums() throws {}

    /// This process's contiguous part of `count` items (batch examples or evaluation images):
    /// the parts of all processes, in rank order, are exactly `0..<count`.
    public func share(of count: Int) -> Range<Int> {
        (count * rank / worldSize)..<(count * (rank + 1) / worldSize)
    }

    /// `values` summed over all processes (a convenience for a few numbers).
    public func sum(_ values: [Float]) throws -> [Float] {
        var copy = values
        try copy.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        return copy
    }
}
