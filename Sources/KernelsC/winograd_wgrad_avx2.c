#include "KernelsC.h"

#include <string.h>
#include "winograd_wgrad_run.h"

/* The F(4x4, 3x3) Winograd weight gradient (WinogradWeightGradient.h) for x86-64 with AVX2 and
   FMA but no AVX-512: winograd_wgrad_avx512.c's transforms, products and fold on 8-lane vectors
   (clang's vector type with a function target attribute, as winograd_avx2.c), run by the same
   plan and block loop (winograd_wgrad_run.h). Channel counts are rounded up to 16 there, so every
   channel run is two whole vectors here. fp32 only. */

#if defined(__x86_64__)
#include <immintrin.h>
#include "winograd_f4_vec8.h"

/* dst[k*ldd + r] = src[r*lds + k] for r, k < 8 and k < cols: one 8 x 8 block in registers
   (vec8_avx2.h's transpose8x8), the columns past cols (1...8) masked out of the loads and not
   stored. */
V8_TARGET static inline void transpose_block(const float *src, long lds, float *dst, long ldd, long cols) {
    v8f r[8], c[8];
    if (cols >= 8) {
#pragma clang loop unroll(full)
        for (int k = 0; k < 8; k++) r[k] = load8(src + k * lds);
    } else {
        const __m256i mask = first_lanes(cols);
#pragma clang loop unroll(full)
        for (int k = 0; k < 8; k++) r[k] = (v8f)_mm256_maskload_ps(src + k * lds, mask);
    }
    transpose8x8(r, c);
#pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++)
        if (k < cols) store8(dst + k * ldd, c[k]);
}

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: 8 x 8 blocks in registers (the last
   columns of each 8 rows by masked loads: airbench's rows are 7 and 15 wide), the rows past
   the last 8 one float at a time. */
V8_TARGET static void transpose_avx2(const float *src, long rows, long cols, long lds, float *dst, long ldd) {
    const long fullRows = rows / 8 * 8;
    for (long r0 = 0; r0 < fullRows; r0 += 8)
        for (long c0 = 0; c0 < cols; c0 += 8)
            transpose_block(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd, cols - c0);
    for (long r = fullRows; r < rows; r++)
        for (long c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

/* (a, b, c, d) lifted by F(4x4)'s A (rows 1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1). */
V8_TARGET static inline void lift6(v8f a, v8f b, v8f c, v8f d, v8f *r) {
    v8f e = a + c, f = b + d;
    v8f e4 = fma8((v8f)4.0f, c, a);          /* a + 4c */
    v8f f8 = fma8((v8f)8.0f, d, b + b);      /* 2b + 8d */
    r[0] = a;
    r[1] = e + f;
    r[2] = e - f;
    r[3] = e4 + f8;
    r[4] = e4 - f8;
    r[5] = d;
}

/* V[tile][c] = B^T d B for the tiles of rows [ty0, ty1), d the 6x6 patch of the channel-last padded
   image, 8 channels a vector: B^T down each column, then along each row. */
V8_TARGET static void input_transform(const WinoPlan *p, const float *xT, long ty0, long ty1, float *v, long tileBase,
                                      long ldp) {
    const long cp = p->cp;
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx++) {
            const float *d0 = xT + ((4 * ty) * p->wpp + 4 * tx) * cp;
            float *out = v + (tileBase + (ty - ty0) * p->tw + tx) * cp;
            for (long k = 0; k < cp; k += 8) {
                v8f t[6][6];
#pragma clang loop unroll(full)
                for (int s = 0; s < 6; s++) {
                    v8f d[6], r[6];
#pragma clang loop unroll(full)
                    for (int q = 0; q < 6; q++) d[q] = load8(d0 + (q * p->wpp + s) * cp + k);
                    bt6(d, r);
#pragma clang loop unroll(full)
                    for (int i = 0; i < 6; i++) t[i][s] = r[i];
                }
#pragma clang loop unroll(full)
                for (int i = 0; i < 6; i++) {
                    v8f r[6];
                    bt6(t[i], r);
#pragma clang loop unroll(full)
                    for (int j = 0; j < 6; j++) store8(out + (6 * i + j) * ldp + k, r[j]);
                }
            }
        }
}

/* Z[tile][o] = A dY A^T for the 4x4 tiles of dY (channel-last, zero past the image's edge) of rows
   [ty0, ty1): each row lifted to 6, then each of the 6 columns. */
V8_TARGET static void gradient_transform(const WinoPlan *p, const float *dyT, long ty0, long ty1, float *z, long tileBase,
                                         long ldp) {
    const long op = p->op, row = 4 * p->tw * op;
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx++) {
            const float *g0 = dyT + (4 * ty) * row + 4 * tx * op;
            float *out = z + (tileBase + (ty - ty0) * p->tw + tx) * op;
            for (long k = 0; k < op; k += 8) {
                v8f l[4][6];
#pragma clang loop unroll(full)
                for (int r = 0; r < 4; r++) {
                    const float *g = g0 + r * row + k;
                    lift6(load8(g), load8(g + op), load8(g + 2 * op), load8(g + 3 * op), l[r]);
                }
#pragma clang loop unroll(full)
                for (int j = 0; j < 6; j++) {
                    v8f c[6];
                    lift6(l[0][j], l[1][j], l[2][j], l[3][j], c);
#pragma clang loop unroll(full)
                    for (int i = 0; i < 6; i++) store8(out + (6 * i + j) * ldp + k, c[i]);
                }
            }
        }
}

/* u[i][k] += sum_t z[t*ldz + i] * v[t*ldv + k] for i < R, k < 16: R x 2 accumulators over the
   whole block of tiles, per tile two loads and R broadcasts (R <= 6: 12 accumulators, 2 loads
   and a broadcast in the 16 ymm registers). */
V8_TARGET __attribute__((always_inline))
static inline void product_tile(long tiles, const float *v, long ldv, const float *z, long ldz, float *u, long ldu,
                                const int R) {
    v8f acc[6][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++) {
        acc[i][0] = load8(u + i * ldu);
        acc[i][1] = load8(u + i * ldu + 8);
    }
    for (long t = 0; t < tiles; t++) {
        const v8f v0 = load8(v + t * ldv), v1 = load8(v + t * ldv + 8);
        const float *zt = z + t * ldz;
#pragma clang loop unroll(full)
        for (int i = 0; i < R; i++) {
            const v8f b = (v8f)zt[i];
            acc[i][0] = fma8(b, v0, acc[i][0]);
            acc[i][1] = fma8(b, v1, acc[i][1]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++) {
        store8(u + i * ldu, acc[i][0]);
        store8(u + i * ldu + 8, acc[i][1]);
    }
}

typedef void (*ProductKernel)(long, const float *, long, const float *, long, float *, long);

#define PRODUCT(R) \
V8_TARGET static void product_##R(long n, const float *v, long ldv, const float *z, long ldz, float *u, long ldu) { \
    product_tile(n, v, ldv, z, ldz, u, ldu, R); \
}
PRODUCT(1) PRODUCT(2) PRODUCT(3) PRODUCT(4) PRODUCT(5) PRODUCT(6)
static const ProductKernel productKernels[6] = {product_1, product_2, product_3, product_4, product_5, product_6};

/* du[p] (O x Cp) += Z[p] (tiles x O)^T * V[p] (tiles x Cp) for every position, 16 channels and
   6 output channels a call, prefetching the next images a little each call. */
V8_TARGET static void accumulate_products(const WinoPlan *p, long outChannels, long tiles, const float *v, long ldv,
                                          const float *z, long ldz, float *du, Ahead *ahead) {
    const long cp = p->cp;
    const long calls = p->positions * (cp / 16) * ((outChannels + 5) / 6);
    const long perCall = (ahead->end - ahead->first + calls - 1) / calls;
    for (long pos = 0; pos < p->positions; pos++) {
        const float *vp = v + pos * ldv, *zp = z + pos * ldz;
        float *up = du + pos * outChannels * cp;
        for (long c0 = 0; c0 < cp; c0 += 16)
            for (long o0 = 0; o0 < outChannels; o0 += 6) {
                const long r = outChannels - o0 < 6 ? outChannels - o0 : 6;
                prefetch_some(ahead, perCall);
                productKernels[r - 1](tiles, vp + c0, cp, zp + o0, p->op, up + o0 * cp + c0, cp);
            }
    }
}

/* dw[o][c][a][b] = sum_{i,j} G[i][a] du[6i+j][o][c] G[j][b] (winograd_wgrad_avx512.c's
   kernel_gradient_f4), eight input channels at a time. */
V8_TARGET static void kernel_gradient_f4(long outChannels, long inChannels, long cp, const float *du, float *dw) {
    static const float G[6][3] = {{1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                  {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
    const long plane = outChannels * cp;
    for (long o = 0; o < outChannels; o++)
        for (long c0 = 0; c0 < inChannels; c0 += 8) {
            const float *u = du + o * cp + c0;
            v8f s[3][6];
            for (int j = 0; j < 6; j++) {
                for (int a = 0; a < 3; a++) s[a][j] = (v8f)0.0f;
                for (int i = 0; i < 6; i++) {
                    const v8f ui = load8(u + (6 * i + j) * plane);
                    for (int a = 0; a < 3; a++)
                        if (G[i][a] != 0) s[a][j] = fma8((v8f)G[i][a], ui, s[a][j]);
                }
            }
            float block[9][8];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    v8f r = 0.0f;
                    for (int j = 0; j < 6; j++)
                        if (G[j][b] != 0) r = fma8((v8f)G[j][b], s[a][j], r);
                    store8(block[3 * a + b], r);
                }
            const long count = inChannels - c0 < 8 ? inChannels - c0 : 8;
            for (long c = 0; c < count; c++) {
                float *out = dw + (o * inChannels + c0 + c) * 9;
                for (int t = 0; t < 9; t++) out[t] = block[t][c];
            }
        }
}

V8_TARGET void fm_wino_wgrad_avx2(long images, long inChannels, long outChannels, long height, long width,
                                  const float *x, const float *dy, float *scratch, float *dw) {
    static const WinoOps ops = {transpose_avx2, input_transform, gradient_transform, NULL, NULL, accumulate_products,
                                kernel_gradient_f4};
    wino_wgrad_run(&ops, images, inChannels, outChannels, height, width, x, dy, scratch, dw, 4, 0);
}

#else

void fm_wino_wgrad_avx2(long images, long inChannels, long outChannels, long height, long width,
                        const float *x, const float *dy, float *scratch, float *dw) {
    (void)images; (void)inChannels; (void)outChannels; (void)height; (void)width; (void)x; (void)dy;
    (void)scratch; (void)dw;
}

#endif
