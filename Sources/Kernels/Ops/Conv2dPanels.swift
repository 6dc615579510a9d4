// Convolution as a GEMM whose B operand is packed straight from the image ("implicit im2col").
//
//   Y[O, q] = sum_r Waug[O, r] * cols[r, q]      r < C*kh*kw: a kernel tap (c,i,j);  r = C*kh*kw: the bias row
//   cols[(c,i,j), q] = x[n, c, oy*s - p + i, ox*s - p + j]  (0 outside the image),  cols[bias row, q] = 1
//   q = (n - firstImage)*Ho*Wo + oy*Wo + ox   over the images of one group
//
// The columns matrix is never written out. The GEMM's packing step, which has to copy B into
// NR-wide slivers anyway, reads those slivers from the image rows directly (`packConvPanel`),
// so a forward convolution makes one pass over its input instead of three (im2col writes
// the columns, packing reads them and writes the panel). The bias rides along as one more row of
// ones in B and one more column of the weights, so the GEMM's output is the layer's output and
// no second pass adds the bias.
//
// The weights are packed once per call (`ConvPackedWeights`) and shared read-only by the
// threads; each thread packs its own panels into its GEMM workspace. Two sources of panels:
// `PaddedPanelSource` (stride 1, zero-padded wide rows: method `.paddedPanels`) and
// `ConvPanelSource` (any stride, through a tap table: `.tapPanels`); the drivers at the end of
// this file run them per thread (`convPanelForward`). Both are the path of CPUs without AVX-512.

/// Weights [O, C*kh*kw] (plus a bias column) packed into the micro-kernel's MR-row slivers,
/// K block by K block: block b (taps pc..<pc+kc) starts at pc * paddedRows and holds
/// paddedRows/MR slivers of [kc][MR].
struct ConvPackedWeights {
    /// The packed sizes.
    var layout = ConvWeightLayout()
    var storage: [Float] = []
    /// Scratch for the bias-augmented weights before packing.
    var augmented: [Float] = []

    /// Packs `weight` [rows, taps] (rows of `lda` floats; nil bias: no bias row) for `kernel`.
    mutating func pack(weight: UnsafePointer<Float>, rows m: Int, taps: Int, lda: Int,
                       bias: UnsafeBufferPointer<Float>?, kernel: MicroKernel) {
        let depth = taps + (bias == nil ? 0 : 1)
        let kcBlock = GEMMBlocking.evenBlock(depth, limit: GEMMBlocking.maxKC, quantum: 8)
        let paddedRows = (m + kernel.mr - 1) / kernel.mr * kernel.mr
        layout = ConvWeightLayout(rows: m, depth: depth, kcBlock: kcBlock, paddedRows: paddedRows)
        let needed = paddedRows * depth
        storage.growScratch(to: needed)
        augmented.growScratch(to: m * depth)
        augmented.withUnsafeMutableBufferPointer { aug in
            for o in 0..<m {
                (aug.baseAddress! + o * depth).update(from: weight + o * lda, count: taps)
                if let bias { aug[o * depth + taps] = bias[o] }
            }
        }
        augmented.withUnsafeBufferPointer { aug in
        storage.withUnsafeMutableBufferPointer { out in
            var pc = 0
            while pc < depth {
                let kc = min(kcBlock, depth - pc)
                let source = GEMMOperand(.none, aug.baseAddress! + pc, ld: depth)
                packA(source, mc: m, kc: kc, mr: kernel.mr, into: out.baseAddress! + pc * paddedRows)
                pc += kc
            }
        }}
    }
}

/// Sizes of packed convolution weights (no storage, so threads can share it by value).
struct ConvWeightLayout: Sendable {
    /// Rows of the GEMM (output channels) and its K (taps, plus one with a bias).
    var rows = 0, depth = 0
    /// K block length (the last block may be shorter).
    var kcBlock = 0
    /// Rows rounded up to the micro-kernel's MR.
    var paddedRows = 0
}

/// The image-group side of an implicit-GEMM convolution: where the group's images are. A
/// panel row at or past the kernel's taps is the bias row (the weights' depth includes it only
/// when there is a bias).
struct ConvPanelSource {
    let geometry: Conv2dGeometry
    let input: UnsafePointer<Float>
    /// `ConvTap.table(geometry)`: what each row of the columns matrix reads.
    let taps: UnsafePointer<ConvTap>
    let firstImage: Int
    let images: Int

