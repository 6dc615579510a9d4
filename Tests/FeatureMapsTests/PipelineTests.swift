import Foundation
import Testing
import FeatureMaps
import ImageIO
import Kernels

@Suite("conv -> ReLU -> pool stacks")
struct PipelineTests {
    /// A 4x4 image through the notebook's edge layer, every value worked out by hand:
    ///   1 2 0 1
    ///   3 0 1 2        vertical [[-1,0,1]x3]: right column minus left column over 3 rows
    ///   0 1 4 0        horizontal [[1,1,1],[0,0,0],[-1,-1,-1]]: top row minus bottom row
    ///   2 2 0 3
    @Test func handComputedEdgeLayer() {
        let input = Tensor(shape: [1, 1, 4, 4], storage: [1, 2, 0, 1, 3, 0, 1, 2, 0, 1, 4, 0, 2, 2, 0, 3])
        let stack = FeatureMapStack(spec: StackSpec(layers: [.edges]), inputChannels: 1, seed: 1)
        let maps = stack.layerMaps(for: input)
        #expect(maps.count == 1)
        let layer = maps[0]
        // vertical: (0-1)+(1-3)+(4-0)=1, (1-2)+(2-0)+(0-1)=0, (1-3)+(4-0)+(0-2)=0, (2-0)+(0-1)+(3-2)=2
        // horizontal: (1+2+0)-(0+1+4)=-2, (2+0+1)-(1+4+0)=-2, (3+0+1)-(2+2+0)=0, (0+1+2)-(2+0+3)=-2
        #expect(layer.conv.shape == [1, 2, 2, 2])
        #expect(layer.conv.storage == [1, 0, 0, 2, -2, -2, 0, -2])
        #expect(layer.relu.storage == [1, 0, 0, 2, 0, 0, 0, 0])
        #expect(layer.pool.shape == [1, 2, 1, 1])
        #expect(layer.pool.storage == [2, 0])
        #expect(layer.filters.shape == [2, 1, 3, 3])
        #expect(layer.filters.storage == [-1, 0, 1, -1, 0, 1, -1, 0, 1, 1, 1, 1, 0, 0, 0, -1, -1, -1])
    }

    /// Pooling by hand: a 5x3 map pools to 2x1 (odd rows and columns are dropped, floor((H-2)/2)+1).
    @Test func handComputedPoolOnOddSizes() {
        // A 1x1 filter of weight 1 passes the image through, so the pool sees it unchanged.
        let identity = Tensor(shape: [1, 1, 1, 1], storage: [1])
        let stack = FeatureMapStack(filters: [identity], inputChannels: 1)
        let input = Tensor(shape: [1, 1, 5, 3], storage: [
            -5, 3, 9,
             4, -1, 9,
             0, -2, 9,
            -3, -4, 9,
             7, 7, 7,
        ])
        let layer = stack.layerMaps(for: input)[0]
        #expect(layer.relu.storage == [0, 3, 9, 4, 0, 9, 0, 0, 9, 0, 0, 9, 7, 7, 7])
        #expect(layer.pool.shape == [1, 1, 2, 1])
        #expect(layer.pool.storage == [4, 0])
    }

    /// Two layers on a 2-channel input against plain loops written here (channel sums, odd sizes).
    @Test func twoLayersMatchNaiveLoops() {
        var rng = SeededGenerator(seed: 99)
        let input = Tensor.uniform(shape: [1, 2, 13, 11], in: -1..<1, using: &rng)
        let w1 = Tensor.uniform(shape: [3, 2, 3, 3], in: -1..<1, using: &rng)
        let w2 = Tensor.uniform(shape: [2, 3, 2, 2], in: -1..<1, using: &rng)
        let stack = FeatureMapStack(filters: [w1, w2], inputChannels: 2)
        let maps = stack.layerMaps(for: input)

        func naiveConv(_ x: [[[Float]]], _ w: Tensor) -> [[[Float]]] {
            let k = w.shape[2], c = x.count, h = x[0].count - k + 1, wd = x[0][0].count - k + 1
            var out = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: wd), count: h), count: w.shape[0])
            for f in 0..<w.shape[0] {
                for y in 0..<h {
                    for xx in 0..<wd {
                        var sum: Double = 0
                        for ch in 0..<c {
                            for a in 0..<k {
                                for b in 0..<k {
                                    let pixel = Double(x[ch][y + a][xx + b])
                                    let tap = Double(w[f, ch, a, b])
                                    sum += pixel * tap
                                }
                            }
                        }
                        out[f][y][xx] = Float(sum)
                    }
                }
            }
            return out
        }
        func naivePool(_ x: [[[Float]]]) -> [[[Float]]] {
            x.map { (plane: [[Float]]) -> [[Float]] in
                let h = plane.count / 2, w = plane[0].count / 2
                var pooled = [[Float]](repeating: [Float](repeating: 0, count: w), count: h)
                for y in 0..<h {
                    for xx in 0..<w {
                        let top = max(plane[2 * y][2 * xx], plane[2 * y][2 * xx + 1])
                        let bottom = max(plane[2 * y + 1][2 * xx], plane[2 * y + 1][2 * xx + 1])
                        pooled[y][xx] = max(top, bottom)
                    }
                }
                return pooled
            }
        }
        func planes(_ t: Tensor) -> [[[Float]]] {
            (0..<t.shape[1]).map { c in (0..<t.shape[2]).map { y in (0..<t.shape[3]).map { x in t[0, c, y, x] } } }
        }
        var x = planes(input)
        for (layer, weight) in zip(maps, [w1, w2]) {
            let conv = naiveConv(x, weight)
            let relu = conv.map { $0.map { $0.map { max($0, 0) } } }
            let pool = naivePool(relu)
            for (got, want) in [(layer.conv, conv), (layer.relu, relu), (layer.pool, pool)] {
                #expect(got.shape == [1, want.count, want[0].count, want[0][0].count])
                let flat = want.flatMap { $0.flatMap { $0 } }
                for (a, b) in zip(got.storage, flat) { #expect(abs(a - b) <= 1e-5) }
            }
            x = pool
        }
        #expect(maps[0].pool.shape == [1, 3, 5, 4])   // 13x11 -> conv 11x9 -> pool 5x4
        #expect(maps[1].pool.shape == [1, 2, 2, 1])   // 5x4 -> conv 4x3 -> pool 2x1
    }

    @Test func randomFiltersAreSeededUniformAndShaped() {
        let a = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 7)
        let b = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 7)
        let c = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 8)
        #expect(a.filters.map(\.shape) == [[2, 1, 3, 3], [3, 2, 5, 5], [1, 3, 7, 7]])
        #expect(a.filters == b.filters)
        #expect(a.filters[1] != c.filters[1])
        for weight in a.filters.dropFirst() {
            #expect(weight.storage.allSatisfy { $0 >= 0 && $0 < 1 })
        }
        let color = FeatureMapStack(spec: .notebook, inputChannels: 3, seed: 7)
        #expect(color.filters.map(\.shape) == [[2, 3, 3, 3], [3, 2, 5, 5], [1, 3, 7, 7]])
        #expect(color.minimumInputSide == 42)
    }
}

