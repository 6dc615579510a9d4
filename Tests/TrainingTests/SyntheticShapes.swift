import Foundation
import Training

/// A CIFAR-shaped data set drawn in code, so that a learning test runs on every clone without a
/// download: 32x32 RGB images in ten classes, five shapes, two crosses and three stripe patterns:
///
///     0 disc   1 ring   2 square   3 frame (square outline)   4 triangle (apex up)
///     5 plus   6 X      7 horizontal stripes   8 vertical stripes   9 diagonal stripes (either way)
///
/// Each image has a background of one random colour and its figure in another (at least
/// `minimumContrast` apart in RGB, so the figure is always visible), a random size and a random
/// position wholly inside the image, and noise on every sample. Neither colour nor position says
/// anything about the class; only the form does, and some forms differ in a few pixels (a small disc
/// from a small square), so the set is learnable but not by counting colours. Every class is its own mirror image (diagonal stripes run either way), so
/// the trainer's flip augmentation and flip-averaged evaluation keep every label true.
///
/// The same `seed` always draws the same images: the generator is `TrainingRandom`, whose stream
/// is fixed by the Training library.
enum SyntheticShapes {
    static let classNames = ["disc", "ring", "square", "frame", "triangle",
                             "plus", "x", "horizontal-stripes", "vertical-stripes", "diagonal-stripes"]
    /// Smallest RGB distance between figure and background colours.
    static let minimumContrast: Float = 100
    /// Standard deviation of the noise added to every sample (0-255 scale).
    static let noise: Float = 24

    /// `count` images, classes in turn (0, 1, ..., 9, 0, ...), so every class has count/10 of them.
    static func split(count: Int, seed: UInt64) -> CIFARSplit {
        var rng = TrainingRandom(seed: seed)
        let side = CIFAR10.side, plane = side * side
        var pixels = [UInt8](repeating: 0, count: count * CIFAR10.pixelsPerImage)
        var labels = [UInt8]()
        labels.reserveCapacity(count)
        var mask = [Bool](repeating: false, count: plane)
        for i in 0 ..< count {
            let label = i % classNames.count
            labels.append(UInt8(label))
            draw(label, into: &mask, rng: &rng)
            let (figure, background) = colours(&rng)
            for c in 0 ..< 3 {
                let base = i * CIFAR10.pixelsPerImage + c * plane
                for p in 0 ..< plane {
                    // Sum of three uniforms: a bell-shaped noise of standard deviation 1/2, scaled.
                    let n = (rng.unitFloat() + rng.unitFloat() + rng.unitFloat() - 1.5) * 2 * noise
                    let v = (mask[p] ? figure[c] : background[c]) + n
                    pixels[base + p] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return CIFARSplit(pixels: pixels, labels: labels)
    }

    /// A training and a held-out test split drawn from different streams of the same seed.
    static func data(train: Int, test: Int, seed: UInt64) -> CIFAR10Data {
        CIFAR10Data(train: split(count: train, seed: seed), test: split(count: test, seed: seed &+ 0x7E57),
                    classNames: classNames, source: "SyntheticShapes(seed: \(seed))")
    }

    /// Two colours at least `minimumContrast` apart.
    private static func colours(_ rng: inout TrainingRandom) -> (figure: [Float], background: [Float]) {
        while true {
            let a = (0 ..< 3).map { _ in rng.unitFloat() * 255 }
            let b = (0 ..< 3).map { _ in rng.unitFloat() * 255 }
            let distance = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            if distance >= minimumContrast { return (a, b) }
        }
    }

    /// Sets `mask` (32x32, row-major) to the figure of class `label`, at a random size and place.
    private static func draw(_ label: Int, into mask: inout [Bool], rng: inout TrainingRandom) {
        let side = Float(CIFAR10.side)
        func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * rng.unitFloat() }
        // `reach`: how far the figure extends from its centre, so that it stays inside the image.
        func centre(_ reach: Float) -> (Float, Float) { (uniform(reach, side - reach), uniform(reach, side - reach)) }
        let inside: (Float, Float) -> Bool
        switch label {
        case 0:  // disc
            let r = uniform(5, 11), (cx, cy) = centre(r)
            inside = { x, y in hypot(x - cx, y - cy) <= r }
        case 1:  // ring
            let r = uniform(7, 12), t = uniform(2, 3.5), (cx, cy) = centre(r)
            inside = { x, y in let d = hypot(x - cx, y - cy); return d <= r && d >= r - t }
        case 2:  // square
            let h = uniform(4.5, 10), (cx, cy) = centre(h)
            inside = { x, y in abs(x - cx) <= h && abs(y - cy) <= h }
        case 3:  // frame
            let h = uniform(7, 12), t = uniform(2, 3.5), (cx, cy) = centre(h)
            inside = { x, y in max(abs(x - cx), abs(y - cy)) <= h && max(abs(x - cx), abs(y - cy)) >= h - t }
        case 4:  // triangle, apex up: its half-width grows from 0 at the apex to b at the base
            let b = uniform(6, 12), height = 1.6 * b
            let cx = uniform(b, side - b), top = uniform(0.5, side - height - 0.5)
            inside = { x, y in y >= top && y <= top + height && abs(x - cx) <= b * (y - top) / height }
        case 5, 6:  // plus, X: two bars of half-length l and half-width w, the X's turned 45 degrees
            let l = uniform(7, 12), w = uniform(1.2, 2.4)
            let root2 = Float(2).squareRoot()
            let reach = label == 5 ? l : (l + w) / root2
            let (cx, cy) = centre(reach)
            let turned = label == 6
            inside = { x, y in
                var u = x - cx, v = y - cy
                if turned { (u, v) = ((u + v) / root2, (u - v) / root2) }
                return (abs(u) <= w && abs(v) <= l) || (abs(v) <= w && abs(u) <= l)
            }
        default:  // stripes in a random rectangle: period 4-7 pixels, half of each period filled
            let period = uniform(4, 7), phase = uniform(0, period)
            let w = uniform(8, 14), h = uniform(8, 14)
            let cx = uniform(w, side - w), cy = uniform(h, side - h)
            let direction: (Float, Float) = switch label {
            case 7: (0, 1)
            case 8: (1, 0)
            default: rng.below(2) == 0 ? (0.7071, 0.7071) : (0.7071, -0.7071)
            }
            inside = { x, y in
                guard abs(x - cx) <= w && abs(y - cy) <= h else { return false }
                let along = x * direction.0 + y * direction.1 + phase
                return along - period * (along / period).rounded(.down) < period / 2
            }
        }
        for y in 0 ..< CIFAR10.side {
            for x in 0 ..< CIFAR10.side {
                // Pixel centres, so that a figure's symmetry does not depend on rounding.
                mask[y * CIFAR10.side + x] = inside(Float(x) + 0.5, Float(y) + 0.5)
            }
        }
    }
}
