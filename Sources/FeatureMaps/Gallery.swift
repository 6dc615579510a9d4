import ImageIO

/// The explorer's HTML pages: `OUT/index.html`, one section per photo of a run (its input, its
/// layer grids as thumbnails linking to the full-size PNGs, their pixel sizes, the seconds it took,
/// the prediction of a classifying network) and every failure with its one-line reason; and each
/// photo's own page `OUT/<photo>/index.html` with every picture at full size.
///
/// The index lists the photos of the run that wrote it, in the order they were given, so a
/// reused output folder shows the latest run (earlier runs' folders and their pages stay on disk,
/// unlisted). Pages are `HTMLPage`s: inline style, relative links, no script, written atomically.
package struct Gallery: Sendable {
    /// The index page's file name in the output root.
    public static let pageName = "index.html"
    /// Each photo's page, in its output folder.
    public static let photoPageName = "index.html"
    /// Seconds between rewrites of the index while a batch runs, and the browser's reload period.
    public static let refreshSeconds = 5

    /// The network, as `FeatureMapNetwork.summary` describes it.
    public var network: String
    /// The photos that succeeded, in the order they were given.
    public var photos: [ExploredImage]
    /// Every input that failed, with its reason, in the order it failed.
    public var failures: [ExplorerFailure]
    /// Inputs attempted in all (found images and paths that failed before the batch).
    public var total: Int
    /// The batch's wall time in seconds once it has finished; nil while it runs.
    public var seconds: Double?

    /// A gallery of a run's results.
    public init(network: String, photos: [ExploredImage], failures: [ExplorerFailure], total: Int, seconds: Double?) {
        self.network = network
        self.photos = photos
        self.failures = failures
        self.total = total
        self.seconds = seconds
    }

    /// Style for the explorer's pages, after `HTMLPage.sharedStyle`.
    static let style = """
    .photo + .photo { border-top: 1px solid #ddd; } .photo { padding-top: 0.3rem; }
    .photo h3 { margin: 0.3rem 0; overflow-wrap: anywhere; }
    .pictures { display: flex; flex-wrap: wrap; align-items: flex-start; }
    .full { overflow-x: auto; } .full img { max-width: none; }
    .top b { font-weight: 600; }
    figcaption .part { color: #555; font-style: italic; }

    """

    /// The index page. While the batch runs it reloads itself every `refreshSeconds`.
    package func page() -> HTMLPage {
        var body = "<h1>Feature maps of \(total) photo\(total == 1 ? "" : "s")</h1>\n"
        var status = "Network: \(HTMLPage.escape(network))<br>\n\(photos.count) done, \(failures.count) failed"
        if let seconds {
            let rate = seconds > 0 ? Double(total) / seconds : 0
            status += " in \(format(seconds, decimals: 3)) s (\(format(rate, decimals: 1)) images/s)"
        } else {
            status += " of \(total) so far; still running, this page reloads every \(Self.refreshSeconds) s"
        }
        body += "<p class=\"meta\">\(status).</p>\n"
        body += "<p class=\"meta\">The photos of the run that wrote this page, in the order given. "
            + "A picture opens its full-size PNG; a photo's name opens its page with every layer at full size.</p>\n"
        if !failures.isEmpty {
            body += "<h2 id=\"failures\">Failed (\(failures.count))</h2>\n<ul>\n"
            for failure in failures {
                body += "<li class=\"error\"><code>\(HTMLPage.escape(failure.description))</code></li>\n"
            }
            body += "</ul>\n"
        }
        if !photos.isEmpty { body += "<h2 id=\"photos\">Photos (\(photos.count))</h2>\n" }
        for photo in photos {
            let folder = photo.input.outputFolder
            body += "<section class=\"photo\">\n<h3><a href=\"\(HTMLPage.relativeURL(folder + "/" + Self.photoPageName))\">"
                + "\(HTMLPage.escape(photo.input.path))</a></h3>\n"
            body += "<p class=\"meta\">\(Self.facts(photo))</p>\n<div class=\"pictures\">\n"
            for picture in photo.pictures {
                let (width, height) = Self.displaySize(picture)
                body += "<figure><a href=\"\(HTMLPage.relativeURL(folder + "/" + picture.name))\">"
                    + "<img loading=\"lazy\" src=\"\(HTMLPage.relativeURL(folder + "/" + picture.thumbnail))\" "
                    + "width=\"\(width)\" height=\"\(height)\" alt=\"\(HTMLPage.escape(Self.caption(picture.name)))\"></a>"
                    + "<figcaption>\(HTMLPage.escape(Self.caption(picture.name))), \(picture.width) x \(picture.height) px"
                    + (picture.thumbnailPart.map { "<br><span class=\"part\">\(HTMLPage.escape($0))</span>" } ?? "") + "</figcaption></figure>\n"
            }
            body += "</div>\n</section>\n"
        }
        return HTMLPage(title: "featuremaps: \(total) photo\(total == 1 ? "" : "s")", body: body, extraStyle: Self.style,
                        refreshSeconds: seconds == nil ? Self.refreshSeconds : nil)
    }

    /// One photo's page, in its output folder: every picture at full size (scrolling sideways
    /// when wider than the window), each linking to its PNG.
    package static func photoPage(_ photo: ExploredImage, network: String) -> HTMLPage {
        let depth = photo.input.outputFolder.split(separator: "/", omittingEmptySubsequences: true).count
        let up = String(repeating: "../", count: max(1, depth))
        var body = "<p><a href=\"\(up)\(pageName)\">All photos of the run</a></p>\n"
        body += "<h1>\(HTMLPage.escape(photo.input.path))</h1>\n"
        body += "<p class=\"meta\">Network: \(HTMLPage.escape(network))<br>\n\(facts(photo))</p>\n"
        body += "<p>" + photo.pictures.map { "<a href=\"#\(anchor($0.name))\">\(HTMLPage.escape(caption($0.name)))</a>" }
            .joined(separator: " &middot; ") + "</p>\n"
        for picture in photo.pictures {
            body += "<h2 id=\"\(anchor(picture.name))\">\(HTMLPage.escape(caption(picture.name))) (\(picture.width) x \(picture.height) px)</h2>\n"
                + "<div class=\"full\"><a href=\"\(HTMLPage.relativeURL(picture.name))\">"
                + "<img loading=\"lazy\" src=\"\(HTMLPage.relativeURL(picture.name))\" width=\"\(picture.width)\" "
                + "height=\"\(picture.height)\" alt=\"\(HTMLPage.escape(caption(picture.name)))\"></a></div>\n"
        }
        return HTMLPage(title: "featuremaps: \(photo.input.path)", body: body, extraStyle: style)
    }

    /// The line under a photo's name: input size, seconds, and the prediction if there is one.
    static func facts(_ photo: ExploredImage) -> String {
        var text = ""
        if let input = photo.pictures.first { text += "\(input.width) x \(input.height) px, " }
        text += "\(format(photo.seconds, decimals: 3)) s"
        if !photo.topClasses.isEmpty {
            text += "<br>\n<span class=\"top\">Top \(photo.topClasses.count): "
                + photo.topClasses.map { "<b>\(HTMLPage.escape($0.name))</b> \(format(Double($0.probability), decimals: 3))" }
                    .joined(separator: ", ") + "</span>"
        }
        return text
    }

    /// "input" for `in_img.png`, "L3" for `L3.png`.
    static func caption(_ name: String) -> String {
        name == "in_img.png" ? "input" : (name.hasSuffix(".png") ? String(name.dropLast(4)) : name)
    }

    /// The id of a picture's heading on its photo's page ("L3", "input"; names are the explorer's own).
    static func anchor(_ name: String) -> String {
        HTMLPage.relativeURL(caption(name))
    }

    /// A thumbnail's size on the index page: half its pixels (sharp on high-density screens).
    static func displaySize(_ picture: ExploredFile) -> (Int, Int) {
        (max(1, (picture.thumbnailWidth + 1) / 2), max(1, (picture.thumbnailHeight + 1) / 2))
    }
}

