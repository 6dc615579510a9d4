import Foundation
import Testing

/// Every library's "Getting started" article shows code that a test runs: each ```swift block of
/// Sources/<Library>/<Library>.docc/GettingStarted.md must appear, line for line (indentation
/// aside), in Tests/<Library>Tests/GettingStartedTests.swift, so an article cannot show code that
/// no longer compiles or no longer does what it says.
@Suite struct DocumentationExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let libraries = ["Kernels", "ImageIO", "FeatureMaps", "Training", "TrainedMaps"]

    /// The non-empty lines of `text`, without their leading and trailing blanks.
    static func lines(_ text: some StringProtocol) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// The ```swift blocks of a Markdown text.
    static func swiftBlocks(_ markdown: String) -> [[String]] {
        var blocks: [[String]] = [], current: [String]? = nil
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed == "```swift" {
                current = []
            } else if current != nil, trimmed == "```" {
                blocks.append(lines(current!.joined(separator: "\n")))
                current = nil
            } else if current != nil {
                current!.append(String(line))
            }
        }
        return blocks
    }

    @Test(arguments: libraries)
    func articleCodeIsTestedCode(library: String) throws {
        let article = Self.root.appendingPathComponent("Sources/\(library)/\(library).docc/GettingStarted.md")
        let test = Self.root.appendingPathComponent("Tests/\(library)Tests/GettingStartedTests.swift")
        let blocks = Self.swiftBlocks(try String(contentsOf: article, encoding: .utf8))
        let tested = Self.lines(try String(contentsOf: test, encoding: .utf8))
        #expect(!blocks.isEmpty, "\(article.path) has no ```swift block")
        for block in blocks {
            // Import lines may be spread over the test file's header; the rest must be contiguous.
            let imports = block.filter { $0.hasPrefix("import ") }
            let code = block.filter { !$0.hasPrefix("import ") }
            for line in imports { #expect(tested.contains(line), "\(test.lastPathComponent) lacks \(line)") }
            let found = code.isEmpty || (0 ... max(0, tested.count - code.count)).contains { start in
                Array(tested[start ..< min(tested.count, start + code.count)]) == code
            }
            #expect(found, "\(library)'s GettingStarted.md shows code not in \(test.path):\n\(code.joined(separator: "\n"))")
        }
    }

    /// The check itself finds a changed line.
    @Test func aChangedLineIsFound() {
        let blocks = Self.swiftBlocks("text\n```swift\nlet a = 1\n  let b = 2\n```\n")
        #expect(blocks == [["let a = 1", "let b = 2"]])
    }
}
