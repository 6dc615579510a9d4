import ImageIO
import Kernels

extension Classifier {
    /// The network input for `photos`: each resized to 32x32 by area averaging, scaled to
    /// [0, 1], normalised with the model's mean and std ([N, 3, 32, 32]; gray is repeated to RGB).
    public func inputTensor(for photos: [Image]) -> Tensor {
        let side = CIFAR10.side, plane = side * side
        var batch = Tensor(shape: [photos.count, 3, side, side])
        for (n, photo) in photos.enumerated() {
            let small = photo.resizedByAreaAveraging(width: side, height: side)
            let floats = small.planarFloats()
            for c in 0 ..< 3 {
                let source = small.channels == 1 ? 0 : c
                for i in 0 ..< plane {
                    batch.storage[(n * 3 + c) * plane + i] = (floats[source * plane + i] - normalization.mean[c]) / normalization.std[c]
                }
            }
        }
        return batch
    }

    /// The `k` most probable classes of each photo, most probable first.
    public func topClasses(of photos: [Image], k: Int = 3) -> [[(name: String, probability: Float)]] {
        rankedClasses(of: photos, k: k).map { $0.map { (classNames[$0.index], $0.probability) } }
    }

    /// The `k` most probable class indices of each photo with their probabilities, most probable
    /// first: the one ranking `topClasses` and Grad-CAM's choice of classes share.
    public func rankedClasses(of photos: [Image], k: Int = 3) -> [[(index: Int, probability: Float)]] {
        probabilities(inputTensor(for: photos)).map { row in
            row.enumerated().sorted { $0.element > $1.element }.prefix(k).map { ($0.offset, $0.element) }
        }
    }
}