    var columns: Int { images * geometry.outPlane }
}

/// Where one row of the columns matrix (kernel tap (c,i,j)) reads: input row iy = oy*s - p + i,
/// at offset `rowOffset` + iy*W + ox*s from the image, for output columns lo..<hi (zero elsewhere).
/// Tabulated once per convolution, so packing does no division per tap.
struct ConvTap {
    var rowOffset: Int32, i: Int32, lo: Int32, hi: Int32

    /// The taps of `g`, one per row of its columns matrix.
    static func fill(_ table: UnsafeMutablePointer<ConvTap>, for g: Conv2dGeometry) {
        let kk = g.kernelHeight * g.kernelWidth
        for r in 0..<g.taps {
            let c = r / kk, i = (r % kk) / g.kernelWidth, j = r % g.kernelWidth
            let (lo, hi) = validRange(tap: j, stride: g.stride, padding: g.padding, inSize: g.width, outSize: g.outWidth)
            table[r] = ConvTap(rowOffset: Int32(c * g.height * g.width - g.padding + j), i: Int32(i),
                               lo: Int32(lo), hi: Int32(hi))
        }
    }
}

/// Packs rows pc..<pc+kc and columns jc..<jc+nc of the group's virtual columns matrix into
/// NR-wide slivers ([nc/NR][kc][NR], the layout `packB` produces), reading the image directly.
/// Ragged columns of the last sliver are zero. Each sliver row is written front to back as
/// runs of output pixels along one output row, each a (zero-padded) piece of one input row.
func packConvPanel(_ src: ConvPanelSource, pc: Int, kc: Int, jc: Int, nc: Int, nr: Int,
                   into dst: UnsafeMutablePointer<Float>) {
    let g = src.geometry
    let imageSize = g.inChannels * g.height * g.width
    var sliverStart = 0
    var out = dst
    while sliverStart < nc {
        let width = min(nr, nc - sliverStart)
        let q0 = jc + sliverStart
        let image0 = src.firstImage + q0 / g.outPlane
        let oy0 = (q0 % g.outPlane) / g.outWidth, ox0 = q0 % g.outWidth
        for t in 0..<kc {
            let r = pc + t
            let row = out + t * nr
            if r >= g.taps {
                // The bias row (only when the source has one).
                row.update(repeating: 1, count: width)
            } else {
                let tap = src.taps[r]
                let i = Int(tap.i), lo = Int(tap.lo), hi = Int(tap.hi)
                let channelOffset = Int(tap.rowOffset)
                var image = image0, oy = oy0, ox = ox0, offset = 0
                while offset < width {
                    let count = min(g.outWidth - ox, width - offset)
                    let d = row + offset - ox  // d[ox'] is output column ox' of this run
                    let iy = oy * g.stride - g.padding + i
                    let a = max(ox, lo), b = min(ox + count, hi)
                    if iy < 0 || iy >= g.height || a >= b {
                        (d + ox).update(repeating: 0, count: count)
                    } else {
                        let line = src.input + image * imageSize + iy * g.width + channelOffset
                        for x in ox..<a { d[x] = 0 }
                        if g.stride == 1 {
                            copyRow(d + a, line + a, count: b - a)
                        } else {
                            for x in a..<b { d[x] = line[x * g.stride] }
                        }
                        for x in b..<(ox + count) { d[x] = 0 }
                    }
                    offset += count
                    ox = 0
                    oy += 1
                    if oy == g.outHeight { oy = 0; image += 1 }
                }
            }
            if width < nr { (row + width).update(repeating: 0, count: nr - width) }
        }
        out += kc * nr
        sliverStart += nr
    }
}

