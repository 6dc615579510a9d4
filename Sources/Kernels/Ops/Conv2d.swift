// 2-D convolution (cross-correlation, as PyTorch's conv2d: the kernel is not flipped).
//
//   x  [N, C, H, W]      weight [O, C, kh, kw]      bias [O]      y [N, O, Ho, Wo]
//   Ho = (H + 2 padding - kh) / stride + 1      Wo = (W + 2 padding - kw) / stride + 1
//
//   y[n,o,oy,ox] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x[n, c, oy*stride - padding + i, ox*stride - padding + j]
//   (x is zero outside the image)
//
//   dW[o,c,i,j] = sum_{n,oy,ox} dy[n,o,oy,ox] * x[n, c, oy*stride - padding + i, ox*stride - padding + j]
//   dx = the adjoint of the forward map applied to dy;  dbias[o] = sum_{n,oy,ox} dy[n,o,oy,ox]
//
// The public entry points are here; which method computes each pass (direct loops, Winograd
// F(2x2, 3x3) or F(4x4, 3x3), the AVX-512 vector direct kernels, the panel GEMMs, im2col) is
// decided in Conv2dDispatch.swift (`Conv2dDispatch.choose`, with its table of rules and
// measurements), and each method lives in its own file: Conv2dDirect.swift, Conv2dWinograd.swift,
// Conv2dWinogradWeightGradient.swift, Conv2dVectorDirect.swift, Conv2dPanels.swift,
// Conv2dIm2col.swift. Geometry, scratch and the split over threads: Conv2dGeometry.swift. Every
// method splits the batch statically over the threads, so results depend only on the thread count.

/// Convolution of `x` [N,C,H,W] with `weight` [O,C,kh,kw] (cross-correlation, zero padding),
/// plus `bias` [O] if given: returns [N,O,Ho,Wo]. Allocating convenience over `conv2dForward`.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    var y = Tensor.empty
    var scratch = Conv2dScratch()
    conv2dForward(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y, scratch: &scratch)
    return y
}

/// Forward convolution into `y` (resized to [N,O,Ho,Wo]) by the method chosen for the shape,
/// CPU and `precision` (direct loops, Winograd, the AVX-512 vector direct kernel or a panel GEMM
/// in fp32; im2col + bf16gemm in bf16; Conv2dDispatch.swift has the rules).
/// All compute the same sums up to rounding (bf16: of the operands rounded to bf16).
public func conv2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
    into y: inout Tensor, scratch: inout Conv2dScratch, precision: Precision = .current
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    if let bias { require(bias.count == g.outChannels, "conv2d: bias has \(bias.count) elements, expected \(g.outChannels)") }
    let method = Conv2dDispatch.plan(for: g, precision: precision).forward
    scratch.lastForward = method
    y.resize(g.batch, g.outChannels, g.outHeight, g.outWidth)
    withOptionalBuffer(bias) { biasp in
    weight.withUnsafeBufferPointer { wp in
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        convolve(g, input: xp.baseAddress!, weight: wp.baseAddress!, bias: biasp, output: yp.baseAddress!,
                 method: method, scratch: &scratch)
    }}}}
}

/// The forward convolution `g` by `method` on raw buffers: weight [O, C*kh*kw], bias [O] or
/// nil, input and output NCHW.
func convolve(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
              bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
              method: ConvForwardMethod, scratch: inout Conv2dScratch) {
    switch method {
    case .directLoops:
        convDirectLoops(g, input: input, weight: weight, bias: bias, output: output)
    case .winogradF2, .winogradF4, .winogradF2BF16, .winogradF4BF16:
        convWinogradForward(g, input: input, weight: weight, bias: bias, output: output,
                            f4: method == .winogradF4 || method == .winogradF4BF16,
                            bf16: method == .winogradF2BF16 || method == .winogradF4BF16, scratch: &scratch)
    case .vectorDirect, .vectorDirectBF16:
        convVectorDirectForward(g, input: input, weight: weight, bias: bias, output: output,
                                bf16: method == .vectorDirectBF16, scratch: &scratch)
    case .rowDirect:
        convRowDirectForward(g, input: input, weight: weight, bias: bias, output: output, scratch: &scratch)
    case .paddedPanels, .tapPanels:
        convPanelForward(g, input: input, weight: weight, bias: bias, output: output,
                         padded: method == .paddedPanels, scratch: &scratch)
    case .amxDirect:
        convAMXForward(g, input: input, weight: weight, bias: bias, output: output, scratch: &scratch)
    case .bf16Im2col:
        convIm2colForward(g, input: input, weight: weight, bias: bias, output: output, scratch: &scratch)
    }
}

