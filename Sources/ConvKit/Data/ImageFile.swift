import CPNG
import Foundation

/// Reads single images for prediction: PNG (through libpng) and the netpbm greyscale
/// formats PGM (binary P5 and text P2). Values are scaled to [0, 1]; the result is
/// `[1, height, width, channels]` with 1 channel (grey) or 3 (RGB).
public enum ImageFile {
    public static func read(path: String, channels: Int) throws -> Tensor {
        guard channels == 1 || channels == 3 else { throw ConvKitError("\(path): images can be read with 1 or 3 channels, not \(channels)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): no such file") }
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try png(path, channels: channels) }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "2") {
            let grey = try pgm(bytes, source: path)
            return channels == 1 ? grey : Tensor(shape: Array(grey.shape.dropLast()) + [3], scalars: grey.scalars.flatMap { [$0, $0, $0] })
        }
        throw ConvKitError("\(path): not a PNG or PGM image")
    }

    /// PGM: magic, width, height, maximum value (each separated by whitespace, `#` comments
    /// allowed), then the pixels — one or two bytes each (P5), or decimal numbers (P2).
    static func pgm(_ bytes: [UInt8], source: String) throws -> Tensor {
        var position = 2
        func token() throws -> Int {
            while position < bytes.count {
                if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 10 { position += 1 }
                } else if [9, 10, 13, 32].contains(bytes[position]) {
                    position += 1
                } else { break }
            }
            var value = 0, digits = 0
            while position < bytes.count, (48...57).contains(bytes[position]), digits < 9 {
                value = value * 10 + Int(bytes[position] - 48); position += 1; digits += 1
            }
            guard digits > 0 else { throw ConvKitError("\(source): a malformed PGM header or pixel value at byte \(position)") }
            return value
        }
        let width = try token(), height = try token(), maximum = try token()
        guard width > 0, height > 0, width <= 16_384, height <= 16_384, (1...65_535).contains(maximum) else {
            throw ConvKitError("\(source): PGM size \(width)×\(height) with maximum \(maximum) is not supported (1 to 16384 pixels a side, maximum 1 to 65535)")
        }
        let count = width * height
        var values = [Float](repeating: 0, count: count)
        if bytes[1] == UInt8(ascii: "5") {
            position += 1   // the single whitespace byte after the maximum
            let size = maximum > 255 ? 2 : 1
            guard bytes.count - position >= count * size else {
                throw ConvKitError("\(source): PGM pixel data is truncated (\(bytes.count - position) bytes, \(count * size) needed)")
            }
            for i in 0..<count {
                let p = position + i * size
                values[i] = Float(size == 2 ? Int(bytes[p]) << 8 | Int(bytes[p + 1]) : Int(bytes[p])) / Float(maximum)
            }
        } else {
            for i in 0..<count {
                let v = try token()
                guard v <= maximum else { throw ConvKitError("\(source): PGM pixel \(i) is \(v), above the maximum \(maximum)") }
                values[i] = Float(v) / Float(maximum)
            }
        }
        return Tensor(shape: [1, height, width, 1], scalars: values)
    }

    /// Any PNG (grey, palette, 16-bit, with alpha) as 8-bit RGBA from libpng's simplified
    /// reader; transparent pixels are composited on black.
    static func png(_ path: String, channels: Int) throws -> Tensor {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func failure() -> String { withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        guard png_image_begin_read_from_file(&image, path) != 0 else { throw ConvKitError("\(path): not a readable PNG (\(failure()))") }
        let (width, height) = (Int(image.width), Int(image.height))
        guard width > 0, height > 0 else { throw ConvKitError("\(path): an empty PNG") }
        guard width <= 16_384, height <= 16_384 else {
            throw ConvKitError("\(path): PNG size \(width)×\(height) is not supported (1 to 16384 pixels a side)")
        }
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)   // PNG_FORMAT_RGBA
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        guard png_image_finish_read(&image, nil, &rgba, 0, nil) != 0 else { throw ConvKitError("\(path): not a readable PNG (\(failure()))") }
        var values = [Float]()
        values.reserveCapacity(width * height * channels)
        for pixel in stride(from: 0, to: rgba.count, by: 4) {
            let alpha = Float(rgba[pixel + 3]) / 255
            let (r, g, b) = (Float(rgba[pixel]) / 255 * alpha, Float(rgba[pixel + 1]) / 255 * alpha, Float(rgba[pixel + 2]) / 255 * alpha)
            if channels == 1 { values.append(0.299 * r + 0.587 * g + 0.114 * b) } else { values += [r, g, b] }
        }
        return Tensor(shape: [1, height, width, channels], scalars: values)
    }
}