/// Stride 1 on "wide" rows: the images are copied into a zero-padded buffer [images][C][Hp][Wp]
/// (Hp = H + 2p, Wp = W + 2p) and the output is computed for every column of the padded width,
/// q = n*Ho*Wp + oy*Wp + ox with ox < Wp. Column q of tap (c,i,j) then reads
///   xpad[n][c][oy + i][ox + j] = xpad + n*imageSize + (c*Hp + i)*Wp + j + (oy*Wp + ox)
/// so along q each row of the columns matrix is a contiguous piece of the buffer (one copy per
/// image a sliver touches), and packing is a plain copy. The Wp - Wo extra columns per row are
/// computed and dropped when the output is compacted.
struct PaddedPanelSource {
    /// The padded images, followed by at least kw floats of margin.
    let input: UnsafePointer<Float>
    /// Per tap, (c*Hp + i)*Wp + j.
    let tapOffsets: UnsafePointer<Int32>
    /// Taps of the kernel; a row at or past it is the bias row of ones.
    let tapCount: Int
    /// C*Hp*Wp and Ho*Wp.
    let imageSize: Int, widePlane: Int
    let images: Int

    var columns: Int { images * widePlane }
}

/// `packConvPanel` for a `PaddedPanelSource`: rows pc..<pc+kc, columns jc..<jc+nc, NR-wide slivers.
func packPaddedConvPanel(_ src: PaddedPanelSource, pc: Int, kc: Int, jc: Int, nc: Int, nr: Int,
                         into dst: UnsafeMutablePointer<Float>) {
    var sliverStart = 0
    var out = dst
    while sliverStart < nc {
        let width = min(nr, nc - sliverStart)
        let q0 = jc + sliverStart
        let firstImage = q0 / src.widePlane, firstColumn = q0 % src.widePlane
        for t in 0..<kc {
            let r = pc + t
            let row = out + t * nr
            if r >= src.tapCount {
                row.update(repeating: 1, count: width)
            } else {
                let tap = src.input + Int(src.tapOffsets[r])
                var offset = 0, image = firstImage, column = firstColumn
                while offset < width {
                    let count = min(src.widePlane - column, width - offset)
                    copyRow(row + offset, tap + image * src.imageSize + column, count: count)
                    offset += count
                    image += 1
                    column = 0
                }
            }
            if width < nr { (row + width).update(repeating: 0, count: nr - width) }
        }
        out += kc * nr
        sliverStart += nr
    }
}

/// C[O, n] = Waug * cols for one image group, on the calling thread: `blockedProduct` with the
/// weights already packed (all rows in one M block) and B panels made by `pack(pc, kc, jc, nc, into)`.
@inline(__always)
func convPanelGEMM(columns n: Int, weights w: ConvWeightLayout, weightBase: UnsafePointer<Float>,
                   kernel: MicroKernel, c: UnsafeMutablePointer<Float>, ldc: Int,
                   pack: (Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
    GEMMWorkspace.withWorkspace { ws in
        blockedProduct(kernel, m: w.rows, n: n, k: w.depth, kcBlock: w.kcBlock, mcBlock: max(1, w.rows),
                       alpha: 1, beta: 0, c: c, ldc: ldc, workspace: ws,
                       packA: { _, _, pc, _ in weightBase + pc * w.paddedRows }, packB: pack)
    }
}

/// Images per panel GEMM: one when an image's output plane is wide enough for the GEMM (its
/// output then lands in `y` directly), else enough images for `conv2dMinimumColumns`, staged
/// and copied out.
func panelImages(_ g: Conv2dGeometry) -> Int {
    if g.outPlane >= conv2dMinimumColumns { return 1 }
    return max(1, min(g.batch, (conv2dMinimumColumns + g.outPlane - 1) / g.outPlane))
}

/// Forward convolution of `input` (NCHW) into `output` by the panel GEMM: the weights (and
/// bias) packed once, then each thread's images through `convPaddedPanelForward` (stride 1,
/// `padded`) or `convTapPanelForward` (any stride).
func convPanelForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                      bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
                      padded: Bool, scratch: inout Conv2dScratch) {
    scratch.packedWeights.pack(weight: weight, rows: g.outChannels, taps: g.taps, lda: g.taps,
                               bias: bias, kernel: .selected)
    if padded {
        convPaddedPanelForward(g, input: input, output: output, scratch: &scratch)
    } else {
        convTapPanelForward(g, input: input, output: output, scratch: &scratch)
    }
}

