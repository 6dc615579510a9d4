import Testing
import Training

@Suite struct ModelSpecTests {
    @Test func parsesTheGrammarAndInsertsFlatten() throws {
        let spec = try ModelSpec.parse("c32k3p1,bn,relu,mp2,c8k3s2p1nb,gelu,ap2,fc10")
        #expect(spec.layers == [
            .conv(out: 32, kernel: 3, stride: 1, padding: 1, bias: true), .batchNorm, .relu, .maxPool(kernel: 2, stride: 2),
            .conv(out: 8, kernel: 3, stride: 2, padding: 1, bias: false), .gelu, .avgPool(kernel: 2, stride: 2),
            .flatten, .linear(out: 10),
        ])
        // 32 -> pool 16 -> stride-2 conv 8 -> pool 4: 8*4*4 = 128 features into fc10.
        #expect(try spec.outputShape(input: [3, 32, 32]) == [10])
        let res = try ModelSpec.parse("c16k3p1,res(c16k3p1,bn,relu),gap,fc10")
        #expect(res.layers[1] == .residual([.conv(out: 16, kernel: 3, stride: 1, padding: 1, bias: true), .batchNorm, .relu]))
    }

    @Test func errorsNameTheProblem() {
        #expect(Fixture.message { _ = try ModelSpec.parse("c32k3p1,relu,fc12") }.contains("10 class scores"))
        #expect(Fixture.message { _ = try ModelSpec.parse("c32,fc10") }.contains("\"c32\""))
        #expect(Fixture.message { _ = try ModelSpec.parse("c8k40,fc10") }.contains("does not fit"))
        #expect(Fixture.message { _ = try ModelSpec.parse("relu,,fc10") }.contains("empty item"))
        #expect(Fixture.message { _ = try ModelSpec.parse("c8k3,res(c4k3p1),fc10") }.contains("keep the shape"))
        #expect(Fixture.message { _ = try ModelSpec.parse("wobble,fc10") }.contains("wobble"))
        #expect(Fixture.message { _ = try ModelSpec.parse("c8k3,res(relu,fc10") }.contains("unbalanced"))
    }
}
