import KernelsC

// Row-level helpers shared by the convolution methods (and the pools and batch norm): short
// vector copies and adds for im2col, col2im and packing, zero-padding whole images, and an
// optional tensor's pointer.

/// dst[0..<count] = src[0..<count] for the short rows of im2col and packing (an output row, 8 to 32 floats
/// in the nets here): two overlapping vector copies instead of a loop with its set-up and tail.
@inline(__always)
func copyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    typealias V16 = SIMD16<Float>
    typealias V8 = SIMD8<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    if count >= 16 {
        var i = 0
        while i + 16 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: V16.self), toByteOffset: 4 * i, as: V16.self)
            i += 16
        }
        if i < count {
            let last = 4 * (count - 16)
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: last, as: V16.self), toByteOffset: last, as: V16.self)
        }
    } else if count >= 8 {
        let last = 4 * (count - 8)
        let head = s.loadUnaligned(as: V8.self), tail = s.loadUnaligned(fromByteOffset: last, as: V8.self)
        d.storeBytes(of: head, as: V8.self)
        d.storeBytes(of: tail, toByteOffset: last, as: V8.self)
    } else {
        for i in 0..<count { dst[i] = src[i] }
    }
}

/// dst[0..<count] = roundedToBF16(src[0..<count]) for the bf16 columns matrices: the integer
/// rounding of `roundedToBF16` (ties to even, NaN kept NaN), written branch-free on the bits so
/// that the compiler vectorises the loop (Swift's SIMD masks here compiled to lane-by-lane code
/// that took 70% of a bf16 VGG layer's time).
@inline(__always)
func copyRowRoundedToBF16(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    let d = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
    let s = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
    for i in 0..<count {
        let bits = s[i]
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) & 0xFFFF_0000
        let quietNaN = (bits | 0x0040_0000) & 0xFFFF_0000
        d[i] = (bits & 0x7FFF_FFFF) > 0x7F80_0000 ? quietNaN : rounded
    }
}

/// p[0..<count] rounded to bf16 in place, by the form of the CPU level that `kernel` stands for
/// (`fm_bf16_round_floats`, or its AVX-512 / AVX2 form: the same bits).
@inline(__always)
func roundToBF16InPlace(_ p: UnsafeMutablePointer<Float>, count: Int, kernel: MicroKernel) {
    switch kernel {
    case .avx512: fm_bf16_round_floats_avx512(p, count)
    case .avx2: fm_bf16_round_floats_avx2(p, count)
    case .swiftSIMD: fm_bf16_round_floats(p, count)
    }
}

/// dst[0..<count] += src[0..<count], vectorised for the short rows of col2im.
@inline(__always)
func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    typealias V16 = SIMD16<Float>
    typealias V8 = SIMD8<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 16 <= count {
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: V16.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: V16.self)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: V16.self)
        i += 16
    }
    if i + 8 <= count {
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: V8.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: V8.self)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: V8.self)
        i += 8
    }
    while i < count { dst[i] += src[i]; i += 1 }
}

/// Copies `images` images [C,H,W] into [C, H+2p, W+2p] with a zero border of width p.
func padImages(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, images: Int, into dst: UnsafeMutablePointer<Float>) {
    let p = g.padding, hp = g.height + 2 * p, wp = g.width + 2 * p
    for plane in 0..<(images * g.inChannels) {
        let src = x + plane * g.height * g.width
        let out = dst + plane * hp * wp
        out.update(repeating: 0, count: p * wp + p)
        for y in 0..<g.height {
            let row = out + (y + p) * wp + p
            copyRow(row, src + y * g.width, count: g.width)
            // The right border of this row and the left border of the next are adjacent.
            (row + g.width).update(repeating: 0, count: y == g.height - 1 ? p : 2 * p)
        }
        (out + (hp - p) * wp).update(repeating: 0, count: p * wp)
    }
}

/// Per-thread slices of one scratch buffer for the kernels that read zero-padded images in
/// place (the direct kernels and the padded panels): each slice holds up to `imagesPerSlice`
/// input images of `g` padded as `padImages` does, then `slack` floats that the kernels' last
/// vectors may read past the last image, zeroed with every fill so that those reads are finite.
package struct PaddedImageSlices {
    /// Floats of one padded image, [C, H+2p, W+2p].
    package let imageSize: Int
    /// Floats from one thread's slice to the next.
    package let sliceSize: Int
    private let geometry: Conv2dGeometry
    private let slack: Int

    /// Slices of `imagesPerSlice` images of `g` and `slack` floats.
    package init(_ g: Conv2dGeometry, imagesPerSlice: Int = 1, slack: Int) {
        geometry = g
        self.slack = slack
        imageSize = Self.imageSize(g)
        sliceSize = imagesPerSlice * imageSize + slack
    }

    /// Floats of one padded input image of `g`.
    package static func imageSize(_ g: Conv2dGeometry) -> Int {
        g.inChannels * (g.height + 2 * g.padding) * (g.width + 2 * g.padding)
    }

    /// Thread `t`'s slice of the buffer at `base` (`sliceSize` floats a thread).
    package func slice(_ base: UnsafeMutablePointer<Float>, thread t: Int) -> UnsafeMutablePointer<Float> {
        base + t * sliceSize
    }

    /// Pads the batch's images `images` of `input` (NCHW) into `slice`, one after another, and
    /// zeroes the slack after the last.
    package func fill(_ slice: UnsafeMutablePointer<Float>, from input: UnsafePointer<Float>, images: Range<Int>) {
        let g = geometry
        padImages(g, input + images.lowerBound * g.inChannels * g.height * g.width, images: images.count, into: slice)
        (slice + images.count * imageSize).update(repeating: 0, count: slack)
    }
}

/// Runs `body` with a pointer to the tensor's elements, or nil when there is no tensor.
@inline(__always)
func withOptionalBuffer<R>(_ t: Tensor?, _ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0) }
}
