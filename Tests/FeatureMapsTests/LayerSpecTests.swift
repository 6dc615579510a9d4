import Testing
import FeatureMaps

@Suite("--layers grammar")
struct LayerSpecTests {
    @Test func parsesTheNotebookStack() throws {
        let spec = try StackSpec(parsing: "edges,3x5,1x7")
        #expect(spec == StackSpec.notebook)
        #expect(spec.layers == [.edges, .random(count: 3, size: 5), .random(count: 1, size: 7)])
        #expect(spec.description == "edges,3x5,1x7")
    }

    @Test func ignoresSpacesAndCase() throws {
        let spec = try StackSpec(parsing: " EDGES , 4X3,2 x 9 ")
        #expect(spec.layers == [.edges, .random(count: 4, size: 3), .random(count: 2, size: 9)])
    }

    @Test func edgesMayAppearAnywhere() throws {
        let spec = try StackSpec(parsing: "2x3,edges")
        #expect(spec.layers == [.random(count: 2, size: 3), .edges])
        #expect(spec.layers.map(\.filterCount) == [2, 2])
        #expect(spec.layers.map(\.kernelSize) == [3, 3])
    }

    @Test(arguments: [
        ("", "empty"),
        ("   ", "empty"),
        ("edges,,1x7", "layer 2 is empty"),
        ("edges,", "layer 2 is empty"),
        ("edge", "layer 1 'edge'"),
        ("3x", "whole numbers"),
        ("x5", "whole numbers"),
        ("3x5x7", "expected 'edges' or COUNTxSIZE"),
        ("0x5", "filter count must be 1...64"),
        ("65x3", "filter count must be 1...64"),
        ("3x0", "filter size must be 1...63"),
        ("1x64", "filter size must be 1...63"),
        ("-1x3", "filter count"),
        ("1x1,1x1,1x1,1x1,1x1,1x1,1x1,1x1,1x1", "at most 8"),
    ])
    func rejectsBadSpecs(text: String, expected: String) {
        do {
            let spec = try StackSpec(parsing: text)
            Issue.record("'\(text)' parsed as \(spec)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix("invalid layer spec '\(text)'"))
        }
    }

    @Test func minimumInputSide() throws {
        // Worked by hand from the last layer: 1 pooled pixel needs 2 -> +6 for the 7x7 = 8;
        // 8 pooled need 16 -> +4 = 20; 20 pooled need 40 -> +2 = 42.
        #expect(StackSpec.notebook.minimumInputSide == 42)
        #expect(try StackSpec(parsing: "edges").minimumInputSide == 4)
        #expect(try StackSpec(parsing: "1x1").minimumInputSide == 2)
        #expect(try StackSpec(parsing: "2x4,1x2").minimumInputSide == 2 * (2 * 1 + 1) + 3)
    }
}
