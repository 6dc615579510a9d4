import KernelsC

// Packing: copies a block of op(A) or op(B) into the order the micro-kernel reads it, so the
// kernel's loads are contiguous and aligned whatever the operands' strides and transposes.
// Ragged last slivers are zero-padded to full width: the kernel always runs its full tile
// and the padding contributes exact zeros.

/// Packs op(A)[0..<mc, 0..<kc] into MR-row slivers: sliver s holds, for each p in 0..<kc,
/// the MR values A[s*MR + 0..<MR, p] (layout [mc/MR][kc][MR]).
func packA(_ a: GEMMOperand, mc: Int, kc: Int, mr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var i0 = 0
    while i0 < mc {
        let rows = min(mr, mc - i0)
        let src = a.base + i0 * a.rowStride
        if a.rowStride == 1 {
            // Transposed A: the MR values of one p are contiguous in memory.
            for p in 0..<kc {
                let col = src + p * a.colStride
                for r in 0..<rows { out[p * mr + r] = col[r] }
                for r in rows..<mr { out[p * mr + r] = 0 }
            }
        } else {
            // A as stored: MR row streams read side by side, one contiguous MR-group written per p.
            let rs = a.rowStride, cs = a.colStride
            if rows == mr {
                for p in 0..<kc {
                    let o = out + p * mr
                    let col = src + p * cs
                    for r in 0..<mr { o[r] = col[r * rs] }
                }
            } else {
                for p in 0..<kc {
                    let o = out + p * mr
                    let col = src + p * cs
                    for r in 0..<rows { o[r] = col[r * rs] }
                    for r in rows..<mr { o[r] = 0 }
                }
            }
        }
        out += kc * mr
        i0 += mr
    }
}

/// Packs op(B)[0..<kc, 0..<nc] into NR-column slivers: sliver s holds, for each p in 0..<kc,
/// the NR values B[p, s*NR + 0..<NR] (layout [nc/NR][kc][NR]), NR being `kernel.nr`. B as
/// stored is copied by the C form of `kernel`'s CPU level when it has one (a copy: the same bits).
func packB(_ b: GEMMOperand, kc: Int, nc: Int, kernel: MicroKernel, into dst: UnsafeMutablePointer<Float>) {
    let nr = kernel.nr
    let fullSlivers = nc / nr
    let tail = nc - fullSlivers * nr
    if b.colStride == 1 && kernel != .swiftSIMD {
        // The Swift loop below at the baseline's 128-bit width is 10% slower on the short-K
        // im2col shapes, where this copy reads B from memory and sets the pace.
        if kernel == .avx512 {
            fm_pack_b_rows_avx512(b.base, b.rowStride, kc, nc, nr, dst)
        } else {
            fm_pack_b_rows_avx2(b.base, b.rowStride, kc, nc, nr, dst)
        }
        return
    }
    if b.colStride == 1 {
        // B as stored: walk each row of the block from left to right (one long contiguous read
        // the prefetchers follow) and drop NR-wide pieces into the slivers. B is usually the
        // largest operand and is read from memory exactly here, so this loop sets the pace for
        // the short-K im2col shapes.
        let rs = b.rowStride
        let sliverStride = kc * nr
        let vectorsPerSliver = nr / 16
        for p in 0..<kc {
            let row = b.base + p * rs
            var out = dst + p * nr
            var src = row
            if vectorsPerSliver * 16 == nr {
                for _ in 0..<fullSlivers {
                    for v in 0..<vectorsPerSliver {
                        let x = UnsafeRawPointer(src + 16 * v).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(out + 16 * v).storeBytes(of: x, as: SIMD16<Float>.self)
                    }
                    src += nr
                    out += sliverStride
                }
            } else {
                for _ in 0..<fullSlivers {
                    out.update(from: src, count: nr)
                    src += nr
                    out += sliverStride
                }
            }
            if tail > 0 {
                out.update(from: src, count: tail)
                (out + tail).update(repeating: 0, count: nr - tail)
            }
        }
        return
    }
    // Transposed B: column j of op(B) is contiguous along p. Transpose in 8 x NR tiles: eight
    // consecutive p of every column go to eight packed rows (1.5 KiB at NR 48, which stays in
    // L1), rather than scattering whole columns down a 48 KiB sliver.
    let cs = b.colStride
    let rs = b.rowStride
    var out = dst
    var j0 = 0
    while j0 < nc {
        let cols = min(nr, nc - j0)
        let src = b.base + j0 * cs
        var p0 = 0
        if rs == 1 {
            while p0 + 8 <= kc {
                let o = out + p0 * nr
                for j in 0..<cols {
                    let v = UnsafeRawPointer(src + j * cs + p0).loadUnaligned(as: SIMD8<Float>.self)
                    o[j] = v[0]; o[nr + j] = v[1]; o[2 * nr + j] = v[2]; o[3 * nr + j] = v[3]
                    o[4 * nr + j] = v[4]; o[5 * nr + j] = v[5]; o[6 * nr + j] = v[6]; o[7 * nr + j] = v[7]
                }
                p0 += 8
            }
        }
        for p in p0..<kc {
            let o = out + p * nr
            for j in 0..<cols { o[j] = src[j * cs + p * rs] }
        }
        if cols < nr {
            for p in 0..<kc {
                (out + p * nr + cols).update(repeating: 0, count: nr - cols)
            }
        }
        out += kc * nr
        j0 += nr
    }
}
