import ConvKit
import Foundation

/// Open MPI, loaded when a run needs it (`dlopen("libmpi.so.40")`), so that ConvKit builds and
/// runs on machines without MPI: only `mpirun` launches need the library (Debian: openmpi-bin).
///
/// Open MPI's handles (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`) are the addresses of global
/// objects in libmpi, which `dlsym` returns; this is Open MPI's ABI, not MPICH's.
final class OpenMPI: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    private typealias InitFunction = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    private typealias QueryFunction = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    private typealias AllreduceFunction = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    private typealias IallreduceFunction = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle,
                                                           UnsafeMutablePointer<Handle?>) -> Int32
    private typealias BroadcastFunction = @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
    private typealias WaitallFunction = @convention(c) (Int32, UnsafeMutablePointer<Handle?>, UnsafeMutableRawPointer?) -> Int32
    private typealias TestallFunction = @convention(c) (Int32, UnsafeMutablePointer<Handle?>, UnsafeMutablePointer<Int32>,
                                                        UnsafeMutableRawPointer?) -> Int32
    private typealias AbortFunction = @convention(c) (Handle, Int32) -> Int32
    private typealias FinalizeFunction = @convention(c) () -> Int32

    let world: Handle, float: Handle, sum: Handle
    /// MPI_IN_PLACE is the address 1.
    private let inPlace = UnsafeRawPointer(bitPattern: 1)
    private let allreduceFunction: AllreduceFunction, iallreduceFunction: IallreduceFunction
    private let broadcastFunction: BroadcastFunction, waitallFunction: WaitallFunction, testallFunction: TestallFunction
    private let abortFunction: AbortFunction, finalizeFunction: FinalizeFunction
    let rank: Int, size: Int

    /// Loads libmpi and calls MPI_Init.
    init() throws {
        guard let library = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            throw ConvKitError("cannot load Open MPI's libmpi.so.40 (\(reason)); install openmpi-bin (Debian) to train under mpirun")
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let address = dlsym(library, name) else { throw ConvKitError("libmpi has no symbol \(name); ConvKit needs Open MPI 4 or later") }
            return address
        }
        func function<F>(_ name: String, as type: F.Type) throws -> F { unsafeBitCast(try symbol(name), to: type) }
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        sum = try symbol("ompi_mpi_op_sum")
        allreduceFunction = try function("MPI_Allreduce", as: AllreduceFunction.self)
        iallreduceFunction = try function("MPI_Iallreduce", as: IallreduceFunction.self)
        broadcastFunction = try function("MPI_Bcast", as: BroadcastFunction.self)
        waitallFunction = try function("MPI_Waitall", as: WaitallFunction.self)
        testallFunction = try function("MPI_Testall", as: TestallFunction.self)
        abortFunction = try function("MPI_Abort", as: AbortFunction.self)
        finalizeFunction = try function("MPI_Finalize", as: FinalizeFunction.self)
        let initialize = try function("MPI_Init", as: InitFunction.self)
        let commRank = try function("MPI_Comm_rank", as: QueryFunction.self)
        let commSize = try function("MPI_Comm_size", as: QueryFunction.self)
        try Self.check(initialize(nil, nil), "MPI_Init")
        var value: Int32 = 0
        try Self.check(commRank(world, &value), "MPI_Comm_rank")
        rank = Int(value)
        try Self.check(commSize(world, &value), "MPI_Comm_size")
        size = Int(value)
    }

    private static func check(_ code: Int32, _ call: String) throws {
        // MPI's default error handler aborts the job before a failing call returns; this
        // catches implementations or settings that return instead.
        if code != 0 { throw ConvKitError("\(call) failed with MPI error \(code)") }
    }

    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try Self.check(allreduceFunction(inPlace, values.baseAddress, Int32(values.count), float, sum, world), "MPI_Allreduce")
    }

    /// Starts a non-blocking in-place sum; `values` must stay put until `waitAll`.
    func startAllReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws -> Handle? {
        var request: Handle?
        try Self.check(iallreduceFunction(inPlace, values.baseAddress, Int32(values.count), float, sum, world, &request), "MPI_Iallreduce")
        return request
    }

    /// Lets outstanding requests progress (Open MPI moves non-blocking collectives forward
    /// only inside MPI calls).
    func progress(_ requests: inout [Handle?]) throws {
        guard !requests.isEmpty else { return }
        var done: Int32 = 0
        try Self.check(testallFunction(Int32(requests.count), &requests, &done, nil), "MPI_Testall")
    }

    func waitAll(_ requests: inout [Handle?]) throws {
        guard !requests.isEmpty else { return }
        try Self.check(waitallFunction(Int32(requests.count), &requests, nil), "MPI_Waitall")
    }

    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws {
        try Self.check(broadcastFunction(values.baseAddress, Int32(values.count), float, Int32(root), world), "MPI_Bcast")
    }

    func abort(code: Int32) -> Never {
        _ = abortFunction(world, code)
        exit(code)
    }

    func finalize() { _ = finalizeFunction() }
}
