import CZlibShim
import Foundation

/// Inflates gzip (or zlib) data with the system zlib.
public enum Gzip {
    /// True when `data` starts with the gzip magic bytes.
    public static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// The inflated bytes; `source` names the file in errors (truncated or corrupt streams).
    public static func decompress(_ data: Data, source: String) throws -> Data {
        var stream = z_stream()
        guard convkit_inflate_init(&stream) == Z_OK else { throw ConvKitError("\(source): zlib could not start") }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced = buffer.withUnsafeMutableBufferPointer { out -> Int in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw ConvKitError("\(source): corrupt gzip data (\(reason))")
                }
                output.append(contentsOf: buffer[0..<produced])
                // All input consumed, output space to spare, and still no end of stream: cut short.
                if status != Z_STREAM_END && stream.avail_in == 0 && produced < chunk {
                    throw ConvKitError("\(source): the gzip stream is truncated after \(output.count) bytes of data")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
