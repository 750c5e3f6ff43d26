import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping
/// each name to `dtype`, `shape` and `data_offsets`, then the tensors' bytes. ConvKit writes
/// float32 tensors under the model's dotted keys (Keras layouts), readable by any reader.
public enum SafeTensors {
    /// The bytes of a safetensors file holding `tensors`, in key order.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header = [String: Any]()
        var offset = 0
        for (name, t) in tensors {
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(0x20) }   // data starts 8-byte aligned
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        bytes += json
        for (_, t) in tensors { for v in t.scalars { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } } }
        return bytes
    }

    /// Every tensor of a safetensors file, validated: header length, dtype, shape, offsets.
    public static func decode(_ bytes: [UInt8], source: String) throws -> [String: Tensor] {
        guard bytes.count >= 8 else { throw ConvKitError("\(source): too short for a safetensors file") }
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8), length <= 100_000_000 else {
            throw ConvKitError("\(source): header length \(length) does not fit the file of \(bytes.count) bytes")
        }
        let dataStart = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) as? [String: Any] else {
            throw ConvKitError("\(source): the header is not a JSON object")
        }
        let dataLength = bytes.count - dataStart
        var tensors = [String: Tensor]()
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ConvKitError("\(source): tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw ConvKitError("\(source): tensor '\(name)' has dtype \(dtype); ConvKit reads F32") }
            let (count, overflow) = shape.reduce((1, false)) { acc, n in
                let (p, o) = acc.0.multipliedReportingOverflow(by: n); return (p, acc.1 || o || n < 0)
            }
            let (byteCount, tooLarge) = count.multipliedReportingOverflow(by: 4)
            guard !overflow, !tooLarge, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength,
                  offsets[1] - offsets[0] == byteCount else {
                throw ConvKitError("\(source): tensor '\(name)' with shape \(shape) has offsets \(offsets) outside the \(dataLength) data bytes or of the wrong size")
            }
            let scalars = bytes[(dataStart + offsets[0])..<(dataStart + offsets[1])].withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return tensors
    }
}

extension Model {
    /// Writes every parameter (moving statistics included) under its dotted key.
    public func saveWeights(to path: String) throws {
        let bytes = try SafeTensors.encode(parameters.map { ($0.key, $0.parameter.value) }, metadata: ["format": "convkit", "model": name])
        try writeDurably(bytes, to: path)
    }

    /// Loads weights saved for this architecture; every key and shape must match, and
    /// nothing is changed unless all of them do.
    public func loadWeights(from path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): no such weights file") }
        let tensors = try SafeTensors.decode([UInt8](data), source: path)
        for (key, p, _) in parameters {
            guard let t = tensors[key] else { throw ConvKitError("\(path): no weights for '\(key)'") }
            guard t.shape == p.value.shape else {
                throw ConvKitError("\(path): '\(key)' has shape \(t.shape), the model needs \(p.value.shape)")
            }
        }
        if let extra = Set(tensors.keys).subtracting(parameters.map(\.key)).sorted().first {
            throw ConvKitError("\(path): '\(extra)' is not a parameter of model '\(name)'")
        }
        for (key, p, _) in parameters { p.value = tensors[key]! }
    }
}
