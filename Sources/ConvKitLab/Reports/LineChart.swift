import ConvKit
import CCairo
import Foundation

/// A line chart drawn with Cairo, written as SVG and PNG from the same drawing code.
public struct LineChart: Figure {
    public struct Series {
        public var label: String
        public var points: [(x: Double, y: Double)]
        /// Index into the palette: series of one model share a colour.
        public var colorIndex: Int
        public var dashed: Bool
        /// Draw a dot at every point (and no line when `line` is false: a scatter plot).
        public var markers: Bool
        public var line: Bool
        /// Error bars: ± this much at each point (e.g. the standard deviation over seeds).
        public var errors: [Double]?
        /// Draw the errors as a shaded band along the line instead of bars (a reference level
        /// with its spread).
        public var band: Bool
        public init(label: String, points: [(x: Double, y: Double)], colorIndex: Int, dashed: Bool = false,
                    markers: Bool = false, line: Bool = true, errors: [Double]? = nil, band: Bool = false) {
            self.label = label; self.points = points; self.colorIndex = colorIndex; self.dashed = dashed
            self.markers = markers; self.line = line; self.errors = errors; self.band = band
        }
    }

    public var title: String, xLabel: String, yLabel: String
    public var series: [Series]
    public var width = 900.0, height = 540.0
    /// Logarithmic axes (base 10); points ≤ 0 are left out.
    public var logX = false, logY = false
    /// The x ticks, in data units, instead of round numbers: the values that were run
    /// (E = 1, 2, 4, 8…).
    public var xTicks: [Double]?

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool = false, logY: Bool = false,
                xTicks: [Double]? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        self.logX = logX; self.logY = logY; self.xTicks = xTicks
    }

    /// No series has a point that can be drawn (finite, and positive on a log axis).
    public var isEmpty: Bool {
        !series.contains { s in
            s.points.contains { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0) }
        }
    }

    /// Tableau-like colours that stay distinct in print.
    static let palette: [(Double, Double, Double)] = [
        (0.12, 0.47, 0.71), (1.0, 0.50, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16),
        (0.58, 0.40, 0.74), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.50, 0.50, 0.50),
    ]

    /// Round tick positions covering `low…high`.
    static func ticks(_ low: Double, _ high: Double, count: Int = 6) -> [Double] {
        let span = max(high - low, 1e-12)
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks = [Double]()
        var t = (low / step).rounded(.up) * step
        while t <= high + step * 1e-9 { ticks.append(t); t += step }
        return ticks
    }

    /// Ticks for a log axis (positions in log10 units): powers of ten, at most about ten of
    /// them; within a decade or two, 1-2-5 or 1…9 times a power of ten instead.
    static func logTicks(_ low: Double, _ high: Double) -> [Double] {
        let step = max(1, ((high - low) / 10).rounded(.up))
        let powers = Array(stride(from: (low / step).rounded(.up) * step, through: high, by: step))
        if powers.count >= 3 { return powers }
        for multipliers in [[1.0, 2, 5], [1.0, 2, 3, 4, 5, 6, 7, 8, 9]] {
            var ticks = [Double]()
            for decade in stride(from: floor(low), through: ceil(high), by: 1.0) {
                for m in multipliers {
                    let t = decade + log10(m)
                    if t >= low - 1e-9 && t <= high + 1e-9 { ticks.append(t) }
                }
            }
            if ticks.count >= 3 { return ticks }
        }
        return LineChart.ticks(low, high, count: 4)
    }

    /// "1e-03", "0.1", "1", "10", "32k", "1M" for a log10 tick position.
    static func powerLabel(_ t: Double) -> String {
        let v = pow(10, t)
        if v >= 1e6 { return String(format: "%.3gM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.3gk", v / 1e3) }
        if v >= 1, abs(v - v.rounded()) < 1e-9 { return String(format: "%.0f", v) }
        if abs(t - t.rounded()) > 1e-9 || abs(t) <= 2 { return String(format: "%.2g", v) }
        return String(format: "%.0e", v)
    }

    /// Labels with the decimals the tick step needs, the same for every tick of an axis
    /// (step 0.5 → "1.5", "2.0"; step 0.25 → "0.25"; step 2 → "4").
    static func labels(_ ticks: [Double]) -> [String] {
        guard ticks.count > 1 else { return ticks.map { String(format: "%g", $0) } }
        let step = ticks[1] - ticks[0]
        var decimals = max(0, Int((-log10(step)).rounded(.up)))
        while decimals < 6 && abs(step * pow(10, Double(decimals)) - (step * pow(10, Double(decimals))).rounded()) > 1e-6 { decimals += 1 }
        // A tick at -0.0 (a rounding of a small negative start) reads "0", not "-0".
        return ticks.map { String(format: "%.\(decimals)f", abs($0) < step * 1e-9 ? 0 : $0) }
    }

    public func draw(_ cr: OpaquePointer?) {
        // Work in axis space: log10 of the values on a logarithmic axis.
        let tx = { (x: Double) in logX ? (x > 0 ? log10(x) : .nan) : x }
        let ty = { (y: Double) in logY ? (y > 0 ? log10(y) : .nan) : y }
        // Points with the ends of their error bars, so that no bar is cut off.
        let all = series.flatMap { s in
            s.points.enumerated().flatMap { i, p -> [(x: Double, y: Double)] in
                let e = s.errors.map { i < $0.count ? $0[i] : 0 } ?? 0
                return [(p.x, p.y), (p.x, p.y - e), (p.x, p.y + e)]
            }
        }.map { (x: tx($0.x), y: ty($0.y)) }.filter { $0.x.isFinite && $0.y.isFinite }
        var (x0, x1) = (all.map(\.x).min() ?? 0, all.map(\.x).max() ?? 1)
        var (y0, y1) = (all.map(\.y).min() ?? 0, all.map(\.y).max() ?? 1)
        if x1 <= x0 { x0 -= 0.5; x1 += 0.5 }
        // Room for the markers at both ends (a scatter plot needs more).
        if series.contains(where: \.markers) || !series.contains(where: \.line) {
            let pad = (x1 - x0) * (series.contains(where: \.line) ? 0.03 : 0.05); x0 -= pad; x1 += pad
        }
        if y1 <= y0 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.05
        y0 -= pad; y1 += pad
        // The legend takes the width of its longest label.
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, 12)
        let legendWidth = series.map { s -> Double in
            var e = cairo_text_extents_t(); cairo_text_extents(cr, s.label, &e); return e.x_advance
        }.max() ?? 0
        let (left, right, top, bottom) = (80.0, width - legendWidth - 75, 50.0, height - 60)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - y0) / (y1 - y0) * (bottom - top) }

        cairo_set_source_rgb(cr, 1, 1, 1); cairo_paint(cr)

        // Grid, ticks and tick labels.
        cairo_set_font_size(cr, 12)
        cairo_set_line_width(cr, 1)
        let yTicks = logY ? LineChart.logTicks(y0, y1) : LineChart.ticks(y0, y1)
        for (t, label) in zip(yTicks, logY ? yTicks.map(LineChart.powerLabel) : LineChart.labels(yTicks)) {
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9)
            cairo_move_to(cr, left, py(t)); cairo_line_to(cr, right, py(t)); cairo_stroke(cr)
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2)
            drawText(cr, label, x: left - 8, y: py(t) + 4, align: 1)
        }
        let xTickPositions: [Double], xTickLabels: [String]
        if let chosen = self.xTicks {
            xTickPositions = chosen.map(tx).filter(\.isFinite)
            xTickLabels = chosen.filter { tx($0).isFinite }.map { String(format: "%g", $0) }
        } else {
            xTickPositions = logX ? LineChart.logTicks(x0, x1) : LineChart.ticks(x0, x1, count: min(10, max(Int(x1 - x0), 1)))
            xTickLabels = logX ? xTickPositions.map(LineChart.powerLabel) : LineChart.labels(xTickPositions)
        }
        for (t, label) in zip(xTickPositions, xTickLabels) {
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9)
            cairo_move_to(cr, px(t), top); cairo_line_to(cr, px(t), bottom); cairo_stroke(cr)
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2)
            drawText(cr, label, x: px(t), y: bottom + 18, align: 0.5)
        }
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2)
        cairo_rectangle(cr, left, top, right - left, bottom - top); cairo_stroke(cr)

        // Axis labels and title.
        cairo_set_font_size(cr, 14)
        drawText(cr, xLabel, x: (left + right) / 2, y: height - 18, align: 0.5)
        cairo_save(cr)
        cairo_translate(cr, 22, (top + bottom) / 2); cairo_rotate(cr, -Double.pi / 2)
        drawText(cr, yLabel, x: 0, y: 0, align: 0.5)
        cairo_restore(cr)
        cairo_set_font_size(cr, 17)
        // Centred over the plot, but kept inside the picture: long titles shrink, then shift.
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, title, &extents)
        if extents.x_advance > width - 20 {
            cairo_set_font_size(cr, 17 * (width - 20) / extents.x_advance)
            cairo_text_extents(cr, title, &extents)
        }
        let half = extents.x_advance / 2
        drawText(cr, title, x: min(max((left + right) / 2, half + 10), width - half - 10), y: 30, align: 0.5)

        // Series, clipped to the plot area.
        cairo_save(cr)
        cairo_rectangle(cr, left, top, right - left, bottom - top); cairo_clip(cr)
        for s in series {
            if s.band, let errors = s.errors, errors.count == s.points.count {
                let c = LineChart.palette[s.colorIndex % LineChart.palette.count]
                cairo_set_source_rgba(cr, c.0, c.1, c.2, 0.15)
                let edge = zip(s.points, errors).map { (x: px(tx($0.x)), high: py(ty($0.y + $1)), low: py(ty($0.y - $1))) }
                    .filter { $0.x.isFinite && $0.high.isFinite && $0.low.isFinite }
                for (i, p) in edge.enumerated() { if i == 0 { cairo_move_to(cr, p.x, p.high) } else { cairo_line_to(cr, p.x, p.high) } }
                for p in edge.reversed() { cairo_line_to(cr, p.x, p.low) }
                cairo_close_path(cr); cairo_fill(cr)
            }
            setStyle(cr, s)
            let points = s.points.map { (x: tx($0.x), y: ty($0.y)) }
            if s.line {
                var drawing = false
                for p in points {
                    guard p.x.isFinite && p.y.isFinite else { drawing = false; continue }
                    if drawing { cairo_line_to(cr, px(p.x), py(p.y)) } else { cairo_move_to(cr, px(p.x), py(p.y)) }
                    drawing = true
                }
                cairo_stroke(cr)
            }
            if s.markers {
                for p in points where p.x.isFinite && p.y.isFinite {
                    cairo_new_sub_path(cr); cairo_arc(cr, px(p.x), py(p.y), 4.5, 0, 2 * Double.pi); cairo_fill(cr)
                }
            }
            if let errors = s.errors, !s.band {
                cairo_set_dash(cr, nil, 0, 0); cairo_set_line_width(cr, 1.5)
                for (i, p) in s.points.enumerated() where i < errors.count && errors[i] > 0 {
                    let (x, low, high) = (px(tx(p.x)), py(ty(p.y - errors[i])), py(ty(p.y + errors[i])))
                    guard x.isFinite && low.isFinite && high.isFinite else { continue }
                    cairo_move_to(cr, x, low); cairo_line_to(cr, x, high)
                    cairo_move_to(cr, x - 5, low); cairo_line_to(cr, x + 5, low)
                    cairo_move_to(cr, x - 5, high); cairo_line_to(cr, x + 5, high)
                }
                cairo_stroke(cr)
            }
        }
        cairo_restore(cr)

        // Legend.
        cairo_set_font_size(cr, 12)
        for (i, s) in series.enumerated() {
            let y = top + 10 + Double(i) * 20
            if s.band {
                let c = LineChart.palette[s.colorIndex % LineChart.palette.count]
                cairo_set_source_rgba(cr, c.0, c.1, c.2, 0.15)
                cairo_rectangle(cr, right + 15, y - 6, 30, 12); cairo_fill(cr)
            }
            setStyle(cr, s)
            if s.line { cairo_move_to(cr, right + 15, y); cairo_line_to(cr, right + 45, y); cairo_stroke(cr) }
            if s.markers { cairo_new_sub_path(cr); cairo_arc(cr, right + 30, y, 4.5, 0, 2 * Double.pi); cairo_fill(cr) }
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
            drawText(cr, s.label, x: right + 52, y: y + 4, align: 0)
        }
    }

    private func setStyle(_ cr: OpaquePointer?, _ s: Series) {
        let c = LineChart.palette[s.colorIndex % LineChart.palette.count]
        cairo_set_source_rgb(cr, c.0, c.1, c.2)
        cairo_set_line_width(cr, 2.2)
        if s.dashed { var d: [Double] = [7, 4]; cairo_set_dash(cr, &d, 2, 0) } else { cairo_set_dash(cr, nil, 0, 0) }
    }
}
