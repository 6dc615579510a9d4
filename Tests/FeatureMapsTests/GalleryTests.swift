import Foundation
import Testing
import FeatureMaps
import ImageIO

/// The `href` and `src` attribute values of `html`, in order.
private func links(in html: String) -> [String] {
    var found: [String] = []
    for attribute in ["href=\"", "src=\""] {
        var rest = html[...]
        while let start = rest.range(of: attribute) {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            found.append(String(rest[..<end]))
            rest = rest[end...]
        }
    }
    return found
}

/// The file a relative link on the page at `page` points to (percent-decoded, resolved).
private func target(of link: String, onPageAt page: String) -> String {
    let folder = (page as NSString).deletingLastPathComponent
    let decoded = link.removingPercentEncoding ?? link
    return ((folder + "/" + decoded) as NSString).standardizingPath
}

@Suite("the explorer's HTML pages")
struct GalleryTests {
    /// A batch with awkward file names, a broken file, a too-small image and a missing path:
    /// the index lists every photo and failure, and every link of every page reaches a file.
    @Test func theIndexListsEveryPhotoAndFailureAndEveryLinkResolves() throws {
        let source = try TestSupport.temporaryFolder()
        let out = try TestSupport.temporaryFolder() + "/out"
        let awkward = "odd <b> & \"q\" 'x' #1 ?%.png"
        try FileManager.default.createDirectory(atPath: source + "/trip 2", withIntermediateDirectories: true)
        try writeTestPhoto(source + "/" + awkward, width: 50, height: 44)
        try writeTestPhoto(source + "/plain.png", width: 600, height: 100)
        try writeTestPhoto(source + "/trip 2/café.png", width: 61, height: 47)
        try writeTestPhoto(source + "/tiny <i>.png", width: 41, height: 80)
        try "hello".write(toFile: source + "/text.jpg", atomically: true, encoding: .utf8)

        let (inputs, early) = InputDiscovery.collect([source, source + "/missing & gone.png"], excluding: out)
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1),
                                options: ExplorerOptions(outputRoot: out, threads: 2))
        try explorer.prepareOutputRoot()
        let writer = GalleryWriter(outputRoot: out, network: explorer.network.summary, inputs: inputs, earlierFailures: early)
        let summary = explorer.run(inputs, reporter: writer)
        try writer.finish(summary)
        #expect(summary.succeeded == 3 && summary.failures.count == 2 && early.count == 1)

        let index = out + "/index.html"
        let html = try String(contentsOfFile: index, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("<script") && !html.contains("http-equiv=\"refresh\""))
        // Every photo, in input order, its name escaped (never raw).
        let listed = ["odd &lt;b&gt; &amp; &quot;q&quot; &#39;x&#39; #1 ?%.png", "plain.png", "trip 2/café.png"]
        let positions = listed.map { html.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(listed)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(!html.contains("<b> &") && !html.contains("<i>"))
        // Every failure with the console's one-line text (path: reason), escaped.
        for failure in early + summary.failures {
            #expect(html.contains(HTMLPage.escape(failure.description)), "\(failure)")
        }
        #expect(html.contains("missing &amp; gone.png: No such file or directory"))
        #expect(html.contains("tiny &lt;i&gt;.png: the image is 41x80 pixels"))
        #expect(html.contains("3 done, 3 failed in "))

        // Each photo: its input and three grids, as lazy thumbnails linking to the full pictures.
        let images = html.components(separatedBy: "<img ").dropFirst()
        #expect(images.count == 3 * 4)
        #expect(images.allSatisfy { $0.hasPrefix("loading=\"lazy\"") })
        for photo in summary.images {
            #expect(photo.pictures.map(\.name) == ["in_img.png", "L1.png", "L2.png", "L3.png"])
            for picture in photo.pictures {
                let thumbnail = try readImage(atPath: out + "/" + photo.input.outputFolder + "/" + picture.thumbnail)
                #expect((thumbnail.width, thumbnail.height) == (picture.thumbnailWidth, picture.thumbnailHeight))
                #expect(thumbnail.width <= 480 && thumbnail.height <= 480)
                let full = try readImage(atPath: out + "/" + photo.input.outputFolder + "/" + picture.name)
                #expect((full.width, full.height) == (picture.width, picture.height))
                #expect(html.contains("\(picture.width) x \(picture.height) px"))
            }
            #expect(photo.seconds > 0)
        }
        // A 600x100 input is wider than 480: it has a thumbnail of its own.
        #expect(summary.images[1].pictures[0].thumbnail == "in_img.thumb.png")

        // Every link of the index and of each photo's page reaches an existing file.
        var pages = [index]
        for photo in summary.images { pages.append(out + "/" + photo.input.outputFolder + "/index.html") }
        var checked = 0
        for page in pages {
            let text = try String(contentsOfFile: page, encoding: .utf8)
            let pageLinks = links(in: text)
            #expect(!pageLinks.isEmpty)
            for link in pageLinks {
                if link.hasPrefix("#") {  // a heading on the same page
                    #expect(text.contains("id=\"\(link.dropFirst())\""), "\(page): \(link)")
                    continue
                }
                #expect(!link.contains(" ") && !link.contains("#") && !link.contains("&") && !link.hasPrefix("/"), "\(link)")
                let file = target(of: link, onPageAt: page)
                #expect(FileManager.default.fileExists(atPath: file), "\(page): \(link) -> \(file)")
                checked += 1
            }
        }
        #expect(checked > 3 * 8)
        // A photo page shows every picture at full size and links back to the index.
        let photoPage = try String(contentsOfFile: pages[3], encoding: .utf8)
        #expect(photoPage.contains("href=\"../../index.html\""))
        for picture in summary.images[2].pictures {
            #expect(photoPage.contains("width=\"\(picture.width)\" height=\"\(picture.height)\""))
        }
    }

    /// A wrapped grid (blocks stacked per stage) would shrink to a narrow strip in the thumbnail
    /// box: its thumbnail is the first block alone, and the index says so; other pictures are whole.
    @Test func aWrappedGridsThumbnailIsItsFirstStageAndThePageSaysSo() throws {
        let source = try TestSupport.temporaryFolder()
        let out = try TestSupport.temporaryFolder() + "/out"
        try writeTestPhoto(source + "/p.png", width: 64, height: 48)
        let (inputs, _) = InputDiscovery.collect([source + "/p.png"], excluding: out)
        // Width 1: every layer of more than one map wraps (L1: 2 maps, L2: 3); L3's single map does not.
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1),
                                options: ExplorerOptions(outputRoot: out, threads: 1, maxGridWidth: 1))
        try explorer.prepareOutputRoot()
        let writer = GalleryWriter(outputRoot: out, network: explorer.network.summary, inputs: inputs, earlierFailures: [])
        let summary = explorer.run(inputs, reporter: writer)
        try writer.finish(summary)
        let photo = try #require(summary.images.first)
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(photo.pictures.map(\.thumbnailPart) == [nil, "first stage shown: L1 conv (2 maps)", "first stage shown: L2 conv (3 maps)", nil])
        #expect(html.contains("first stage shown: L1 conv (2 maps)") && html.contains("first stage shown: L2 conv (3 maps)"))
        for picture in photo.pictures where picture.thumbnailPart != nil {
            let full = try readImage(atPath: out + "/p/" + picture.name)
            let thumbnail = try readImage(atPath: out + "/p/" + picture.thumbnail)
            #expect(picture.thumbnail != picture.name && (thumbnail.width, thumbnail.height) == (picture.thumbnailWidth, picture.thumbnailHeight))
            // The first of three stacked blocks: a third of the figure's height or less, the whole width.
            let shownHeight = Double(thumbnail.height) * Double(full.width) / Double(thumbnail.width)
            #expect(shownHeight < Double(full.height) / 2.5, "\(picture.name): \(shownHeight) of \(full.height)")
        }
    }

    /// While a batch runs the page says so and reloads; a finished one does not.
    @Test func aRunningPageReloadsAndAFinishedOneDoesNot() {
        let running = Gallery(network: "edges", photos: [], failures: [], total: 4, seconds: nil).page().render()
        #expect(running.contains("http-equiv=\"refresh\" content=\"\(Gallery.refreshSeconds)\""))
        #expect(running.contains("0 done, 0 failed of 4 so far"))
        let failure = ExplorerFailure(path: "a<b>.png", reason: "corrupt & short")
        let done = Gallery(network: "edges", photos: [], failures: [failure], total: 1, seconds: 0.5).page().render()
        #expect(!done.contains("refresh") && done.contains("a&lt;b&gt;.png: corrupt &amp; short"))
    }

    /// Thumbnails fit 480 x 480 with the picture's aspect; small pictures are their own thumbnail.
    @Test func thumbnailSizes() {
        #expect(Explorer.thumbnailSize(width: 451, height: 300) == (451, 300))
        #expect(Explorer.thumbnailSize(width: 934, height: 1008) == (445, 480))
        #expect(Explorer.thumbnailSize(width: 4000, height: 100) == (480, 12))
        #expect(Explorer.thumbnailSize(width: 100, height: 40_000) == (1, 480))
    }
}

