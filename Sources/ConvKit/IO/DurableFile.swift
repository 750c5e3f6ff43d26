import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes `bytes` to `path` so that, whatever happens, the path holds either its old content
/// or all of the new: the bytes go to a temporary file beside it, which is flushed to disk
/// (fsync) and then renamed over the path; the folder is flushed too, so the rename survives a
/// power cut. A failed write (a full disk) removes the temporary file and leaves the old one.
public func writeDurably(_ bytes: [UInt8], to path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    let temporary = "\(path).tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw ConvKitError("\(path): cannot write (\(String(cString: strerror(errno))))") }
    var failure: String?
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno)); return
            }
            offset += n
        }
    }
    if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    if close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
    if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
        unlink(temporary)
        throw ConvKitError("\(path): cannot write (\(failure)); the previous file, if any, is unchanged")
    }
    let directory = open(folder.isEmpty ? "." : folder, O_RDONLY)
    if directory >= 0 { fsync(directory); close(directory) }
}

/// Pretty-printed JSON with sorted keys (stable diffs for committed records), ending in a newline.
package func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

package func makeDirectory(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw ConvKitError("\(path): cannot create the folder (\(error.localizedDescription))")
    }
}

/// Writes through a temporary file and a rename (`writeDurably`), so a failed write (a full
/// disk) never leaves a half-written file in place of a good one.
package func writeText(_ text: String, to path: String) throws {
    try writeDurably(Array(text.utf8), to: path)
}
