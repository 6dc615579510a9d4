// Trains a small convolutional network to tell vertical bars from horizontal ones, then draws
// what its trained first layer sees in a photo.
//
//     swift run -c release TrainAndExplore [PHOTO] [OUTPUT.png]
//
// PHOTO defaults to the cat photo bundled with this example, OUTPUT.png to feature-maps.png.
import FeatureMaps
import Foundation
import ImageIO
import Kernels
import Training

/// Prints one line to standard error and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count <= 2 else { fail("usage: TrainAndExplore [PHOTO] [OUTPUT.png]", status: 2) }
let photoPath = arguments.first ?? Bundle.module.path(forResource: "chelsea", ofType: "jpg")!
let outputPath = arguments.count == 2 ? arguments[1] : "feature-maps.png"

// Generated data: 16x16 grayscale pictures of noise with one bright bar across them,
// class 0 a vertical bar and class 1 a horizontal one, at a random position.
let side = 16

func makeBatch(size: Int, using rng: inout SeededGenerator) -> (images: Tensor, labels: [Int]) {
    var pixels = [Float](repeating: 0, count: size * side * side)
    var labels: [Int] = []
    for n in 0..<size {
        let label = Int(rng.next() % 2)
        let bar = Int(rng.next() % UInt64(side))
        for y in 0..<side {
            for x in 0..<side {
                let onBar = (label == 0 ? x : y) == bar
                pixels[(n * side + y) * side + x] = (onBar ? 0.7 : 0) + 0.3 * rng.nextUnitFloat()
            }
        }
        labels.append(label)
    }
    return (Tensor(shape: [size, 1, side, side], storage: pixels), labels)
}

// The model, with the Kernels result builder. Layer names become the parameter names
// ("conv1.weight"), as in PyTorch. conv1 has no bias, so the feature-map stack below computes
// exactly its maps (without its padding).
var rng = SeededGenerator(seed: 1)
let conv1 = Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, bias: false)
let net = Sequential(rng: &rng) {
    conv1.named("conv1")
    ReLU()
    MaxPool2d(kernelSize: 2)
    Flatten()
    Linear(inFeatures: 4 * (side / 2) * (side / 2), outFeatures: 2).named("fc")
}

// Training: plain SGD with momentum on a fresh batch every step.
let loss = SoftmaxCrossEntropy()
let optimizer = SGD(parameters: net.namedParameters.map(\.parameter), momentum: 0.9)
for step in 1...40 {
    let batch = makeBatch(size: 32, using: &rng)
    let value = loss(net(batch.images), labels: batch.labels)
    _ = net.backward(loss.backward())
    optimizer.step(learningRate: 0.1)
    if step == 1 || step % 5 == 0 {
        print("step \(step): loss \(value)")
    }
}

net.eval()
let test = makeBatch(size: 200, using: &rng)
_ = loss(net(test.images), labels: test.labels)
print("accuracy on 200 new pictures: \(loss.correctCount) / 200")

// The trained first-layer filters as a feature-map stack, run over the photo in grayscale:
// one grid of conv, ReLU and 2x2 max-pooled maps, one column per filter.
do {
    let photo = try readImage(atPath: photoPath)
    let stack = FeatureMapStack(filters: [conv1.weight.value], inputChannels: 1, summary: "trained conv1")
    guard min(photo.width, photo.height) >= stack.minimumInputSide else {
        fail("error: \(photoPath): smaller than \(stack.minimumInputSide) pixels a side")
    }
    let input = Tensor(shape: [1, 1, photo.height, photo.width], storage: photo.grayscale())
    let grid = FeatureMapGrid(layer: 1, maps: stack.layerMaps(for: input)[0])
    try writePNG(grid.render(), toPath: outputPath)
    print("wrote \(outputPath)")
} catch {
    fail("error: \(error)")  // ImageIO's errors name the file and the reason
}
