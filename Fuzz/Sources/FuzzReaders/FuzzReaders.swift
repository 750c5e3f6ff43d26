import ConvKit
import Foundation
import FuzzDriver

/// SwiftPM links an executable's entry point as `FuzzReaders_main`; hand over to libFuzzer.
@_cdecl("FuzzReaders_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc, arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzz(data, size) }
}

/// libFuzzer's entry point. FUZZ_TARGET picks the reader: idx (raw or gzip), safetensors,
/// npy, model (a YAML/JSON model file) or image (PNG or PGM). Every input must end in a
/// value or a ConvKitError — a crash, a trap or a hang is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch target {
    case "idx": _ = try? IDX.read(path: temporaryFile(bytes))
    case "safetensors": _ = try? SafeTensors.decode(bytes, source: "fuzz")
    case "npy": _ = try? NPY.parse(bytes, source: "fuzz")
    case "model":
        if let text = String(bytes: bytes, encoding: .utf8) { _ = try? ModelFile.parse(text, source: "fuzz") }
    case "image": _ = try? ImageFile.read(path: temporaryFile(bytes), channels: 1)
    default: fatalError("set FUZZ_TARGET to idx, safetensors, npy, model or image")
    }
    return 0
}

let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
/// One scratch file per process, in memory where possible: the readers that go through a path.
let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()) + "/convkit-fuzz-\(getpid())"

func temporaryFile(_ bytes: [UInt8]) -> String {
    _ = FileManager.default.createFile(atPath: scratch, contents: Data(bytes))
    return scratch
}
