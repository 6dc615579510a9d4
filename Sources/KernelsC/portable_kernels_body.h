/* The C forms of Swift kernels (GELU.swift, the batch-norm rows of BatchNorm2d.swift, RunSums of
   Reductions.swift, bf16 rounding), operation
   for operation, so they give the Swift code's bits: generic C, included by portable_kernels.c once
   per target inside a `#pragma clang attribute push(target(...))`, with FM_GELU_SUFFIX naming
   the copy and FM_GELU_LANES its vector width. No include guard: each inclusion is one copy.
   Private to KernelsC. */

#define FM_GELU_CAT2(a, b) a##_##b
#define FM_GELU_CAT(a, b) FM_GELU_CAT2(a, b)
#define FM_GELU_NAME(name) FM_GELU_CAT(name, FM_GELU_SUFFIX)
/* The lanes per vector: every operation is lane by lane, so each element gets the same bits at
   any width (16 for AVX-512; 8 for AVX2, where 16-lane values may not pass between functions). */
#define VF FM_GELU_CAT(vf, FM_GELU_LANES)
#define VI FM_GELU_CAT(vi, FM_GELU_LANES)
#define LANES FM_GELU_LANES
typedef float VF __attribute__((ext_vector_type(LANES)));
typedef int VI __attribute__((ext_vector_type(LANES)));

#ifndef INV_SQRT2
#define INV_SQRT2 0.70710677f  /* Float(0.5).squareRoot() */
#endif

