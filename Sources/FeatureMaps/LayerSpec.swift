/// What one layer of an explorer stack convolves with.
///
/// Every layer is conv (valid cross-correlation, no bias) -> ReLU -> 2x2 max pool with stride 2;
/// the spec only chooses the filters.
public enum LayerSpec: Sendable, Equatable, CustomStringConvertible {
    /// The notebook's two 3x3 edge detectors: [[-1,0,1],[-1,0,1],[-1,0,1]] (vertical edges) and
    /// [[1,1,1],[0,0,0],[-1,-1,-1]] (horizontal edges). On a multi-channel input the same 3x3
    /// kernel is used on every channel, so the response is that of the channels' sum.
    case edges
    /// `count` filters of `size` x `size`, as deep as the layer's input, values drawn uniformly
    /// from [0, 1) (the notebook's `numpy.random.rand`).
    case random(count: Int, size: Int)

    /// How many filters (output maps) the layer has.
    public var filterCount: Int {
        switch self {
        case .edges: 2
        case .random(let count, _): count
        }
    }

    /// The side of the square kernel.
    public var kernelSize: Int {
        switch self {
        case .edges: 3
        case .random(_, let size): size
        }
    }

    /// The layer in the stack-spec grammar (`edges` or `COUNTxSIZE`).
    public var description: String {
        switch self {
        case .edges: "edges"
        case .random(let count, let size): "\(count)x\(size)"
        }
    }
}

/// A stack of explorer layers, written in this grammar:
///
///     SPEC  := LAYER ( "," LAYER )*
///     LAYER := "edges"            the two 3x3 edge filters
///            | COUNT "x" SIZE     COUNT random SIZExSIZE filters, uniform in [0, 1)
///
/// for example `edges,3x5,1x7` (the notebook's stack, the default). Spaces around tokens and the
/// case of letters are ignored. Limits keep a typo from asking for hours of work:
/// 1...`maximumLayers` layers, 1...`maximumFilters` filters and sizes 1...`maximumKernelSize`.
public struct StackSpec: Sendable, Equatable, CustomStringConvertible {
    /// The layers, input side first.
    public var layers: [LayerSpec]

    /// The most layers a spec may have.
    public static let maximumLayers = 8
    /// The most filters one layer may have.
    public static let maximumFilters = 64
    /// The largest kernel side.
    public static let maximumKernelSize = 63

    /// The notebook's stack: `edges,3x5,1x7`.
    public static let notebook = StackSpec(layers: [.edges, .random(count: 3, size: 5), .random(count: 1, size: 7)])

    /// A stack of the given layers (which must be within the limits; `init(parsing:)` checks
    /// user text).
    public init(layers: [LayerSpec]) {
        self.layers = layers
    }

    /// Parses the stack-spec grammar; the error says which layer is wrong and why.
    public init(parsing text: String) throws(LayerSpecError) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        if text.allSatisfy(\.isWhitespace) {
            throw LayerSpecError(spec: text, reason: "the spec is empty; write layers like 'edges,3x5,1x7'")
        }
        if parts.count > Self.maximumLayers {
            throw LayerSpecError(spec: text, reason: "\(parts.count) layers; at most \(Self.maximumLayers) are allowed")
        }
        var layers: [LayerSpec] = []
        for (index, rawPart) in parts.enumerated() {
            layers.append(try Self.parseLayer(String(rawPart), number: index + 1, spec: text))
        }
        self.layers = layers
    }

    private static func parseLayer(_ raw: String, number: Int, spec: String) throws(LayerSpecError) -> LayerSpec {
        let token = raw.trimmingWhitespace().lowercased()
        func failure(_ reason: String) -> LayerSpecError {
            LayerSpecError(spec: spec, reason: "layer \(number) '\(token)': \(reason)")
        }
        if token.isEmpty {
            throw LayerSpecError(spec: spec, reason: "layer \(number) is empty (two commas in a row, or a comma at an end?)")
        }
        if token == "edges" { return .edges }
        let fields = token.split(separator: "x", omittingEmptySubsequences: false)
        guard fields.count == 2 else {
            throw failure("expected 'edges' or COUNTxSIZE such as 3x5 (3 random 5x5 filters)")
        }
        guard let count = Int(fields[0].trimmingWhitespace()), let size = Int(fields[1].trimmingWhitespace()) else {
            throw failure("COUNT and SIZE must be whole numbers, as in 3x5 (3 random 5x5 filters)")
        }
        guard (1...maximumFilters).contains(count) else {
            throw failure("the filter count must be 1...\(maximumFilters)")
        }
        guard (1...maximumKernelSize).contains(size) else {
            throw failure("the filter size must be 1...\(maximumKernelSize)")
        }
        return .random(count: count, size: size)
    }

    /// The spec in the stack-spec grammar; parsing it gives this stack back.
    public var description: String {
        layers.map(\.description).joined(separator: ",")
    }

    /// The smallest width (and height) an input may have so that every map of every layer has at
    /// least one pixel. Worked backwards from the last layer: a pool needs 2m inputs to give m
    /// outputs, a kxk valid conv needs m + k - 1 to give m.
    public var minimumInputSide: Int {
        var side = 1
        for layer in layers.reversed() {
            side = 2 * side + layer.kernelSize - 1
        }
        return side
    }
}

/// A stack spec that does not parse: the text and what is wrong with it.
public struct LayerSpecError: Error, Equatable, CustomStringConvertible {
    /// The text as the user gave it.
    public var spec: String
    /// What is wrong with it.
    public var reason: String

    /// `invalid layer spec 'SPEC': REASON`.
    public var description: String { "invalid layer spec '\(spec)': \(reason)" }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
