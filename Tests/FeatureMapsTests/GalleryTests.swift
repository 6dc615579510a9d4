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
