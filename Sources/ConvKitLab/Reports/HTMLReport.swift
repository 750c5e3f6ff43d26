import ConvKit
import Foundation

/// Turns a report's Markdown into one self-contained HTML page: headings, paragraphs, lists,
/// tables, fenced code, `code` and **bold** spans, and figures (`![alt](file.svg)`) inlined
/// from `folder`, so the page needs no other file.
public enum HTMLReport {
    public static func render(markdown: String, title: String, folder: String) throws -> String {
        var body = ""
        var inTable = false, inList = false, inCode = false
        // Consecutive text lines are one paragraph, as in Markdown.
        var paragraph = [String]()
        var figures = 0
        // A table's header waits for the separator row below it, whose `---:` cells say which
        // columns are right-aligned (numbers); the others, text, stay left-aligned.
        var header: [String]?, rightAligned = [Bool]()
        func row(_ cells: [String], tag: String) -> String {
            "<tr>" + cells.enumerated().map { i, cell in
                "<\(tag)\(i < rightAligned.count && rightAligned[i] ? " class=\"r\"" : "")>\(cell)</\(tag)>"
            }.joined() + "</tr>\n"
        }
        func flushHeader() {
            if let cells = header { body += row(cells, tag: "th"); header = nil }
        }
        func closeBlocks() {
            if !paragraph.isEmpty { body += "<p>\(paragraph.map(inline).joined(separator: " "))</p>\n"; paragraph = [] }
            flushHeader()
            if inTable { body += "</table>\n"; inTable = false; rightAligned = [] }
            if inList { body += "</ul>\n"; inList = false }
        }
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                closeBlocks()
                body += inCode ? "</pre>\n" : "<pre>"
                inCode.toggle()
                continue
            }
            if inCode { body += escape(line) + "\n"; continue }
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                if line.hasPrefix("|---") || line.hasPrefix("|:--") {
                    rightAligned = cells.map { $0.hasSuffix(":") }
                    flushHeader()
                } else if !inTable {
                    closeBlocks(); body += "<table>\n"; inTable = true
                    header = cells.map(inline)
                } else {
                    flushHeader()
                    body += row(cells.map(inline), tag: "td")
                }
                continue
            }
            if line.hasPrefix("- ") {
                if !inList { closeBlocks(); body += "<ul>\n"; inList = true }
                body += "<li>\(inline(String(line.dropFirst(2))))</li>\n"
                continue
            }
            if !line.isEmpty && !line.hasPrefix("![") && !line.hasPrefix("#") {
                if inTable || inList { closeBlocks() }
                paragraph.append(line)
                continue
            }
            closeBlocks()
            if line.hasPrefix("!["), let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")") {
                let file = String(line[line.index(after: open)..<close])
                guard let svg = try? String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8) else {
                    throw ConvKitError("\(folder)/\(file): the report's figure is missing")
                }
                figures += 1
                body += "<figure>" + uniqueIDs(svg.range(of: "<svg").map { String(svg[$0.lowerBound...]) } ?? svg, prefix: "f\(figures)-")
                    + "</figure>\n"
            } else if let level = ["### ", "## ", "# "].firstIndex(where: line.hasPrefix) {
                let n = 3 - level
                body += "<h\(n)>\(inline(String(line.drop { $0 == "#" }.dropFirst())))</h\(n)>\n"
            }
        }
        if inCode { body += "</pre>\n" }
        closeBlocks()
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:DejaVu Sans,sans-serif;max-width:1000px;margin:2em auto;color:#222}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
            th{background:#f4f4f4}.r{text-align:right}figure{margin:1em 0}figure svg{max-width:100%;height:auto}code,pre{background:#f4f4f4}
            pre{padding:8px;overflow-x:auto;font-size:12px}</style>
            </head><body>
            \(body)</body></html>

            """
    }

    /// Cairo names its glyphs and clip paths `glyph0-1`, `clip1`… in every SVG: inlined side by
    /// side, later figures would draw with the first one's glyphs. Each gets its own prefix.
    static func uniqueIDs(_ svg: String, prefix: String) -> String {
        svg.replacingOccurrences(of: "id=\"", with: "id=\"\(prefix)")
            .replacingOccurrences(of: "href=\"#", with: "href=\"#\(prefix)")
            .replacingOccurrences(of: "url(#", with: "url(#\(prefix)")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `code`, **bold** and *italic* spans; nothing inside a code span is read as emphasis, and
    /// an unpaired backtick stays as it is.
    static func inline(_ s: String) -> String {
        let pieces = escape(s).components(separatedBy: "`")
        let paired = pieces.count % 2 == 1 ? pieces.count : pieces.count - 1  // pieces inside pairs of backticks
        var out = ""
        for (i, piece) in pieces.enumerated() {
            if i >= paired { out += "`" + emphasis(piece) } else if i % 2 == 1 { out += "<code>\(piece)</code>" } else { out += emphasis(piece) }
        }
        return out
    }

    private static func emphasis(_ s: String) -> String {
        let parts = s.components(separatedBy: "**")
        var out = parts.count >= 3 ? parts.enumerated().map { i, p in i == 0 ? p : (i % 2 == 1 ? "<strong>" : "</strong>") + p }.joined() : s
        // A single asterisk pair hugging a word: *held*, not the 2 * 3 of a formula.
        out = out.replacing(/(^|[^\w*])\*([^\s*](?:[^*]*[^\s*])?)\*(?![\w*])/) { "\($0.1)<em>\($0.2)</em>" }
        return out
    }
}