static inline __attribute__((always_inline)) VF FM_GELU_NAME(sel)(VI mask, VF yes, VF no) {
    return (VF)((mask & (VI)yes) | (~mask & (VI)no));
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(horner)(VF p, VF v, float c) {
    return __builtin_elementwise_fma(p, v, (VF)c);
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(vector_erf)(VF x) {
    VF a = FM_GELU_NAME(sel)(x < 0, -x, x);
    VF z = a * a;
    VF p = (VF)7.933493886e-05f;
    p = FM_GELU_NAME(horner)(p, z, -8.034846650e-04f); p = FM_GELU_NAME(horner)(p, z, 5.191218377e-03f);
    p = FM_GELU_NAME(horner)(p, z, -2.685539945e-02f); p = FM_GELU_NAME(horner)(p, z, 1.128362573e-01f);
    p = FM_GELU_NAME(horner)(p, z, -3.761262988e-01f); p = FM_GELU_NAME(horner)(p, z, 1.128379167e+00f);
    VF small = p * a;
    VF t = a - 2.45f;
    VF q = (VF)9.257509716e-06f;
    q = FM_GELU_NAME(horner)(q, t, -2.640280808e-05f); q = FM_GELU_NAME(horner)(q, t, -4.957691738e-05f);
    q = FM_GELU_NAME(horner)(q, t, 3.060933033e-04f); q = FM_GELU_NAME(horner)(q, t, -4.168736017e-04f);
    q = FM_GELU_NAME(horner)(q, t, -4.286067271e-04f); q = FM_GELU_NAME(horner)(q, t, 2.993159067e-03f);
    q = FM_GELU_NAME(horner)(q, t, -6.977400300e-03f); q = FM_GELU_NAME(horner)(q, t, 1.024984483e-02f);
    q = FM_GELU_NAME(horner)(q, t, -1.023571336e-02f); q = FM_GELU_NAME(horner)(q, t, 6.836663143e-03f);
    q = FM_GELU_NAME(horner)(q, t, -2.789929231e-03f); q = FM_GELU_NAME(horner)(q, t, 5.305545647e-04f);
    VF result = FM_GELU_NAME(sel)(a < 1, small, 1 - q);
    result = FM_GELU_NAME(sel)(a >= 3.9f, (VF)1, result);
    result = FM_GELU_NAME(sel)(x < 0, -result, result);
    return FM_GELU_NAME(sel)(x != x, x, result);
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(vector_exp)(VF t) {
    VF u = FM_GELU_NAME(sel)(t >= -87, t, (VF)-87);
    u = FM_GELU_NAME(sel)(u > 88, (VF)88, u);
    const float shifter = 12582912.0f;
    VF shifted = __builtin_elementwise_fma(u, (VF)1.44269504088896341f, (VF)shifter);
    VF n = shifted - shifter;
    VF r = __builtin_elementwise_fma(n, (VF)-0.693359375f, u);
    r = __builtin_elementwise_fma(n, (VF)2.12194440e-4f, r);
    VF p = (VF)1.9875691500e-4f;
    p = FM_GELU_NAME(horner)(p, r, 1.3981999507e-3f); p = FM_GELU_NAME(horner)(p, r, 8.3334519073e-3f);
    p = FM_GELU_NAME(horner)(p, r, 4.1665795894e-2f); p = FM_GELU_NAME(horner)(p, r, 1.6666665459e-1f);
    p = FM_GELU_NAME(horner)(p, r, 5.0000001201e-1f);
    VF er = __builtin_elementwise_fma(r * r, p, 1 + r);
    VI bits = (VI)shifted - (VI)(VF)shifter;
    VF scale = (VF)((bits + 127) << 23);
    return FM_GELU_NAME(sel)(t < -87, (VF)0, er * scale);
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(gelu_cdf)(VF v) {
    return 0.5f * (1 + FM_GELU_NAME(vector_erf)(v * INV_SQRT2));
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(gelu)(VF v) { return v * FM_GELU_NAME(gelu_cdf)(v); }

static inline __attribute__((always_inline)) VF FM_GELU_NAME(gelu_gradient)(VF v, VF g, float invSqrt2Pi) {
    VF pdf = FM_GELU_NAME(vector_exp)(-0.5f * v * v) * invSqrt2Pi;
    return g * __builtin_elementwise_fma(v, pdf, FM_GELU_NAME(gelu_cdf)(v));
}

/* count (< LANES) floats at p, zero in the other lanes: the tail gets the same arithmetic. */
static inline __attribute__((always_inline)) VF FM_GELU_NAME(load_partial)(const float *p, long count) {
    VF v = (VF)0;
    for (long j = 0; j < count; j++) v[j] = p[j];
    return v;
}

static inline __attribute__((always_inline)) VF FM_GELU_NAME(load)(const float *p) {
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 1 / Float(2 pi).squareRoot(), as GELU.swift rounds it. */
static inline __attribute__((always_inline)) float FM_GELU_NAME(inv_sqrt_2pi)(void) {
    return 1.0f / __builtin_sqrtf((float)(2 * 3.14159265358979323846));
}

void FM_GELU_CAT(fm_gelu_forward, FM_GELU_SUFFIX)(const float *x, float *y, long count) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VF r = FM_GELU_NAME(gelu)(FM_GELU_NAME(load)(x + i));
        memcpy(y + i, &r, sizeof r);
    }
    if (i < count) {
        VF r = FM_GELU_NAME(gelu)(FM_GELU_NAME(load_partial)(x + i, count - i));
        for (long j = 0; j < count - i; j++) y[i + j] = r[j];
    }
}

void FM_GELU_CAT(fm_gelu_backward, FM_GELU_SUFFIX)(const float *x, const float *dy, float *dx, long count) {
    float c = FM_GELU_NAME(inv_sqrt_2pi)();
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VF r = FM_GELU_NAME(gelu_gradient)(FM_GELU_NAME(load)(x + i), FM_GELU_NAME(load)(dy + i), c);
        memcpy(dx + i, &r, sizeof r);
    }
    if (i < count) {
        VF r = FM_GELU_NAME(gelu_gradient)(FM_GELU_NAME(load_partial)(x + i, count - i),
                                           FM_GELU_NAME(load_partial)(dy + i, count - i), c);
        for (long j = 0; j < count - i; j++) dx[i + j] = r[j];
    }
}

/* ---- Batch-norm rows (BatchNorm2d.swift): plain loops, vectorised by the compiler for the
   target; elementwise, so the same bits at any width ---- */

/* One plane: y = x * scale + shift (then max with 0 where relu != 0, NaN kept); dx = scale * g +
   a * x + b with g = dy, or where masked != 0, g = dy where x * maskScale + maskShift > 0 and 0
   elsewhere (a fused ReLU's gradient). The chunk forms below run them plane by plane. */
static inline __attribute__((always_inline)) void FM_GELU_NAME(bn_forward_row)(const float *x, float *y, long count,
                                                                              float scale, float shift, int relu) {
    if (relu == FM_BN_GELU) {
        /* GELU(x * scale + shift): the product and sum of the plain row, then fm_gelu_forward's
           lanes (the tail zero-padded, as there), so the bits of the two passes it replaces. */
        long i = 0;
        for (; i + LANES <= count; i += LANES) {
            VF r = FM_GELU_NAME(gelu)(FM_GELU_NAME(load)(x + i) * scale + shift);
            memcpy(y + i, &r, sizeof r);
        }
        if (i < count) {
            VF r = FM_GELU_NAME(gelu)(FM_GELU_NAME(load_partial)(x + i, count - i) * scale + shift);
            for (long j = 0; j < count - i; j++) y[i + j] = r[j];
        }
    } else if (relu) {
        for (long i = 0; i < count; i++) {
            float v = x[i] * scale + shift;
            y[i] = v < 0 ? 0 : v;
        }
    } else {
        for (long i = 0; i < count; i++) y[i] = x[i] * scale + shift;
    }
}

static inline __attribute__((always_inline)) void FM_GELU_NAME(bn_backward_row)(const float *x, const float *dy, float *dx,
                                                                               long count, float scale, float a, float b,
                                                                               int masked, float maskScale, float maskShift) {
    if (masked) {
        for (long i = 0; i < count; i++) {
            float xi = x[i], gi = dy[i];
            float g = xi * maskScale + maskShift > 0 ? gi : 0;
            dx[i] = scale * g + a * xi + b;
        }
    } else {
        /* Whole vectors, so dx may be dy itself (the fused GELU's backward writes its dy into dx
           first): a plain loop would take the compiler's scalar fallback for overlapping arrays. */
        long i = 0;
        for (; i + LANES <= count; i += LANES) {
            VF r = scale * FM_GELU_NAME(load)(dy + i) + a * FM_GELU_NAME(load)(x + i) + b;
            memcpy(dx + i, &r, sizeof r);
        }
        for (; i < count; i++) dx[i] = scale * dy[i] + a * x[i] + b;
    }
}

/* A fused GELU's gradient through batch norm's affine map: dy = GELU'(x * scale + shift) dz over
   one plane, fm_gelu_backward's lanes on the forward pass's own product and sum, so the bits of
   the GELU layer's backward on the batch norm's output. dy may be dz. */
static inline __attribute__((always_inline)) void FM_GELU_NAME(bn_gelu_gradient_row)(const float *x, const float *dz,
                                                                                    float *dy, long count, float scale,
                                                                                    float shift, float invSqrt2Pi) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VF r = FM_GELU_NAME(gelu_gradient)(FM_GELU_NAME(load)(x + i) * scale + shift, FM_GELU_NAME(load)(dz + i),
                                           invSqrt2Pi);
        memcpy(dy + i, &r, sizeof r);
    }
    if (i < count) {
        VF r = FM_GELU_NAME(gelu_gradient)(FM_GELU_NAME(load_partial)(x + i, count - i) * scale + shift,
                                           FM_GELU_NAME(load_partial)(dz + i, count - i), invSqrt2Pi);
        for (long j = 0; j < count - i; j++) dy[i + j] = r[j];
    }
}

/* ---- RunSums.add (Reductions.swift): the same 2 x 16 interleaved lanes and scalar tail, so the
   same sums ---- */

static inline __attribute__((always_inline)) void FM_GELU_NAME(run_term)(int kind, VF g, VF x, VF *s, VF *d,
                                                                        float mean, float scale, float shift) {
    switch (kind) {
    case FM_RUN_SUM_PLAIN: *s += g; break;
    case FM_RUN_SUM_SQUARED_DEVIATIONS: { VF dev = x - mean; *d += dev * dev; break; }
    case FM_RUN_SUM_MASKED_CENTERED_DOT: g = FM_GELU_NAME(sel)(x * scale + shift > 0, g, (VF)0); /* fall through */
    default: *s += g; *d += g * (x - mean); break;
    }
}

static inline __attribute__((always_inline)) void FM_GELU_NAME(run_term1)(int kind, float g, float x, float *s,
                                                                         float *d, float mean, float scale,
                                                                         float shift) {
    switch (kind) {
    case FM_RUN_SUM_PLAIN: *s += g; break;
    case FM_RUN_SUM_SQUARED_DEVIATIONS: { float dev = x - mean; *d += dev * dev; break; }
    case FM_RUN_SUM_MASKED_CENTERED_DOT: g = x * scale + shift > 0 ? g : 0; /* fall through */
    default: *s += g; *d += g * (x - mean); break;
    }
}

/* RunSums' state as run_sums keeps it in registers: 2 x 16 lanes of sums s and of dots d, and the
   scalar tail's, from and to acc[66] (s lanes 0..<32, d lanes 32..<64, tails 64 and 65). */
#define FM_RUN_NV (16 / LANES)
static inline __attribute__((always_inline)) void FM_GELU_NAME(acc_load)(const float *acc, VF s[2][FM_RUN_NV],
                                                                        VF d[2][FM_RUN_NV], float *sTail,
                                                                        float *dTail) {
    for (int h = 0; h < 2; h++)
        for (int v = 0; v < FM_RUN_NV; v++) {
            s[h][v] = FM_GELU_NAME(load)(acc + 16 * h + v * LANES);
            d[h][v] = FM_GELU_NAME(load)(acc + 16 * (2 + h) + v * LANES);
        }
    *sTail = acc[64];
    *dTail = acc[65];
}

static inline __attribute__((always_inline)) void FM_GELU_NAME(acc_store)(float *acc, VF s[2][FM_RUN_NV],
                                                                         VF d[2][FM_RUN_NV], float sTail,
                                                                         float dTail) {
    for (int h = 0; h < 2; h++)
        for (int v = 0; v < FM_RUN_NV; v++) {
            memcpy(acc + 16 * h + v * LANES, &s[h][v], sizeof(VF));
            memcpy(acc + 16 * (2 + h) + v * LANES, &d[h][v], sizeof(VF));
        }
    acc[64] = sTail;
    acc[65] = dTail;
}

/* One vector of run_sums at offset `at`: the term of g and x, g first turned into a fused GELU's
   gradient and stored at dy for FM_RUN_SUM_GELU_CENTERED_DOT. */
static inline __attribute__((always_inline)) void FM_GELU_NAME(run_vector)(int kind, const float *g, const float *x,
                                                                          float *dy, long at, VF *s, VF *d,
                                                                          float mean, float scale, float shift,
                                                                          float invSqrt2Pi) {
    VF gv = FM_GELU_NAME(load)(g + at), xv = FM_GELU_NAME(load)(x + at);
    if (kind == FM_RUN_SUM_GELU_CENTERED_DOT) {
        gv = FM_GELU_NAME(gelu_gradient)(xv * scale + shift, gv, invSqrt2Pi);
        memcpy(dy + at, &gv, sizeof gv);
    }
    FM_GELU_NAME(run_term)(kind, gv, xv, s, d, mean, scale, shift);
}

/* One kind's loop (kind a constant once inlined) over `runs` runs of n elements, run r at
   g + r * stride and x + r * stride. The partial sums stay in registers from one run to the next
   (batch norm hands over a whole group of images' planes at once: at 4x4 planes a call per plane
   cost more than its 16 elements); the order of the additions is that of one call per run.
   FM_RUN_SUM_GELU_CENTERED_DOT: g is a fused GELU's output gradient dz; each term's g is
   GELU'(x * scale + shift) dz instead (bn_gelu_gradient_row's lanes), written to dy (its run r at
   dy + r * stride) as it is summed: the bits of writing dy first and summing it as CENTERED_DOT. */
static inline __attribute__((always_inline)) void FM_GELU_NAME(run_sums)(int kind, const float *gRuns,
                                                                        const float *xRuns, float *dyRuns, long n,
                                                                        long runs, long stride,
                                                                        float mean, float scale, float shift,
                                                                        float *acc) {
    enum { NV = FM_RUN_NV };
    const int gelu = kind == FM_RUN_SUM_GELU_CENTERED_DOT;
    const float invSqrt2Pi = FM_GELU_NAME(inv_sqrt_2pi)();
    VF s[2][NV], d[2][NV];
    float sTail, dTail;
    FM_GELU_NAME(acc_load)(acc, s, d, &sTail, &dTail);
    for (long r = 0; r < runs; r++) {
        const float *g = gRuns + r * stride, *x = xRuns + r * stride;
        float *dy = gelu ? dyRuns + r * stride : 0;
        long i = 0;
        for (; i + 32 <= n; i += 32)
            for (int h = 0; h < 2; h++)
                for (int v = 0; v < NV; v++)
                    FM_GELU_NAME(run_vector)(kind, g, x, dy, i + 16 * h + v * LANES, &s[h][v], &d[h][v], mean, scale,
                                             shift, invSqrt2Pi);
        if (i + 16 <= n) {
            for (int v = 0; v < NV; v++)
                FM_GELU_NAME(run_vector)(kind, g, x, dy, i + v * LANES, &s[0][v], &d[0][v], mean, scale, shift,
                                         invSqrt2Pi);
            i += 16;
        }
        if (gelu && i < n) FM_GELU_NAME(bn_gelu_gradient_row)(x + i, g + i, dy + i, n - i, scale, shift, invSqrt2Pi);
        for (; i < n; i++)
            FM_GELU_NAME(run_term1)(kind, gelu ? dy[i] : g[i], x[i], &sTail, &dTail, mean, scale, shift);
    }
    FM_GELU_NAME(acc_store)(acc, s, d, sTail, dTail);
}

void FM_GELU_CAT(fm_run_sums_strided, FM_GELU_SUFFIX)(int kind, const float *g, const float *x, long n, long runs,
                                                      long stride, float mean, float scale, float shift,
                                                      float *acc) {
    switch (kind) {
    case FM_RUN_SUM_PLAIN:
        FM_GELU_NAME(run_sums)(FM_RUN_SUM_PLAIN, g, x, 0, n, runs, stride, mean, scale, shift, acc); break;
    case FM_RUN_SUM_SQUARED_DEVIATIONS:
        FM_GELU_NAME(run_sums)(FM_RUN_SUM_SQUARED_DEVIATIONS, g, x, 0, n, runs, stride, mean, scale, shift, acc); break;
    case FM_RUN_SUM_CENTERED_DOT:
        FM_GELU_NAME(run_sums)(FM_RUN_SUM_CENTERED_DOT, g, x, 0, n, runs, stride, mean, scale, shift, acc); break;
    default:
        FM_GELU_NAME(run_sums)(FM_RUN_SUM_MASKED_CENTERED_DOT, g, x, 0, n, runs, stride, mean, scale, shift, acc); break;
    }
}

/* ---- Batch norm's passes over a chunk of channels, image by image (BatchNorm2d.swift): for each
   image, the chunk's planes are one stretch of memory, read front to back. One channel at a time,
   through all the images (c planes apart), each plane began with misses all the way to memory
   (a hardware prefetcher does not jump), and the sums ran at half the memory's speed or less.
   The arithmetic is the per-channel code's, in the same order, so the same bits. ---- */

/* RunSums.total: (s0 + s1).sum() + tail and (d0 + d1).sum() + tail, Swift's SIMD sum() being
   -0 plus the lanes in order. */
static inline __attribute__((always_inline)) void FM_GELU_NAME(run_total)(const float *acc, float *sum, float *dot) {
    float s = -0.0f, d = -0.0f;
    for (int i = 0; i < 16; i++) {
        s += acc[i] + acc[16 + i];
        d += acc[32 + i] + acc[48 + i];
    }
    *sum = s + acc[64];
    *dot = d + acc[65];
}

static inline __attribute__((always_inline)) void FM_GELU_NAME(chunk_sums)(int kind, const float *g, const float *x,
                                                                          float *dy, long n, long c, long plane, long group,
                                                                          long ch0, long count, const float *params,
                                                                          double *sums, double *dots) {
    float acc[FM_CHANNEL_CHUNK][66];
    for (long k = 0; k < count; k++) sums[k] = dots[k] = 0;
    for (long first = 0; first < n; first += group) {
        const long last = first + group < n ? first + group : n;
        memset(acc, 0, sizeof acc);
        for (long image = first; image < last; image++) {
            const long base = (image * c + ch0) * plane;
            for (long k = 0; k < count; k++)
                FM_GELU_NAME(run_sums)(kind, g + base + k * plane, x + base + k * plane, dy ? dy + base + k * plane : 0,
                                       plane, 1, 0,
                                       params ? params[3 * k] : 0, params ? params[3 * k + 1] : 0,
                                       params ? params[3 * k + 2] : 0, acc[k]);
        }
        for (long k = 0; k < count; k++) {
            float s, d;
            FM_GELU_NAME(run_total)(acc[k], &s, &d);
            sums[k] += (double)s;
            dots[k] += (double)d;
        }
    }
}

void FM_GELU_CAT(fm_channel_chunk_sums, FM_GELU_SUFFIX)(int kind, const float *g, const float *x, long n, long c,
                                                       long plane, long group, long ch0, long count,
                                                       const float *params, double *sums, double *dots) {
    switch (kind) {
    case FM_RUN_SUM_PLAIN:
        FM_GELU_NAME(chunk_sums)(FM_RUN_SUM_PLAIN, g, x, 0, n, c, plane, group, ch0, count, params, sums, dots); break;
    case FM_RUN_SUM_SQUARED_DEVIATIONS:
        FM_GELU_NAME(chunk_sums)(FM_RUN_SUM_SQUARED_DEVIATIONS, g, x, 0, n, c, plane, group, ch0, count, params, sums, dots); break;
    case FM_RUN_SUM_CENTERED_DOT:
        FM_GELU_NAME(chunk_sums)(FM_RUN_SUM_CENTERED_DOT, g, x, 0, n, c, plane, group, ch0, count, params, sums, dots); break;
    default:
        FM_GELU_NAME(chunk_sums)(FM_RUN_SUM_MASKED_CENTERED_DOT, g, x, 0, n, c, plane, group, ch0, count, params, sums, dots); break;
    }
}

/* chunk_sums of a fused GELU's gradient (FM_RUN_SUM_GELU_CENTERED_DOT): dy written as it is
   summed, one pass over x and dz instead of writing dy and reading it back. */
void FM_GELU_CAT(fm_bn_gelu_gradient_sums_chunk, FM_GELU_SUFFIX)(const float *x, const float *dz, float *dy, long n,
                                                                long c, long plane, long group, long ch0, long count,
                                                                const float *params, double *sums, double *dots) {
    FM_GELU_NAME(chunk_sums)(FM_RUN_SUM_GELU_CENTERED_DOT, dz, x, dy, n, c, plane, group, ch0, count, params, sums,
                             dots);
}

void FM_GELU_CAT(fm_bn_forward_chunk, FM_GELU_SUFFIX)(const float *x, float *y, long n, long c, long plane, long ch0,
                                                     long count, const float *coefficients, int relu) {
    for (long image = 0; image < n; image++) {
        const long base = (image * c + ch0) * plane;
        for (long k = 0; k < count; k++)
            FM_GELU_NAME(bn_forward_row)(x + base + k * plane, y + base + k * plane, plane, coefficients[2 * k],
                                         coefficients[2 * k + 1], relu);
    }
}

void FM_GELU_CAT(fm_bn_backward_chunk, FM_GELU_SUFFIX)(const float *x, const float *dy, float *dx, long n, long c,
                                                      long plane, long ch0, long count, const float *coefficients,
                                                      int masked) {
    for (long image = 0; image < n; image++) {
        const long base = (image * c + ch0) * plane;
        for (long k = 0; k < count; k++) {
            const float *q = coefficients + 5 * k;
            FM_GELU_NAME(bn_backward_row)(x + base + k * plane, dy + base + k * plane, dx + base + k * plane, plane,
                                          q[0], q[1], q[2], masked, q[3], q[4]);
        }
    }
}

void FM_GELU_CAT(fm_bn_gelu_gradient_chunk, FM_GELU_SUFFIX)(const float *x, const float *dz, float *dy, long n,
                                                           long c, long plane, long ch0, long count,
                                                           const float *coefficients) {
    const float invSqrt2Pi = FM_GELU_NAME(inv_sqrt_2pi)();
    for (long image = 0; image < n; image++) {
        const long base = (image * c + ch0) * plane;
        for (long k = 0; k < count; k++)
            FM_GELU_NAME(bn_gelu_gradient_row)(x + base + k * plane, dz + base + k * plane, dy + base + k * plane,
                                               plane, coefficients[2 * k], coefficients[2 * k + 1], invSqrt2Pi);
    }
}

/* ---- bf16 rounding in place (fm_bf16_round_floats): a plain loop on the bits, vectorised by the
   compiler for the target ---- */

void FM_GELU_CAT(fm_bf16_round_floats, FM_GELU_SUFFIX)(float *x, long count) {
    for (long i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        bits = bf16_round_bits(bits);
        memcpy(x + i, &bits, 4);
    }
}

/* ---- packB for B as stored (GEMMPacking.swift): each of the kc rows of the block read left to
   right and dropped in nr-wide pieces into the slivers ([nc/nr][kc][nr]), a ragged last sliver
   zero-padded. A copy, so any width gives the same bits; it runs at the target's vector width
   (B is read from memory here, and the 128-bit loop of the baseline Swift build lost 10% on the
   short-K im2col shapes). ---- */

void FM_GELU_CAT(fm_pack_b_rows, FM_GELU_SUFFIX)(const float *b, long rowStride, long kc, long nc, long nr,
                                                 float *dst) {
    long full = nc / nr, tail = nc - full * nr, sliverStride = kc * nr;
    for (long p = 0; p < kc; p++) {
        const float *src = b + p * rowStride;
        float *out = dst + p * nr;
        if (nr % LANES == 0) {
            for (long s = 0; s < full; s++) {
                for (long v = 0; v < nr; v += LANES) {
                    VF x;
                    memcpy(&x, src + v, sizeof x);
                    memcpy(out + v, &x, sizeof x);
                }
                src += nr;
                out += sliverStride;
            }
        } else {
            for (long s = 0; s < full; s++) {
                memcpy(out, src, (size_t)nr * sizeof(float));
                src += nr;
                out += sliverStride;
            }
        }
        if (tail > 0) {
            memcpy(out, src, (size_t)tail * sizeof(float));
            memset(out + tail, 0, (size_t)(nr - tail) * sizeof(float));
        }
    }
}

#undef VF
#undef VI
#undef LANES