/// The layer-1 maps of chelsea against NumPy (Fixtures/make_chelsea_fixture.py: Pillow decode,
/// float64 shifted-slice correlation).
@Suite("chelsea layer 1 against NumPy")
struct ChelseaFixtureTests {
    struct MapFixture: Decodable {
        var height: Int
        var width: Int
        var sum: Double
        var abs_sum: Double
        var min: Double
        var max: Double
        var samples: [[Double]]
    }
    struct LayerFixture: Decodable {
        var conv: [MapFixture]
        var relu: [MapFixture]
        var pool: [MapFixture]
    }
    struct Fixture: Decodable {
        var height: Int
        var width: Int
        var gray: MapFixture
        var gray_layer1: LayerFixture
        var color_layer1: LayerFixture
    }

    static func check(_ maps: Tensor, against expected: [MapFixture], _ what: String) {
        #expect(maps.shape[1] == expected.count, "\(what): map count")
        for (index, want) in expected.enumerated() {
            #expect(maps.shape[2] == want.height && maps.shape[3] == want.width, "\(what) map \(index + 1) shape \(maps.shape)")
            guard maps.shape[2] == want.height && maps.shape[3] == want.width else { continue }
            let plane = Array(maps.storage[(index * want.height * want.width)..<((index + 1) * want.height * want.width)])
            let sum = plane.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - want.sum) <= 1e-5 * want.abs_sum + 1e-3, "\(what) map \(index + 1): sum \(sum) vs \(want.sum)")
            #expect(abs(Double(plane.min()!) - want.min) <= 1e-5, "\(what) map \(index + 1) min")
            #expect(abs(Double(plane.max()!) - want.max) <= 1e-5, "\(what) map \(index + 1) max")
            for sample in want.samples {
                let (y, x, value) = (Int(sample[0]), Int(sample[1]), sample[2])
                let got = Double(plane[y * want.width + x])
                #expect(abs(got - value) <= 1e-5, "\(what) map \(index + 1) at (\(y), \(x)): \(got) vs \(value)")
            }
        }
    }

    func run(channels: Int) throws -> (Fixture, [LayerMaps], Tensor) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: TestSupport.fixture("chelsea_layer1.json"))
        let image = try readImage(atPath: TestSupport.chelseaPath, options: ImageReadOptions())
        #expect(image.width == fixture.width && image.height == fixture.height)
        let storage = channels == 1 ? image.grayscale() : image.planarFloats()
        let input = Tensor(shape: [1, channels, image.height, image.width], storage: storage)
        let stack = FeatureMapStack(spec: StackSpec(layers: [.edges]), inputChannels: channels, seed: 1)
        return (fixture, stack.layerMaps(for: input), input)
    }

    @Test func grayscaleLayerOne() throws {
        let (fixture, maps, input) = try run(channels: 1)
        Self.check(input, against: [fixture.gray], "gray input")
        Self.check(maps[0].conv, against: fixture.gray_layer1.conv, "conv")
        Self.check(maps[0].relu, against: fixture.gray_layer1.relu, "relu")
        Self.check(maps[0].pool, against: fixture.gray_layer1.pool, "pool")
    }

    @Test func colorLayerOne() throws {
        let (fixture, maps, _) = try run(channels: 3)
        Self.check(maps[0].conv, against: fixture.color_layer1.conv, "color conv")
        Self.check(maps[0].relu, against: fixture.color_layer1.relu, "color relu")
        Self.check(maps[0].pool, against: fixture.color_layer1.pool, "color pool")
    }
}
