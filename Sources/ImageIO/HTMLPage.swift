/// A self-contained HTML page: the one place that escapes text for HTML and holds the stylesheet
/// every page of the tool shares (the explorer's gallery, the training report, Grad-CAM pages).
///
/// Pages have no external assets: the stylesheet is inline, pictures are relative links to files
/// beside the page (or inline SVG), so a page works from `file://` and can be copied with its folder.
/// Build the body from `HTMLPage.escape`d text and write it with `AtomicFile.write(_:toPath:)`.
package struct HTMLPage: Sendable {
    /// The page title (plain text; escaped when rendered).
    public var title: String
    /// The body's HTML, already escaped where it holds user text.
    public var body: String
    /// Extra CSS for this page, appended after the shared stylesheet.
    public var extraStyle: String
    /// Seconds after which the browser reloads the page (a training report that is still being written), or nil.
    public var refreshSeconds: Int?

    /// A page with the given title and body.
    public init(title: String, body: String = "", extraStyle: String = "", refreshSeconds: Int? = nil) {
        self.title = title
        self.body = body
        self.extraStyle = extraStyle
        self.refreshSeconds = refreshSeconds
    }

    /// The whole document as UTF-8 text.
    public func render() -> String {
        var head = "<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        if let refreshSeconds { head += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">\n" }
        head += "<title>\(HTMLPage.escape(title))</title>\n<style>\n\(HTMLPage.sharedStyle)\(extraStyle)</style>\n"
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n\(head)</head>\n<body>\n\(body)\n</body>\n</html>\n"
    }

    /// Writes the page atomically to `path` (see `AtomicFile`).
    public func write(toPath path: String) throws(ImageIOError) {
        try AtomicFile.write(render(), toPath: path)
    }

    /// `text` with the five HTML-significant characters replaced, safe in element content and in
    /// quoted attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A relative path made safe for an `href` or `src` attribute: each path segment percent-encoded
    /// (spaces, `#`, `?`, `%` and non-ASCII in file names would otherwise break the link).
    public static func relativeURL(_ path: String) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/".utf8)
        var out = ""
        for byte in path.utf8 {
            if allowed.contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// The stylesheet every page shares: readable type, tables, figure grids, dark-on-light.
    public static let sharedStyle = """
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem auto; max-width: 1200px; padding: 0 1rem; color: #1b1b1b; background: #fff; line-height: 1.4; }
    h1 { font-size: 1.6rem; margin-bottom: 0.3rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; }
    .meta { color: #555; font-size: 0.9rem; }
    table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
    th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; } th { background: #f3f3f3; } td.left, th.left { text-align: left; }
    figure { margin: 0.5rem; display: inline-block; vertical-align: top; } figcaption { font-size: 0.8rem; color: #444; max-width: 280px; overflow-wrap: anywhere; }
    img { image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #ddd; }
    .error { color: #a40000; } .ok { color: #1a6e1a; }
    code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85rem; background: #f6f6f6; }
    pre { padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; }

    """
}