/// The panel convolution through a tap table (`ConvPanelSource`), with the weights already in
/// `scratch.packedWeights`.
func convTapPanelForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>,
                         output: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    let threads = convThreads(g.batch)
    let perGroup = panelImages(g)
    let stagedSlice = perGroup > 1 ? g.outChannels * perGroup * g.outPlane : 0
    scratch.panelStaged.growScratch(to: stagedSlice * threads)
    scratch.tapTable.growScratch(to: g.taps, filling: ConvTap(rowOffset: 0, i: 0, lo: 0, hi: 0))
    let weights = scratch.packedWeights.layout
    let kernel = MicroKernel.selected
    nonisolated(unsafe) let out = output
    scratch.tapTable.withUnsafeMutableBufferPointer { tp in
    ConvTap.fill(tp.baseAddress!, for: g)
    let taps = UnsafePointer(tp.baseAddress!)
    scratch.packedWeights.storage.withUnsafeBufferPointer { wp in
    scratch.panelStaged.withUnsafeMutableBufferPointer { stp in
        parallelFor(threads) { range in
            for t in range {
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perGroup, images.upperBound - n0)
                    let src = ConvPanelSource(geometry: g, input: input, taps: taps, firstImage: n0, images: nb)
                    let yImage = out + n0 * g.outChannels * g.outPlane
                    // One image: the GEMM result [O, Ho*Wo] is that image's NCHW block.
                    let target = nb == 1 ? yImage : stp.baseAddress! + t * stagedSlice
                    let cols = src.columns
                    convPanelGEMM(columns: cols, weights: weights, weightBase: wp.baseAddress!, kernel: kernel,
                                  c: target, ldc: cols) { pc, kc, jc, nc, panel in
                        packConvPanel(src, pc: pc, kc: kc, jc: jc, nc: nc, nr: kernel.nr, into: panel)
                    }
                    if nb > 1 { scatterGroupOutput(g, staged: target, images: nb, into: yImage) }
                    n0 += nb
                }
            }
        }
    }}}
}

/// Stride-1 panel convolution on wide rows of zero-padded images (`PaddedPanelSource`): each
/// thread pads its image group, runs the GEMM into a staged [O, nb*Ho*Wp] and copies the Wo
/// valid columns of every row into `output`.
func convPaddedPanelForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    let wp = g.width + 2 * g.padding
    let widePlane = g.outHeight * wp
    let threads = convThreads(g.batch)
    let perGroup = max(1, min(g.batch, (conv2dMinimumColumns + widePlane - 1) / widePlane))
    let slices = PaddedImageSlices(g, imagesPerSlice: perGroup, slack: g.kernelWidth + 16)
    let imageSize = slices.imageSize
    let stagedSlice = g.outChannels * perGroup * widePlane
    scratch.panelStaged.growScratch(to: stagedSlice * threads)
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    scratch.fillPaddedTapOffsets(g)
    let weights = scratch.packedWeights.layout
    let kernel = MicroKernel.selected
    nonisolated(unsafe) let out = output
    scratch.tapOffsets.withUnsafeBufferPointer { tp in
    scratch.packedWeights.storage.withUnsafeBufferPointer { wtp in
    scratch.panelStaged.withUnsafeMutableBufferPointer { stp in
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
        parallelFor(threads) { range in
            for t in range {
                let padded = slices.slice(pp.baseAddress!, thread: t)
                let staged = stp.baseAddress! + t * stagedSlice
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perGroup, images.upperBound - n0)
                    slices.fill(padded, from: input, images: n0..<n0 + nb)
                    let src = PaddedPanelSource(input: padded, tapOffsets: tp.baseAddress!, tapCount: g.taps,
                                                imageSize: imageSize, widePlane: widePlane, images: nb)
                    let cols = src.columns
                    convPanelGEMM(columns: cols, weights: weights, weightBase: wtp.baseAddress!, kernel: kernel,
                                  c: staged, ldc: cols) { pc, kc, jc, nc, panel in
                        packPaddedConvPanel(src, pc: pc, kc: kc, jc: jc, nc: nc, nr: kernel.nr, into: panel)
                    }
                    let yGroup = out + n0 * g.outChannels * g.outPlane
                    for n in 0..<nb {
                        for o in 0..<g.outChannels {
                            let from = staged + o * cols + n * widePlane
                            let to = yGroup + (n * g.outChannels + o) * g.outPlane
                            for oy in 0..<g.outHeight {
                                copyRow(to + oy * g.outWidth, from + oy * wp, count: g.outWidth)
                            }
                        }
                    }
                    n0 += nb
                }
            }
        }
    }}}}
}
