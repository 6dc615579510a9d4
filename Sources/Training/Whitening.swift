import Kernels

// airbench's whitening layer: a convolution whose filters are the principal directions of the
// training images' k x k patches, each scaled to unit variance, twice (with both signs), so the
// GELU after it keeps both halves of every direction.
//
//   images [N, C, H, W] (normalised)  ->  patches p: every k x k window, flattened in the
//   weight layout (channel, row, column), d = C k k values; P = (H-k+1)(W-k+1) N of them
//   S = (1/P) sum p p^T   (d x d; the second moment, as airbench: no mean is subtracted)
//   S = V diag(lambda) V^T, lambda descending
//   weight [2d, C, k, k]:  filter f < d is V[:, f] / sqrt(lambda_f + eps); filter d + f is its negative
//
// With eps = 0 the first d outputs of the convolution have the identity as second moment on
// these images; eps keeps the weakest directions (pixel noise) from being blown up.

/// The whitening filters of airbench's first convolution for `images` [N, C, H, W] (already
/// normalised as the network's inputs are): [2 C k k, C, k, k], the eigenvectors of the k x k
/// patches' second-moment matrix in descending eigenvalue order, divided by sqrt(eigenvalue + eps),
/// then the same negated. airbench uses the first 5,000 training images, k = 2, eps = 5e-4.
/// Each eigenvector's largest component is made positive (the decomposition fixes a direction
/// only up to sign), so the result depends on the images alone.
package func whiteningWeights(images: Tensor, kernelSize k: Int = 2, eps: Double = 5e-4) -> Tensor {
    let c = images.shape[1], d = c * k * k
    let moment = patchSecondMoment(images: images, kernelSize: k)
    let (values, vectors) = symmetricEigendecomposition(moment, size: d)
    var weight = Tensor(shape: [2 * d, c, k, k])
    weight.withUnsafeMutableBufferPointer { w in
        for f in 0..<d {
            let scale = 1 / (max(values[f], 0) + eps).squareRoot()
            for j in 0..<d {
                w[f * d + j] = Float(vectors[f][j] * scale)
                w[(d + f) * d + j] = -Float(vectors[f][j] * scale)
            }
        }
    }
    return weight
}

/// The second moment (1/P) sum p p^T of every k x k patch p of `images` [N, C, H, W], each
/// flattened in (channel, row, column) order: a row-major d x d matrix, d = C k k, in Float64.
/// Sums run over blocks of a fixed number of images and the blocks are added in order, so the
/// result does not depend on the thread count.
package func patchSecondMoment(images x: Tensor, kernelSize k: Int) -> [Double] {
    require(x.rank == 4 && x.shape[2] >= k && x.shape[3] >= k, "patchSecondMoment: images must be [N,C,H,W] of at least \(k)x\(k), got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    let d = c * k * k, oh = h - k + 1, ow = w - k + 1
    let block = 16, blocks = (n + block - 1) / block
    var partial = [Double](repeating: 0, count: blocks * d * d)
    x.withUnsafeBufferPointer { xp in
    partial.withUnsafeMutableBufferPointer { pp in
        let src = xp.baseAddress!, sums = pp.baseAddress!
        parallelFor(blocks) { range in
            var p = [Double](repeating: 0, count: d)
            for b in range {
                let s = sums + b * d * d
                for img in (b * block)..<min(n, (b + 1) * block) {
                    let image = src + img * c * h * w
                    for y in 0..<oh {
                        for x0 in 0..<ow {
                            // Gather the patch, then add its outer product (upper triangle).
                            var j = 0
                            for ch in 0..<c {
                                for i in 0..<k {
                                    for jj in 0..<k { p[j] = Double(image[(ch * h + y + i) * w + x0 + jj]); j += 1 }
                                }
                            }
                            for r in 0..<d {
                                let pr = p[r]
                                for col in r..<d { s[r * d + col] += pr * p[col] }
                            }
                        }
                    }
                }
            }
        }
    }}
    var moment = [Double](repeating: 0, count: d * d)
    for b in 0..<blocks {
        for i in 0..<(d * d) { moment[i] += partial[b * d * d + i] }
    }
    let count = Double(n * oh * ow)
    for r in 0..<d {
        for col in r..<d {
            moment[r * d + col] /= count
            moment[col * d + r] = moment[r * d + col]
        }
    }
    return moment
}

/// Eigenvalues and eigenvectors of the symmetric `size` x `size` matrix `a` (row-major), by
/// cyclic Jacobi rotations in Float64: values in descending order, `vectors[i]` the unit
/// eigenvector of `values[i]`, with its largest-magnitude component positive. Meant for small
/// matrices (whitening's 12 x 12): each sweep costs O(size^3).
package func symmetricEigendecomposition(_ a: [Double], size n: Int) -> (values: [Double], vectors: [[Double]]) {
    require(a.count == n * n, "symmetricEigendecomposition: \(a.count) values are not a \(n)x\(n) matrix")
    var m = a
    // V accumulates the rotations: A = V diag V^T, eigenvectors in V's columns.
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    let scale = max(a.reduce(0) { $0 + $1 * $1 }.squareRoot(), Double.leastNormalMagnitude)
    for _ in 0..<100 {
        var off = 0.0
        for p in 0..<n { for q in (p + 1)..<n { off += m[p * n + q] * m[p * n + q] } }
        if off.squareRoot() <= 1e-15 * scale { break }
        for p in 0..<n {
            for q in (p + 1)..<n {
                let apq = m[p * n + q]
                if apq == 0 { continue }
                // The rotation in the (p, q) plane that zeroes m[p][q]: t = tan(angle) is the
                // smaller root of t^2 + 2 theta t - 1 = 0.
                let theta = (m[q * n + q] - m[p * n + p]) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let cs = 1 / (t * t + 1).squareRoot(), sn = t * cs
                for r in 0..<n {  // columns p, q: M J and V J
                    let mp = m[r * n + p], mq = m[r * n + q]
                    m[r * n + p] = cs * mp - sn * mq
                    m[r * n + q] = sn * mp + cs * mq
                    let vp = v[r * n + p], vq = v[r * n + q]
                    v[r * n + p] = cs * vp - sn * vq
                    v[r * n + q] = sn * vp + cs * vq
                }
                for col in 0..<n {  // rows p, q: J^T (M J)
                    let mp = m[p * n + col], mq = m[q * n + col]
                    m[p * n + col] = cs * mp - sn * mq
                    m[q * n + col] = sn * mp + cs * mq
                }
            }
        }
    }
    let order = (0..<n).sorted { m[$0 * n + $0] > m[$1 * n + $1] }
    let values = order.map { m[$0 * n + $0] }
    let vectors = order.map { column -> [Double] in
        var e = (0..<n).map { v[$0 * n + column] }
        let largest = e.indices.max { abs(e[$0]) < abs(e[$1]) } ?? 0
        if e[largest] < 0 { e = e.map { -$0 } }
        return e
    }
    return (values, vectors)
}
