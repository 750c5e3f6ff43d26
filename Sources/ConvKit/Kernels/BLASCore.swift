import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernel sets this process runs, and which it should.
///
/// Debian's OpenBLAS picks its kernels from the CPU model when the library loads. On CPUs it
/// does not know well it can fall back to the SSE3 "Prescott" kernels: on a Sapphire Rapids VM
/// it reported "Cooperlake" yet ran `sgemm_kernel_PRESCOTT`, and training went half as fast as
/// with `OPENBLAS_CORETYPE=SkylakeX`. (On a Zen 4 it also reports "Cooperlake", and there runs
/// `sgemm_kernel_COOPERLAKE`: the name alone does not tell, so "Cooperlake" is not trusted.) The choice is fixed at load time, before any Swift code
/// runs, so the fix is to start again with the variable set (`relaunchWithBestKernels`).
public enum BLASCore {
    /// OpenBLAS's name for the kernels it chose ("Haswell", "SkylakeX", "Zen", …).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The kernel set for this CPU from its features (Linux /proc/cpuinfo); nil when unknown.
    public static var recommended: String? {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)).flatMap(recommended(cpuinfo:))
    }

    /// SkylakeX on any CPU with the AVX-512 subsets its kernels use (F, BW, VL, DQ: Intel since
    /// Skylake-SP, AMD since Zen 4), Haswell on any with AVX2 and FMA, nil on older ones. The
    /// flags decide, never the vendor: OpenBLAS 0.3.21 does not check them itself, so SkylakeX
    /// on a CPU without AVX-512 (a Zen 3) would die on its first product. A Zen 4 runs the
    /// SkylakeX and Haswell kernels at the same speed; a Zen 5's SkylakeX sgemm is ~1.9× faster.
    static func recommended(cpuinfo info: String) -> String? {
        guard let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "\t" }).map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// Who chose the kernels: "ConvKit, replacing X" (`relaunchWithBestKernels` set
    /// `OPENBLAS_CORETYPE` because OpenBLAS had chosen X), "the environment" (the user set it)
    /// or "OpenBLAS" (from the CPU model).
    public static var chosenBy: String {
        let environment = ProcessInfo.processInfo.environment
        if let replaced = environment["CONVKIT_BLAS_RELAUNCHED"], environment["OPENBLAS_CORETYPE"] != nil {
            return "ConvKit, replacing \(replaced)"
        }
        return environment["OPENBLAS_CORETYPE"] == nil ? "OpenBLAS" : "the environment"
    }

    /// Kernel sets whose SGEMM is the AVX2 or AVX-512 one, when OpenBLAS reports them itself.
    private static let trusted: Set<String> = ["Haswell", "SkylakeX", "Zen"]

    /// Re-executes this program with `OPENBLAS_CORETYPE` set to the recommended kernels when
    /// OpenBLAS chose others, unless the user set the variable. Call first thing in `main`;
    /// returns when nothing needs doing (or the exec fails).
    public static func relaunchWithBestKernels() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["CONVKIT_BLAS_RELAUNCHED"] == nil,
              let wanted = recommended, !trusted.contains(current) else { return }
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        setenv("CONVKIT_BLAS_RELAUNCHED", current, 1)   // what OpenBLAS chose, for `chosenBy`
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // Only reached if exec failed: carry on with the kernels we have.
    }
}
