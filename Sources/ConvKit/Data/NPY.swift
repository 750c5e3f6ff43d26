import Foundation

/// NumPy's `.npy` format (version 1.0–3.0): a magic string, a header dict
/// (`descr`, `fortran_order`, `shape`), then the values in C order.
/// Reads little-endian float32, float64 and uint8; writes float32.
public enum NPY {
    public static func read(path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): no such file") }
        return try parse([UInt8](data), source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> Tensor {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw ConvKitError("\(source): not a .npy file (bad magic string)") }
        let major = bytes[6]
        let (lengthBytes, start) = major == 1 ? (2, 10) : (4, 12)
        guard [1, 2, 3].contains(major), bytes.count >= start else {
            throw ConvKitError("\(source): unsupported .npy version \(major)")
        }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard bytes.count >= start + headerLength, let header = String(bytes: bytes[start..<(start + headerLength)], encoding: .utf8) else {
            throw ConvKitError("\(source): the .npy header is truncated")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let descr = descrField.split(separator: "'").first.map(String.init) else {
            throw ConvKitError("\(source): the .npy header has no 'descr'")
        }
        if field("fortran_order")?.hasPrefix("True") == true { throw ConvKitError("\(source): Fortran-ordered arrays are not supported") }
        guard let shapeField = field("shape"), let open = shapeField.firstIndex(of: "("),
              let close = shapeField[open...].firstIndex(of: ")") else {
            throw ConvKitError("\(source): the .npy header has no 'shape'")
        }
        let dims = shapeField[shapeField.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = try dims.map { d -> Int in
            guard let n = Int(d), n >= 0 else { throw ConvKitError("\(source): bad dimension '\(d)' in the .npy shape") }
            return n
        }
        let (count, overflow) = shape.reduce((1, false)) { acc, n in
            let (p, o) = acc.0.multipliedReportingOverflow(by: n); return (p, acc.1 || o)
        }
        let width: Int
        switch descr {
        case "<f4": width = 4
        case "<f8": width = 8
        case "|u1", "<u1": width = 1
        default: throw ConvKitError("\(source): dtype '\(descr)' is not supported (float32, float64, uint8)")
        }
        let body = start + headerLength
        let (size, tooLarge) = count.multipliedReportingOverflow(by: width)
        guard !overflow, !tooLarge else { throw ConvKitError("\(source): shape \(shape) is too large") }
        guard bytes.count - body == size else {
            throw ConvKitError("\(source): shape \(shape) needs \(size) bytes of data, the file has \(bytes.count - body)")
        }
        let scalars: [Float] = bytes[body...].withUnsafeBytes { raw in
            switch width {
            case 4: return (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            case 8: return (0..<count).map { Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self).littleEndian)) }
            default: return raw.map { Float($0) }
            }
        }
        let tensor = Tensor(shape: shape, scalars: scalars)
        try tensor.requireFinite(source)
        return tensor
    }

    /// The bytes of a float32 `.npy` file holding `tensor`.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let dims = tensor.shape.map(String.init).joined(separator: ", ") + (tensor.rank == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Pad with spaces so the data starts on a 64-byte boundary, then a newline.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * tensor.count)
        for v in tensor.scalars { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    public static func write(_ tensor: Tensor, to path: String) throws {
        try writeDurably(encode(tensor), to: path)
    }
}
