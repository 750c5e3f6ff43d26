import CKernels
import Foundation

/// The vector instruction set ConvKit's own kernels run on (direct and Winograd convolution),
/// chosen once per process: the widest this CPU runs, or the one `CONVKIT_ISA` names
/// (`avx512`, `avx2`, `generic`), so that every path can be run and timed on one machine.
public enum InstructionSet: String, CaseIterable, Sendable, CustomStringConvertible {
    /// 512-bit vectors (16 floats), AVX-512F.
    case avx512
    /// 256-bit vectors (8 floats), AVX2 + FMA.
    case avx2
    /// Plain loops the compiler vectorises for the baseline x86-64 (SSE2).
    case generic
    /// The AVX-512 path's code with each 512-bit vector held in two AVX2 registers. It is
    /// slower than both; the tests run it so that the AVX-512 code is checked on CPUs without it.
    case avx512Emulated = "avx512-emulated"

    var code: Int32 {
        switch self {
        case .generic: Int32(CONVKIT_ISA_GENERIC)
        case .avx2: Int32(CONVKIT_ISA_AVX2)
        case .avx512: Int32(CONVKIT_ISA_AVX512)
        case .avx512Emulated: Int32(CONVKIT_ISA_AVX512_EMULATED)
        }
    }

    /// True when this CPU and its operating system run the path.
    public var isSupported: Bool { convkit_isa_supported(code) != 0 }

    public var description: String {
        switch self {
        case .avx512: "AVX-512 (16 floats a vector)"
        case .avx2: "AVX2 + FMA (8 floats a vector)"
        case .generic: "generic (SSE2 loops)"
        case .avx512Emulated: "AVX-512 code over AVX2 register pairs"
        }
    }

    /// The paths a user can choose, widest first.
    public static let choices: [InstructionSet] = [.avx512, .avx2, .generic]

    /// Every path this machine runs, emulated AVX-512 included: what the tests compare against
    /// the naive twins.
    public static var testable: [InstructionSet] { allCases.filter(\.isSupported) }

    /// The widest path this CPU runs.
    public static var widest: InstructionSet { choices.first(where: \.isSupported) ?? .generic }

    /// The path named by `CONVKIT_ISA` in `environment`, or the widest when it is unset.
    /// Throws, naming the value, when it is unknown or this CPU cannot run it.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> InstructionSet {
        guard let value = environment["CONVKIT_ISA"], !value.isEmpty else { return widest }
        guard let named = InstructionSet(rawValue: value.lowercased()) else {
            throw ConvKitError("CONVKIT_ISA=\(value) is not a kernel path (choose \(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard named.isSupported else {
            throw ConvKitError("CONVKIT_ISA=\(value), but this CPU cannot run \(named.rawValue) (it runs \(testable.map(\.rawValue).joined(separator: ", ")))")
        }
        return named
    }

    /// The path the kernels run on in this process. An invalid `CONVKIT_ISA` is reported on
    /// standard error and the widest path runs (the CLI refuses it before it gets here).
    public static let active: InstructionSet = {
        do { return try fromEnvironment() } catch {
            FileHandle.standardError.write(Data("warning: \(error); running \(widest.rawValue)\n".utf8))
            return widest
        }
    }()

    /// One core's peak in GFLOP/s with this path's fused multiply-adds (registers only), best of
    /// a few short runs; every worker thread runs the loop at once when `allCores` is set.
    public func fmaPeak(allCores: Bool = false) -> Double {
        // About 50 ms a run at these machines' peaks: long enough for every worker to be awake.
        let iterations: Int64 = 25_000_000
        let loopLanes = self == .avx512 ? 16 : self == .generic ? 4 : 8
        let flopsPerThread = 2 * 12 * Double(loopLanes) * Double(iterations)
        let threads = allCores ? Parallel.workers : 1
        let code = self.code
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            Parallel.forEachChunk(threads) { range, _ in for _ in range { _ = convkit_fma_loop(code, iterations) } }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, flopsPerThread * Double(threads) / seconds / 1e9)
        }
        return best
    }
}
