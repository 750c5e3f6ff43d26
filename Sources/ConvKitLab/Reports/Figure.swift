import ConvKit
import CCairo
import Foundation

/// A picture drawn with Cairo, written as SVG (for the HTML report) and PNG (for everything
/// else) by the same drawing code.
public protocol Figure {
    var width: Double { get }
    var height: Double { get }
    /// True when there is nothing to draw but axes: such a figure is an error, not a picture.
    var isEmpty: Bool { get }
    func draw(_ cr: OpaquePointer?)
}

extension Figure {
    public var isEmpty: Bool { false }

    /// Writes `base.svg` and `base.png`; refuses an empty figure.
    public func write(to base: String) throws {
        if isEmpty { throw ConvKitError("\(base): the figure has no data to draw") }
        try render(surface: cairo_svg_surface_create(base + ".svg", width, height), path: base + ".svg", png: false)
        try render(surface: cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width.rounded(.up)), Int32(height.rounded(.up))),
                   path: base + ".png", png: true)
    }

    private func render(surface: OpaquePointer?, path: String, png: Bool) throws {
        guard let surface, cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw ConvKitError("\(path): cannot create the figure")
        }
        defer { cairo_surface_destroy(surface) }
        let cr = cairo_create(surface)
        draw(cr)
        cairo_destroy(cr)
        if png {
            let status = cairo_surface_write_to_png(surface, path)
            guard status == CAIRO_STATUS_SUCCESS else {
                throw ConvKitError("\(path): cannot write the PNG (\(String(cString: cairo_status_to_string(status))))")
            }
        }
        cairo_surface_finish(surface)
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw ConvKitError("\(path): cannot write the figure (\(String(cString: cairo_status_to_string(cairo_surface_status(surface)))))")
        }
    }
}

/// Draws `s` with its anchor at `align` (0 left, 0.5 centre, 1 right) of its width.
func drawText(_ cr: OpaquePointer?, _ s: String, x: Double, y: Double, align: Double) {
    var extents = cairo_text_extents_t()
    cairo_text_extents(cr, s, &extents)
    cairo_move_to(cr, x - extents.x_advance * align, y)
    cairo_show_text(cr, s)
}
