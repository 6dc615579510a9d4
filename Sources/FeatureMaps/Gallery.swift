import ImageIO

/// The explorer's HTML pages: `OUT/index.html`, the run's summary and every failure with its
/// one-line reason, then its first `pageSize` photos, each with its input, its layer grids as
/// thumbnails linking to the full-size PNGs, their pixel sizes, the seconds it took and the
/// prediction of a classifying network; the later photos on `OUT/index-2.html`, `index-3.html`,
/// ..., `pageSize` inputs a page, every page linking to every other; and each photo's own page
/// `OUT/<photo>/index.html` with every picture at full size.
///
/// The pages list the photos of the run that wrote them, in the order they were given, so a
/// reused output folder shows the latest run (earlier runs' folders and their pages stay on disk,
/// unlisted). Pages are `HTMLPage`s: inline style, relative links, no script, written atomically.
package struct Gallery: Sendable {
    /// The index page's file name in the output root.
    public static let pageName = "index.html"
    /// Each photo's page, in its output folder.
    public static let photoPageName = "index.html"
    /// Seconds between rewrites of the index while a batch runs, and the browser's reload period.
    public static let refreshSeconds = 5
    /// Inputs a page of the index covers: 100 photos of 4 or so thumbnails each, a page that
    /// loads at once and about 90 KB of HTML.
    package static let pageSize = 100

    /// The network, as `FeatureMapNetwork.summary` describes it.
    public var network: String
    /// The photos of this page that succeeded, in the order they were given.
    public var photos: [ExploredImage]
    /// Every input that failed, with its reason, in the order it failed.
    public var failures: [ExplorerFailure]
    /// Inputs attempted in all (found images and paths that failed before the batch).
    public var total: Int
    /// The batch's wall time in seconds once it has finished; nil while it runs.
    public var seconds: Double?
    /// Photos of the whole run that succeeded (`photos.count` when the run has one page).
    package var succeeded: Int
    /// The pages of the run's index (1: everything is on `index.html`).
    package var pageCount = 1
    /// Which later pages exist yet (index 0 is page 2), so the running index links only to those;
    /// nil once every page is written.
    package var pagesWritten: [Bool]?
    /// The first page's photos already rendered by `photoSections(_:)`, and their count: the first
    /// page is complete long before the run ends, and its records need not be kept for the rewrites.
    package var renderedPhotos: (html: String, count: Int)?

    /// A gallery of a run's results.
    public init(network: String, photos: [ExploredImage], failures: [ExplorerFailure], total: Int, seconds: Double?) {
        self.network = network
        self.photos = photos
        self.failures = failures
        self.total = total
        self.seconds = seconds
        succeeded = photos.count
    }

    /// Style for the explorer's pages, after `HTMLPage.sharedStyle`.
    static let style = """
    .photo + .photo { border-top: 1px solid #ddd; } .photo { padding-top: 0.3rem; }
    .photo h3 { margin: 0.3rem 0; overflow-wrap: anywhere; }
    .pictures { display: flex; flex-wrap: wrap; align-items: flex-start; }
    .full { overflow-x: auto; } .full img { max-width: none; }
    .top b { font-weight: 600; }
    figcaption .part { color: #555; font-style: italic; }
    nav.pages { margin: 0.8rem 0; line-height: 2; } nav.pages a, nav.pages span { padding: 0.1rem 0.4rem; }
    nav.pages .current { font-weight: 600; border: 1px solid #999; } nav.pages .later { color: #888; }

    """

    /// The file of page `number` of the index in the output root: `index.html`, `index-2.html`, ...
    package static func pageFileName(_ number: Int) -> String {
        number == 1 ? pageName : "index-\(number).html"
    }

    /// "photos" or "photo".
    static func photosWord(_ count: Int) -> String { "photo\(count == 1 ? "" : "s")" }

    /// The index page (page 1 of the run's pages). While the batch runs it reloads itself every
    /// `refreshSeconds`.
    package func page() -> HTMLPage {
        var body = "<h1>Feature maps of \(total) \(Self.photosWord(total))</h1>\n"
        var status = "Network: \(HTMLPage.escape(network))<br>\n\(succeeded) done, \(failures.count) failed"
        if let seconds {
            let rate = seconds > 0 ? Double(total) / seconds : 0
            status += " in \(format(seconds, decimals: 3)) s (\(format(rate, decimals: 1)) images/s)"
        } else {
            status += " of \(total) so far; still running, this page reloads every \(Self.refreshSeconds) s"
        }
        body += "<p class=\"meta\">\(status).</p>\n"
        body += "<p class=\"meta\">The photos of the run that wrote this page, in the order given"
            + (pageCount > 1 ? ", \(Self.pageSize) inputs a page" : "") + ". "
            + "A picture opens its full-size PNG; a photo's name opens its page with every layer at full size.</p>\n"
        if !failures.isEmpty {
            body += "<h2 id=\"failures\">Failed (\(failures.count))</h2>\n<ul>\n"
            for failure in failures {
                body += "<li class=\"error\"><code>\(HTMLPage.escape(failure.description))</code></li>\n"
            }
            body += "</ul>\n"
        }
        let (photosHTML, count) = renderedPhotos ?? (Self.photoSections(photos), photos.count)
        if count > 0 {
            body += "<h2 id=\"photos\">Photos (\(pageCount > 1 ? "\(succeeded) done, \(count) on this page" : "\(count)"))</h2>\n"
        }
        let navigation = Self.navigation(page: 1, of: pageCount, written: pagesWritten)
        body += navigation + photosHTML + (count > 0 ? navigation : "")
        return HTMLPage(title: "featuremaps: \(total) \(Self.photosWord(total))", body: body, extraStyle: Self.style,
                        refreshSeconds: seconds == nil ? Self.refreshSeconds : nil)
    }

    /// Page `number` (2 or later) of a run's index: the photos among the inputs `inputs` (1-based,
    /// in the order given) that succeeded, how many of those inputs failed, and links to every page.
    /// Written once, when its inputs are all done, so it holds nothing that changes later.
    package static func laterPage(number: Int, of pageCount: Int, inputs: ClosedRange<Int>, found: Int, total: Int,
                                  network: String, photos: [ExploredImage], failed: Int) -> HTMLPage {
        var body = "<h1>Feature maps of \(total) \(photosWord(total)): page \(number) of \(pageCount)</h1>\n"
        body += "<p class=\"meta\">Network: \(HTMLPage.escape(network))<br>\n"
            + "Inputs \(inputs.lowerBound) to \(inputs.upperBound) of the \(found) found, in the order given: "
            + "\(photos.count) done, \(failed) failed. The run's summary and its failures are on "
            + "<a href=\"\(pageName)\">the first page</a>.</p>\n"
        let navigation = Self.navigation(page: number, of: pageCount, written: nil)
        body += navigation + photoSections(photos) + (photos.isEmpty ? "" : navigation)
        return HTMLPage(title: "featuremaps: \(total) \(photosWord(total)), page \(number) of \(pageCount)",
                        body: body, extraStyle: style)
    }

    /// Links to the run's pages, none when there is one: the first two, the last two, and three either
    /// side of `page` (so a run of 10,000 pages does not put 10,000 links on each), with previous and
    /// next. A later page not `written` yet is shown unlinked (nil: all are written).
    package static func navigation(page: Int, of pageCount: Int, written: [Bool]?) -> String {
        guard pageCount > 1 else { return "" }
        func exists(_ number: Int) -> Bool { number == 1 || written.map { $0[number - 2] } ?? true }
        func link(_ number: Int, _ text: String) -> String {
            number == page ? "<span class=\"current\">\(text)</span>"
                : exists(number) ? "<a href=\"\(pageFileName(number))\">\(text)</a>"
                : "<span class=\"later\" title=\"not written yet\">\(text)</span>"
        }
        var parts: [String] = []
        if page > 1 { parts.append(link(page - 1, "&larr; previous")) }
        var last = 0
        for number in 1...pageCount where number <= 2 || number > pageCount - 2 || abs(number - page) <= 3 {
            if number > last + 1 { parts.append("&hellip;") }
            parts.append(link(number, "\(number)"))
            last = number
        }
        if page < pageCount { parts.append(link(page + 1, "next &rarr;")) }
        return "<nav class=\"pages\">Page \(page) of \(pageCount): " + parts.joined(separator: " ") + "</nav>\n"
    }

    /// Each photo's section of an index page: its name linking to its page, its facts, and its
    /// pictures as lazy thumbnails linking to the full-size PNGs.
    package static func photoSections(_ photos: [ExploredImage]) -> String {
        var body = ""
        for photo in photos {
            let folder = photo.input.outputFolder
            body += "<section class=\"photo\">\n<h3><a href=\"\(HTMLPage.relativeURL(folder + "/" + photoPageName))\">"
                + "\(HTMLPage.escape(photo.input.path))</a></h3>\n"
            body += "<p class=\"meta\">\(facts(photo))</p>\n<div class=\"pictures\">\n"
            for picture in photo.pictures {
                let (width, height) = displaySize(picture)
                body += "<figure><a href=\"\(HTMLPage.relativeURL(folder + "/" + picture.name))\">"
                    + "<img loading=\"lazy\" src=\"\(HTMLPage.relativeURL(folder + "/" + picture.thumbnail))\" "
                    + "width=\"\(width)\" height=\"\(height)\" alt=\"\(HTMLPage.escape(caption(picture.name)))\"></a>"
                    + "<figcaption>\(HTMLPage.escape(caption(picture.name))), \(picture.width) x \(picture.height) px"
                    + (picture.thumbnailPart.map { "<br><span class=\"part\">\(HTMLPage.escape($0))</span>" } ?? "") + "</figcaption></figure>\n"
            }
            body += "</div>\n</section>\n"
        }
        return body
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

/// Writes the run's pages as a batch goes: keeps `OUT/index.html` current (at most every
/// `Gallery.refreshSeconds`, so a batch of thousands of photos does not rebuild it thousands of
/// times), writes each later page (`index-2.html`, ...) once, as soon as every input it covers is
/// done, and forgets that page's records; `finish` writes what is left and the final index.
/// Passes every event on to another reporter (the console's).
///
/// So the records held are those of pages with an input still in flight: at most `pageSize`
/// times one more than the images at a time, whatever the length of the batch.
public final class GalleryWriter: BatchReporter, @unchecked Sendable {
    /// The index page's path.
    public let path: String
    private let root: String
    private let next: (any BatchReporter)?
    private let order: [String: Int]
    private let earlierFailures: [ExplorerFailure]
    private let pageSize: Int
    private let found: Int
    private let lock = Lock()
    private var gallery: Gallery
    /// Per page: inputs not reported yet, inputs that failed, and the photos done and not yet on a
    /// written page (input index, record).
    private var remaining: [Int]
    private var failedOnPage: [Int]
    private var pending: [Int: [(index: Int, image: ExploredImage)]] = [:]
    private var heardOfImages = false
    private var lastWrite = -Double.infinity

    /// A writer of `outputRoot/index.html` for a batch of `inputs` under `network` (its summary),
    /// listing `earlierFailures` (inputs that failed before the batch) first, `Gallery.pageSize`
    /// inputs a page.
    public convenience init(outputRoot: String, network: String, inputs: [ExplorerInput], earlierFailures: [ExplorerFailure],
                            forwardingTo next: (any BatchReporter)? = nil) {
        self.init(outputRoot: outputRoot, network: network, inputs: inputs, earlierFailures: earlierFailures,
                  pageSize: Gallery.pageSize, forwardingTo: next)
    }

    /// A writer as above with `pageSize` inputs a page (at least 1).
    public init(outputRoot: String, network: String, inputs: [ExplorerInput], earlierFailures: [ExplorerFailure],
                pageSize: Int, forwardingTo next: (any BatchReporter)? = nil) {
        root = outputRoot.hasSuffix("/") ? String(outputRoot.dropLast()) : outputRoot
        path = (root.isEmpty ? "" : root + "/") + Gallery.pageName
        self.next = next
        self.earlierFailures = earlierFailures
        let pageSize = max(1, pageSize)
        self.pageSize = pageSize
        found = inputs.count
        order = Dictionary(inputs.enumerated().map { ($1.outputFolder, $0) }, uniquingKeysWith: { first, _ in first })
        let pageCount = max(1, (inputs.count + pageSize - 1) / pageSize)
        remaining = (1...pageCount).map { page in max(0, min(inputs.count, page * pageSize) - (page - 1) * pageSize) }
        failedOnPage = Array(repeating: 0, count: pageCount)
        gallery = Gallery(network: network, photos: [], failures: earlierFailures,
                          total: inputs.count + earlierFailures.count, seconds: nil)
        gallery.pageCount = pageCount
        gallery.pagesWritten = Array(repeating: false, count: pageCount - 1)
    }

    /// The pages of the run's index.
    package var pageCount: Int { remaining.count }

    /// Photo records held now (for the tests that memory stays flat over a batch).
    package var recordsHeld: Int { lock.withLock { pending.values.reduce(0) { $0 + $1.count } } }

    public func started(total: Int) {
        lock.withLock { update(force: true) }
        next?.started(total: total)
    }

    public func finished(_ image: ExploredImage, outputFolder: String) {
        lock.withLock {
            heardOfImages = true
            gallery.succeeded += 1
            add(image)
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

    public func failed(_ failure: ExplorerFailure, input: ExplorerInput) {
        lock.withLock {
            gallery.failures.append(failure)
            if let index = order[input.outputFolder] {
                let page = index / pageSize
                failedOnPage[page] += 1
                inputDone(onPage: page)
            }
            update(force: false)
        }
        next?.failed(failure, input: input)
    }

    /// Writes the pages not written yet and then the final index (no reload), with the batch's
    /// counts, failures and time from `summary`. Its `images` are used only when this writer was
    /// not the batch's reporter.
    public func finish(_ summary: BatchSummary) throws(FileWriteError) {
        let (page, laterPageError): (HTMLPage, FileWriteError?) = lock.withLock {
            if !heardOfImages {
                for image in summary.images { add(image) }
            }
            var firstError: FileWriteError?
            for page in 1 ..< pageCount where gallery.pagesWritten?[page - 1] == false {
                do throws(FileWriteError) { try writeLaterPage(page) } catch { firstError = firstError ?? error }
            }
            if gallery.renderedPhotos == nil { renderFirstPage() }
            gallery.failures = earlierFailures + summary.failures
            gallery.succeeded = summary.succeeded
            gallery.seconds = summary.seconds
            gallery.pagesWritten = nil
            return (gallery.page(), firstError)
        }
        // The index links to every page: it is written only once they all are.
        if let laterPageError { throw laterPageError }
        try page.write(toPath: path)
    }

    /// Files `image` under its page (the last page if it is not one of the inputs).
    private func add(_ image: ExploredImage) {
        let index = order[image.input.outputFolder]
        let page = index.map { $0 / pageSize } ?? pageCount - 1
        pending[page, default: []].append((index ?? Int.max, image))
        if index != nil { inputDone(onPage: page) }
    }

    /// One more input of `page` (0-based) is done; when it was the last, the page is made: the
    /// first is rendered for the index's rewrites, a later one written. Its records go either way,
    /// unless the write failed (then `finish` tries again and reports it).
    private func inputDone(onPage page: Int) {
        remaining[page] -= 1
        guard remaining[page] == 0 else { return }
        if page == 0 {
            renderFirstPage()
            update(force: true)
        } else {
            try? writeLaterPage(page)
        }
    }

    private func renderFirstPage() {
        let photos = sortedPending(page: 0)
        gallery.renderedPhotos = (Gallery.photoSections(photos), photos.count)
        pending[0] = nil
    }

    /// Writes page `page` + 1 from its records and drops them.
    private func writeLaterPage(_ page: Int) throws(FileWriteError) {
        let first = page * pageSize + 1
        let html = Gallery.laterPage(number: page + 1, of: pageCount, inputs: first...min(found, first + pageSize - 1),
                                     found: found, total: gallery.total, network: gallery.network, photos: sortedPending(page: page),
                                     failed: failedOnPage[page])
        try html.write(toPath: (root.isEmpty ? "" : root + "/") + Gallery.pageFileName(page + 1))
        pending[page] = nil
        gallery.pagesWritten?[page - 1] = true
    }

    private func sortedPending(page: Int) -> [ExploredImage] {
        (pending[page] ?? []).sorted { $0.index < $1.index }.map(\.image)
    }

    /// Rewrites the running index if forced or `refreshSeconds` have passed. A failed write is
    /// left for `finish` to report: the batch goes on.
    private func update(force: Bool) {
        let now = monotonicSeconds()
        guard force || now - lastWrite >= Double(Gallery.refreshSeconds) else { return }
        lastWrite = now
        if gallery.renderedPhotos == nil { gallery.photos = sortedPending(page: 0) }
        try? gallery.page().write(toPath: path)
        gallery.photos = []
    }
}
