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
            // A as stored: each row is contiguous along p; scatter it with stride MR.
            for r in 0..<rows {
                let row = src + r * a.rowStride
                let cs = a.colStride
                for p in 0..<kc { out[p * mr + r] = row[p * cs] }
            }
            if rows < mr {
                for p in 0..<kc {
                    for r in rows..<mr { out[p * mr + r] = 0 }
                }
            }
        }
        out += kc * mr
        i0 += mr
    }
}

/// Packs op(B)[0..<kc, 0..<nc] into NR-column slivers: sliver s holds, for each p in 0..<kc,
/// the NR values B[p, s*NR + 0..<NR] (layout [nc/NR][kc][NR]).
func packB(_ b: GEMMOperand, kc: Int, nc: Int, nr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var j0 = 0
    while j0 < nc {
        let cols = min(nr, nc - j0)
        let src = b.base + j0 * b.colStride
        if b.colStride == 1 {
            // B as stored: the NR values of one p are contiguous.
            let rs = b.rowStride
            if cols == nr {
                for p in 0..<kc {
                    (out + p * nr).update(from: src + p * rs, count: nr)
                }
            } else {
                for p in 0..<kc {
                    let o = out + p * nr
                    o.update(from: src + p * rs, count: cols)
                    (o + cols).update(repeating: 0, count: nr - cols)
                }
            }
        } else {
            // Transposed B: each column j is contiguous along p; scatter with stride NR.
            let cs = b.colStride
            let rs = b.rowStride
            for j in 0..<cols {
                let col = src + j * cs
                for p in 0..<kc { out[p * nr + j] = col[p * rs] }
            }
            if cols < nr {
                for p in 0..<kc {
                    (out + p * nr + cols).update(repeating: 0, count: nr - cols)
                }
            }
        }
        out += kc * nr
        j0 += nr
    }
}