/// Backward convolution: overwrites `gradWeight` ([O,C,kh,kw]) and, when `computeGradInput`,
/// `gradInput` ([N,C,H,W]) by the methods chosen for the shape, CPU and `precision` (as the
/// forward pass). The bias gradient is `conv2dBiasBackward` (fp32 in either precision). The first
/// layer of a network can skip the input gradient it would throw away; a frozen weight
/// (`computeGradWeight` false) its weight gradient, which is then written as zeros.
public func conv2dBackward(
    input x: Tensor, weight: Tensor, gradOutput dy: Tensor, stride: Int, padding: Int,
    gradInput dx: inout Tensor, gradWeight dw: inout Tensor, computeGradInput: Bool = true,
    computeGradWeight: Bool = true, scratch: inout Conv2dScratch, precision: Precision = .current
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    require(dy.rank == 4 && dy.shape[0] == g.batch && dy.shape[1] == g.outChannels
                 && dy.shape[2] == g.outHeight && dy.shape[3] == g.outWidth,
                 "conv2d backward: gradient shape \(dy.shape) does not match the output")
    let plan = Conv2dDispatch.plan(for: g, precision: precision)
    // The im2col input gradients share their weight gradient's columns, so they compute both.
    let sharesColumns = (plan.weightGradient == .im2col && plan.inputGradient == .im2col)
        || (plan.weightGradient == .bf16Im2col && plan.inputGradient == .bf16Im2col)
    let weightGradientRuns = computeGradWeight || (computeGradInput && sharesColumns)
    scratch.lastWeightGradient = weightGradientRuns ? plan.weightGradient : nil
    scratch.lastInputGradient = computeGradInput ? plan.inputGradient : nil
    dw.resize(to: weight.shape)
    if computeGradInput { dx.resize(like: x) }
    if weightGradientRuns {
    x.withUnsafeBufferPointer { xp in
    dy.withUnsafeBufferPointer { dyp in
    dw.withUnsafeMutableBufferPointer { dwp in
        let (input, gradOutput, gradWeight) = (xp.baseAddress!, dyp.baseAddress!, dwp.baseAddress!)
        switch plan.weightGradient {
        case .im2col, .bf16Im2col:
            // The im2col input gradient (stride > 1 and the like) shares this pass's columns
            // (`sharesColumns`, above).
            let precision: Precision = plan.weightGradient == .bf16Im2col ? .bf16 : .fp32
            weight.withUnsafeBufferPointer { wp in
                if computeGradInput && sharesColumns {
                    dx.withUnsafeMutableBufferPointer { dxp in
                        convIm2colBackward(g, input: input, weight: wp.baseAddress!, gradOutput: gradOutput,
                                           gradWeight: gradWeight, gradInput: dxp.baseAddress!, precision: precision,
                                           scratch: &scratch)
                    }
                } else {
                    convIm2colBackward(g, input: input, weight: wp.baseAddress!, gradOutput: gradOutput,
                                       gradWeight: gradWeight, gradInput: nil, precision: precision, scratch: &scratch)
                }
            }
        case .winogradF2, .winogradF4, .winogradF2BF16:
            convWinogradWeightGradient(g, input: input, gradOutput: gradOutput, gradWeight: gradWeight,
                                       tile: plan.weightGradient == .winogradF4 ? 4 : 2,
                                       bf16: plan.weightGradient == .winogradF2BF16, scratch: &scratch)
        case .broadcast, .broadcastBF16:
            convBroadcastWeightGradient(g, input: input, gradOutput: gradOutput, gradWeight: gradWeight,
                                        bf16: plan.weightGradient == .broadcastBF16, scratch: &scratch)
        case .amxDirect:
            convAMXWeightGradient(g, input: input, gradOutput: gradOutput, gradWeight: gradWeight, scratch: &scratch)
        case .vectorDot:
            convVectorDotWeightGradient(g, input: input, gradOutput: gradOutput, gradWeight: gradWeight, scratch: &scratch)
        case .rowDirect:
            convRowDirectWeightGradient(g, input: input, gradOutput: gradOutput, gradWeight: gradWeight, scratch: &scratch)
        }
    }}}
    }
    if !computeGradWeight { dw.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
    if computeGradInput, case .flippedKernel(let method) = plan.inputGradient {
        conv2dInputGradientByFlippedKernel(g, weight: weight, gradOutput: dy, gradInput: &dx, method: method,
                                           scratch: &scratch)
    }
}

// Input gradient of a stride-1 convolution, as a forward convolution:
//
//   dx[n,c,iy,ix] = sum_{o,i,j} weight[o,c,i,j] * dy[n,o,iy+p-i,ix+p-j]      (dy is 0 outside)
//                 = sum_{o,i',j'} flip[c,o,i',j'] * dy[n,o,iy-(k-1-p)+i',ix-(k-1-p)+j']
//   flip[c,o,i',j'] = weight[o,c,k-1-i',k-1-j']          flip [C,O,k,k],  padding k-1-p
//
// so it runs on the same packed panels as the forward pass, with K = O*k*k rather than the
// K = O of W^T * dY, and without a columns matrix to scatter back.

/// Overwrites `dx` ([N,C,H,W]) with the input gradient of a stride-1 convolution, computed as
/// the forward convolution `g.flippedInputGradient` by `method`.
func conv2dInputGradientByFlippedKernel(_ g: Conv2dGeometry, weight: Tensor, gradOutput dy: Tensor,
                                        gradInput dx: inout Tensor, method: ConvForwardMethod,
                                        scratch: inout Conv2dScratch) {
    let k = g.kernelHeight, kk = k * k
    let (o, c) = (g.outChannels, g.inChannels)
    scratch.flippedWeight.growScratch(to: c * o * kk)
    weight.withUnsafeBufferPointer { wp in
    scratch.flippedWeight.withUnsafeMutableBufferPointer { fp in
        for oc in 0..<o {
            for ic in 0..<c {
                let src = wp.baseAddress! + (oc * c + ic) * kk
                let dst = fp.baseAddress! + (ic * o + oc) * kk
                for t in 0..<kk { dst[t] = src[kk - 1 - t] }
            }
        }
    }}
    let flipped = scratch.flippedWeight
    flipped.withUnsafeBufferPointer { fp in
    dy.withUnsafeBufferPointer { dyp in
    dx.withUnsafeMutableBufferPointer { dxp in
        convolve(g.flippedInputGradient, input: dyp.baseAddress!, weight: fp.baseAddress!, bias: nil,
                 output: dxp.baseAddress!, method: method, scratch: &scratch)
    }}}
}

/// dbias[o] = sum over n, oy, ox of dy[n,o,oy,ox], into `gradBias` ([O]).
/// Shared by every layer whose output is NCHW with a per-channel bias or shift.
public func conv2dBiasBackward(gradOutput dy: Tensor, into gradBias: inout Tensor) {
    channelSums(dy, into: &gradBias)
}

/// out[c] = sum over n, h, w of x[n,c,h,w] (Float sums over groups of images, totalled in Double:
/// a fixed order; `channelChunkTotals`, as batch norm's statistics).
func channelSums(_ x: Tensor, into out: inout Tensor) {
    require(x.rank == 4, "expected [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3]
    if out.shape.count != 1 || out.shape[0] != c { out.resize(to: [c]) }
    x.withUnsafeBufferPointer { xp in
    out.withUnsafeMutableBufferPointer { op in
        let src = xp.baseAddress!, dst = op.baseAddress!, cpu = CPUFeatures.enabled
        forEachChannelChunk(c) { chunk in
            channelChunkTotals(src, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu, kind: { _ in PlainSum() }) { ch, sum, _ in
                dst[ch] = Float(sum)
            }
        }
    }}
}