/// Keeps `OUT/index.html` current while a batch runs (at most every `Gallery.refreshSeconds`,
/// so a batch of thousands of photos does not rebuild the page thousands of times) and writes the
/// final page in `finish`; passes every event on to another reporter (the console's).
public final class GalleryWriter: BatchReporter, @unchecked Sendable {
    /// The index page's path.
    public let path: String
    private let next: (any BatchReporter)?
    private let order: [String: Int]
    private let earlierFailures: [ExplorerFailure]
    private let lock = Lock()
    private var gallery: Gallery
    private var done: [(index: Int, image: ExploredImage)] = []
    private var lastWrite = -Double.infinity

    /// A writer of `outputRoot/index.html` for a batch of `inputs` under `network` (its summary),
    /// listing `earlierFailures` (inputs that failed before the batch) first.
    public init(outputRoot: String, network: String, inputs: [ExplorerInput], earlierFailures: [ExplorerFailure],
                forwardingTo next: (any BatchReporter)? = nil) {
        let root = outputRoot.hasSuffix("/") ? String(outputRoot.dropLast()) : outputRoot
        path = (root.isEmpty ? "" : root + "/") + Gallery.pageName
        self.next = next
        self.earlierFailures = earlierFailures
        order = Dictionary(inputs.enumerated().map { ($1.outputFolder, $0) }, uniquingKeysWith: { first, _ in first })
        gallery = Gallery(network: network, photos: [], failures: earlierFailures,
                          total: inputs.count + earlierFailures.count, seconds: nil)
    }

    public func started(total: Int) {
        lock.withLock { update(force: true) }
        next?.started(total: total)
    }

    public func finished(_ image: ExploredImage, outputFolder: String) {
        lock.withLock {
            done.append((order[image.input.outputFolder] ?? Int.max, image))
            update(force: false)
        }
        next?.finished(image, outputFolder: outputFolder)
    }

    public func failed(_ failure: ExplorerFailure) {
        lock.withLock {
            gallery.failures.append(failure)
            update(force: false)
        }
        next?.failed(failure)
    }

    /// Writes the final page from the batch's summary (no reload).
    public func finish(_ summary: BatchSummary) throws(FileWriteError) {
        let page: HTMLPage = lock.withLock {
            gallery.photos = summary.images
            gallery.failures = earlierFailures + summary.failures
            gallery.seconds = summary.seconds
            return gallery.page()
        }
        try page.write(toPath: path)
    }

    /// Rewrites the running page if forced or `refreshSeconds` have passed. A failed write is
    /// left for `finish` to report: the batch goes on.
    private func update(force: Bool) {
        let now = monotonicSeconds()
        guard force || now - lastWrite >= Double(Gallery.refreshSeconds) else { return }
        lastWrite = now
        gallery.photos = done.sorted { $0.index < $1.index }.map(\.image)
        try? gallery.page().write(toPath: path)
    }
}
