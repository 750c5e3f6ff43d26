import ConvKit
import CCairo
import Foundation

/// Small greyscale images in a grid, each pixel a square: filters, images and feature maps.
/// Each tile is scaled to its own range (black = its minimum, white = its maximum), which is
/// how filters are usually shown; a constant tile is mid-grey.
public struct ImageGrid: Figure {
    public struct Tile {
        public var height: Int, width: Int
        /// Row-major, `height × width` values.
        public var values: [Float]
        public var caption: String
        public init(height: Int, width: Int, values: [Float], caption: String = "") {
            self.height = height; self.width = width; self.values = values; self.caption = caption
        }
    }

    public var title: String
    public var tiles: [Tile]
    public var columns: Int
    /// Side of one image pixel, in figure units.
    public var pixel: Double

    public init(title: String, tiles: [Tile], columns: Int, pixel: Double = 8) {
        self.title = title; self.tiles = tiles; self.columns = max(1, columns); self.pixel = pixel
    }

    /// Tiles for the filters of a convolution kernel `[kh, kw, in, out]`: one per output
    /// channel, input channel `channel`.
    public static func filters(of kernel: Tensor, channel: Int = 0) -> [Tile] {
        let (kh, kw, cin, cout) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
        return (0..<cout).map { o in
            Tile(height: kh, width: kw, values: (0..<(kh * kw)).map { t in kernel.scalars[(t * cin + channel) * cout + o] })
        }
    }

    /// A tile for channel `channel` of image `index` of a batch `[n, h, w, c]`.
    public static func image(_ batch: Tensor, index: Int = 0, channel: Int = 0, caption: String = "") -> Tile {
        let (h, w, c) = (batch.shape[1], batch.shape[2], batch.shape[3])
        let base = index * h * w * c
        return Tile(height: h, width: w, values: (0..<(h * w)).map { batch.scalars[base + $0 * c + channel] }, caption: caption)
    }

    private var cell: (width: Double, height: Double) {
        let w = Double(tiles.map(\.width).max() ?? 1) * pixel, h = Double(tiles.map(\.height).max() ?? 1) * pixel
        let captioned = tiles.contains { !$0.caption.isEmpty }
        return (max(w, captioned ? 90 : 0) + 10, h + (captioned ? 26 : 10))
    }
    private var rows: Int { (tiles.count + columns - 1) / columns }
    public var width: Double { max(Double(min(columns, max(tiles.count, 1))) * cell.width + 20, 320) }
    public var height: Double { Double(rows) * cell.height + 50 }

    public func draw(_ cr: OpaquePointer?) {
        cairo_set_source_rgb(cr, 1, 1, 1); cairo_paint(cr)
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
        cairo_set_font_size(cr, 15)
        drawText(cr, title, x: width / 2, y: 26, align: 0.5)
        cairo_set_font_size(cr, 11)
        for (i, tile) in tiles.enumerated() {
            let x0 = 10 + Double(i % columns) * cell.width + (cell.width - 10 - Double(tile.width) * pixel) / 2
            let y0 = 40 + Double(i / columns) * cell.height
            let low = tile.values.min() ?? 0, high = tile.values.max() ?? 0
            for r in 0..<tile.height {
                for c in 0..<tile.width {
                    let v = tile.values[r * tile.width + c]
                    let grey = high > low ? Double((v - low) / (high - low)) : 0.5
                    cairo_set_source_rgb(cr, grey, grey, grey)
                    // A hair wider than the pixel, so that no seam shows between squares.
                    cairo_rectangle(cr, x0 + Double(c) * pixel, y0 + Double(r) * pixel, pixel + 0.3, pixel + 0.3)
                    cairo_fill(cr)
                }
            }
            if !tile.caption.isEmpty {
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
                drawText(cr, tile.caption, x: x0 + Double(tile.width) * pixel / 2, y: y0 + Double(tile.height) * pixel + 14, align: 0.5)
            }
        }
    }
}
