import Foundation
import Testing
import ImageIO

@Suite struct HTMLPageTests {
    @Test func escapingRemovesEveryMarkupCharacter() {
        let escaped = HTMLPage.escape(#"<img src="x" onerror='a&b'>"#)
        #expect(escaped == "&lt;img src=&quot;x&quot; onerror=&#39;a&amp;b&#39;&gt;")
        #expect(HTMLPage.escape("chelsea é.png") == "chelsea é.png")
    }

    @Test func relativeURLsPercentEncodeFileNames() {
        #expect(HTMLPage.relativeURL("my photos/cat #1.png") == "my%20photos/cat%20%231.png")
        #expect(HTMLPage.relativeURL("chelsea/L1.png") == "chelsea/L1.png")
        #expect(HTMLPage.relativeURL("é") == "%C3%A9")
    }

    @Test func aPageIsOneDocumentWithItsTitleEscapedAndNoExternalAssets() throws {
        let page = HTMLPage(title: "a < b", body: "<p>hi</p>", refreshSeconds: 10)
        let text = page.render()
        #expect(text.hasPrefix("<!DOCTYPE html>"))
        #expect(text.contains("<title>a &lt; b</title>"))
        #expect(text.contains("http-equiv=\"refresh\" content=\"10\""))
        #expect(!text.contains("http://") && !text.contains("https://"))
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("index.html").path
        try page.write(toPath: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }
}
