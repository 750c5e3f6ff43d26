import Foundation

/// The IDX format of MNIST and Fashion-MNIST: two zero bytes, a type code (0x08 = unsigned
/// byte), the number of dimensions, each dimension as a big-endian UInt32, then the values.
/// Files may be raw or gzip-compressed.
public enum IDX {
    /// The dimensions and unsigned-byte values of an IDX file, validated.
    public static func read(path: String) throws -> (shape: [Int], values: [UInt8]) {
        guard FileManager.default.fileExists(atPath: path) else {
            let hint = path.hasPrefix(FashionMNIST.defaultDirectory)
                ? " (install the Debian package dataset-fashion-mnist: apt-get install dataset-fashion-mnist)" : ""
            throw ConvKitError("\(path): no such file\(hint)")
        }
        guard var data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): cannot read the file") }
        if Gzip.isCompressed(data) { data = try Gzip.decompress(data, source: path) }
        return try parse(Array(data), source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> (shape: [Int], values: [UInt8]) {
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw ConvKitError("\(source): not an IDX file (bad magic number)")
        }
        guard bytes[2] == 0x08 else {
            throw ConvKitError("\(source): IDX value type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes, 0x08)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw ConvKitError("\(source): IDX header is truncated (\(rank) dimensions declared, \(bytes.count) bytes in the file)")
        }
        let shape = (0..<rank).map { d in
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) }
        }
        let header = 4 + 4 * rank
        let (expected, overflow) = shape.reduce((1, false)) { acc, n in
            let (p, o) = acc.0.multipliedReportingOverflow(by: n)
            return (p, acc.1 || o)
        }
        guard !overflow, expected == bytes.count - header else {
            throw ConvKitError("\(source): IDX dimensions \(shape) need \(expected) bytes of data, the file has \(bytes.count - header)\(bytes.count - header < expected ? " (truncated)" : "")")
        }
        return (shape, Array(bytes[header...]))
    }

    /// Images `[n, h, w]` scaled to [0, 1] as `[n, h, w, 1]`, and labels `[n]` as Floats.
    public static func loadClassification(images imagePath: String, labels labelPath: String) throws -> (images: Tensor, labels: Tensor) {
        let images = try read(path: imagePath), labels = try read(path: labelPath)
        guard images.shape.count == 3 else {
            throw ConvKitError("\(imagePath): expected images of shape [count, height, width], got \(images.shape)")
        }
        guard labels.shape.count == 1 else { throw ConvKitError("\(labelPath): expected labels of shape [count], got \(labels.shape)") }
        guard images.shape[0] == labels.shape[0] else {
            throw ConvKitError("\(imagePath) holds \(images.shape[0]) images but \(labelPath) holds \(labels.shape[0]) labels")
        }
        return (Tensor(shape: images.shape + [1], scalars: images.values.map { Float($0) / 255 }),
                Tensor(shape: labels.shape, scalars: labels.values.map { Float($0) }))
    }
}

/// Fashion-MNIST as Debian's `dataset-fashion-mnist` installs it, or any folder with the
/// MNIST file names (`train-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, …).
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// The two halves of the dataset; the raw value is the files' prefix.
    public enum Split: String, CaseIterable, Sendable {
        /// 60,000 images.
        case train
        /// 10,000 images.
        case test = "t10k"
    }

    public static func load(_ split: Split, directory: String = defaultDirectory) throws -> (images: Tensor, labels: Tensor) {
        func file(_ kind: String) -> String {
            let raw = "\(directory)/\(split.rawValue)-\(kind)"
            return FileManager.default.fileExists(atPath: raw) ? raw : raw + ".gz"
        }
        return try IDX.loadClassification(images: file("images-idx3-ubyte"), labels: file("labels-idx1-ubyte"))
    }
}