/// The index split into pages, and what the gallery holds while a long batch runs.
@Suite("the explorer's paged index")
struct PagedGalleryTests {
    /// A record as the explorer makes one, for input `index` (its files are not on disk).
    private func record(_ index: Int) -> (ExplorerInput, ExploredImage) {
        let input = ExplorerInput(path: "in/p\(index).png", outputFolder: "p\(index)")
        let picture = ExploredFile(name: "in_img.png", width: 50, height: 40, thumbnail: "in_img.png",
                                   thumbnailWidth: 50, thumbnailHeight: 40)
        return (input, ExploredImage(input: input, pictures: [picture], written: [], seconds: 0.01, topClasses: []))
    }

    /// A real batch of 5 photos, one broken file and one missing path, 2 inputs a page: three
    /// pages, each listing its own photos in input order, the totals on the first, every link of
    /// every page reaching a file, and nothing kept in the summary.
    @Test func aBatchIsSplitIntoLinkedPagesWithTheTotalsOnTheFirst() throws {
        let source = try TestSupport.temporaryFolder()
        let out = try TestSupport.temporaryFolder() + "/out"
        for index in 0 ..< 5 { try writeTestPhoto(source + "/p\(index).png", width: 50 + index, height: 44) }
        try "not a picture".write(toFile: source + "/p2b.png", atomically: true, encoding: .utf8)
        let (inputs, early) = InputDiscovery.collect([source, source + "/gone.png"], excluding: out)
        #expect(inputs.map(\.outputFolder) == ["p0", "p1", "p2", "p2b", "p3", "p4"])
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1),
                                options: ExplorerOptions(outputRoot: out, threads: 2))
        try explorer.prepareOutputRoot()
        let writer = GalleryWriter(outputRoot: out, network: explorer.network.summary, inputs: inputs,
                                   earlierFailures: early, pageSize: 2)
        let summary = explorer.run(inputs, reporter: writer, keepingImages: false)
        try writer.finish(summary)
        #expect(summary.images.isEmpty && summary.succeeded == 5 && summary.failures.count == 1)
        #expect(writer.pageCount == 3 && writer.recordsHeld == 0)

        let pages = ["index.html", "index-2.html", "index-3.html"]
        #expect(!FileManager.default.fileExists(atPath: out + "/index-4.html"))
        let texts = try pages.map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8) }
        // Each photo on exactly one page: inputs 1-2 on the first, 3-4 (p2b failed) on the second, 5-6 on the third.
        let expected = [["p0", "p1"], ["p2"], ["p3", "p4"]]
        for (page, text) in texts.enumerated() {
            let listed = (0 ..< 5).map { "p\($0)" }.filter { text.contains("href=\"\($0)/index.html\"") }
            #expect(listed == expected[page], "\(pages[page])")
            #expect(text.hasPrefix("<!DOCTYPE html>") && text.hasSuffix("</html>\n") && !text.contains("refresh"))
            #expect(text.contains("Page \(page + 1) of 3:"))
            for (other, name) in pages.enumerated() where other != page {
                #expect(text.contains("href=\"\(name)\""), "\(pages[page]) does not link to \(name)")
            }
        }
        // The totals and every failure on the first page; each later page says what its own inputs gave.
        #expect(texts[0].contains("Feature maps of 7 photos") && texts[0].contains("5 done, 2 failed in "))
        #expect(texts[0].contains("gone.png: No such file or directory") && texts[0].contains("p2b.png: not a PNG or JPEG"))
        #expect(texts[1].contains("Inputs 3 to 4 of the 6 found, in the order given: 1 done, 1 failed."))
        #expect(texts[2].contains("Inputs 5 to 6 of the 6 found, in the order given: 2 done, 0 failed."))
        for (page, text) in texts.enumerated() {
            for link in links(in: text) {
                let file = target(of: link, onPageAt: out + "/" + pages[page])
                #expect(FileManager.default.fileExists(atPath: file), "\(pages[page]): \(link) -> \(file)")
            }
        }
    }

    /// 1,000 inputs, every seventh failing, 10 a page: in order, the writer never holds more than a
    /// page of records; with one input held back to the end (a slow photo), no more than two pages'.
    /// Every page is written, and the first page's totals count every photo.
    @Test(arguments: [false, true]) func theRecordsHeldStayBelowAPageOrTwo(straggler: Bool) throws {
        let out = try TestSupport.temporaryFolder() + "/out\(straggler)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let count = 1_000, pageSize = 10
        let records = (0 ..< count).map(record)
        let writer = GalleryWriter(outputRoot: out, network: "edges", inputs: records.map(\.0), earlierFailures: [],
                                   pageSize: pageSize)
        writer.started(total: count)
        var order = Array(0 ..< count)
        if straggler { order.append(order.remove(at: 13)) }
        var failures: [ExplorerFailure] = []
        var most = 0
        for index in order {
            if index % 7 == 3 {
                let failure = ExplorerFailure(path: records[index].0.path, reason: "broken")
                failures.append(failure)
                writer.failed(failure, input: records[index].0)
            } else {
                writer.finished(records[index].1, outputFolder: out + "/p\(index)")
            }
            most = max(most, writer.recordsHeld)
        }
        #expect(most <= (straggler ? 2 : 1) * pageSize && most > 0, "held up to \(most) records")
        #expect(writer.recordsHeld == 0)
        try writer.finish(BatchSummary(total: count, succeeded: count - failures.count, failures: failures, seconds: 2))
        let first = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(first.contains("Feature maps of 1000 photos") && first.contains("857 done, 143 failed in 2.000 s"))
        #expect(first.contains("<a href=\"index-100.html\">100</a>") && !first.contains("index-50.html"))
        for page in 2 ... 100 {
            let text = try String(contentsOfFile: out + "/index-\(page).html", encoding: .utf8)
            let inputs = (page - 1) * pageSize ..< page * pageSize
            let done = inputs.filter { $0 % 7 != 3 }
            #expect(text.contains("Inputs \(inputs.lowerBound + 1) to \(inputs.upperBound) of the 1000 found, in the order given: "
                + "\(done.count) done, \(pageSize - done.count) failed."), "index-\(page).html")
            #expect(done.allSatisfy { text.contains("href=\"p\($0)/index.html\"") }, "index-\(page).html")
            #expect(text.components(separatedBy: "<section class=\"photo\">").count - 1 == done.count)
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/index-101.html"))
    }

    /// The links between pages: all of a short run's, the ends and neighbours of a long run's, and
    /// on the running index only the pages already written.
    @Test func pageLinks() {
        #expect(Gallery.navigation(page: 1, of: 1, written: nil) == "")
        let short = Gallery.navigation(page: 2, of: 3, written: nil)
        #expect(short.contains("<a href=\"index.html\">1</a>") && short.contains("<span class=\"current\">2</span>")
                && short.contains("<a href=\"index-3.html\">3</a>") && short.contains("<a href=\"index-3.html\">next &rarr;</a>"))
        let long = Gallery.navigation(page: 50, of: 100, written: nil)
        let numbers = long.matches(of: #/>(\d+)</#).map { Int($0.1)! }
        #expect(numbers == [1, 2, 47, 48, 49, 50, 51, 52, 53, 99, 100])
        #expect(long.components(separatedBy: "&hellip;").count == 3)
        let running = Gallery.navigation(page: 1, of: 4, written: [true, false, false])
        #expect(running.contains("<a href=\"index-2.html\">2</a>") && !running.contains("index-3.html")
                && running.contains("<span class=\"later\" title=\"not written yet\">3</span>"))
    }
}
