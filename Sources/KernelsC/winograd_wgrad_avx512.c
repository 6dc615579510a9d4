#include "KernelsC.h"

#include <stdint.h>
#include <string.h>
#include "bf16_round.h"
#include "winograd_wgrad_run.h"

/* Each part starts on a 64-byte boundary: 16 floats of slack per part, 16 for the base. */
long fm_wino_wgrad_scratch_floats(long inChannels, long outChannels, long height, long width, int tile, int bf16) {
    WinoPlan p = wino_plan(inChannels, outChannels, height, width, tile, bf16);
    return p.xT + p.dyT + p.v + p.z + p.du + 6 * 16;
}

#if defined(__x86_64__)
#include <immintrin.h>

#include "winograd_f4_bt.h"

/* F(2x2): V[p = 4i + j][c] = (B^T d B)[i][j] for the 4x4 patch at d0 (channel-last, rows wpp
   pixels apart), 16 channels (vector k). B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]: column
   pass, then row pass. */
__attribute__((target("avx512f"), always_inline))
static inline void input_tile_f2(const float *d0, long wpp, long cp, long k, float *o, long ldp) {
    __m512 d[4][4], t[4][4];
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) d[r][s] = _mm512_loadu_ps(d0 + (r * wpp + s) * cp + 16 * k);
    for (int s = 0; s < 4; s++) {
        t[0][s] = _mm512_sub_ps(d[0][s], d[2][s]);
        t[1][s] = _mm512_add_ps(d[1][s], d[2][s]);
        t[2][s] = _mm512_sub_ps(d[2][s], d[1][s]);
        t[3][s] = _mm512_sub_ps(d[1][s], d[3][s]);
    }
    for (int i = 0; i < 4; i++) {
        float *oi = o + (4 * i) * ldp;
        _mm512_storeu_ps(oi, _mm512_sub_ps(t[i][0], t[i][2]));
        _mm512_storeu_ps(oi + ldp, _mm512_add_ps(t[i][1], t[i][2]));
        _mm512_storeu_ps(oi + 2 * ldp, _mm512_sub_ps(t[i][2], t[i][1]));
        _mm512_storeu_ps(oi + 3 * ldp, _mm512_sub_ps(t[i][1], t[i][3]));
    }
}

/* F(4x4): V[p = 6i + j][c] = (B^T d B)[i][j] for the 6x6 patch at d0: B^T down each column,
   then along each row. */
__attribute__((target("avx512f"), always_inline))
static inline void input_tile_f4(const float *d0, long wpp, long cp, long k, float *o, long ldp) {
    __m512 t[6][6];
    for (int s = 0; s < 6; s++) {
        __m512 d[6], r[6];
        for (int q = 0; q < 6; q++) d[q] = _mm512_loadu_ps(d0 + (q * wpp + s) * cp + 16 * k);
        f4_bt(d, r);
        for (int i = 0; i < 6; i++) t[i][s] = r[i];
    }
    for (int i = 0; i < 6; i++) {
        __m512 r[6];
        f4_bt(t[i], r);
        for (int j = 0; j < 6; j++) _mm512_storeu_ps(o + (6 * i + j) * ldp, r[j]);
    }
}

/* V[p][tile][c] = (B^T d B)[p] for the tiles of rows [ty0, ty1) of one image, d the
   (m + 2) x (m + 2) patch at (m ty, m tx) of the channel-last padded image. */
__attribute__((target("avx512f")))
static void input_transform(const WinoPlan *p, const float *xT, long ty0, long ty1, float *v, long tileBase, long ldp) {
    const long cp = p->cp, vectors = cp / 16, m = p->m;
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx++) {
            const float *d0 = xT + ((m * ty) * p->wpp + m * tx) * cp;
            float *out = v + (tileBase + (ty - ty0) * p->tw + tx) * cp;
            for (long k = 0; k < vectors; k++) {
                if (m == 4)
                    input_tile_f4(d0, p->wpp, cp, k, out + 16 * k, ldp);
                else
                    input_tile_f2(d0, p->wpp, cp, k, out + 16 * k, ldp);
            }
        }
}

/* F(2x2): Z[p = 4i + j][o] = (A dY A^T)[i][j] for the 2x2 tile of dY at g0 (channel-last, rows
   `row` floats apart), 16 channels (vector k). A = [1 0; 1 1; 1 -1; 0 -1]: a pair (a, b) lifts
   to (a, a+b, a-b, -b). */
__attribute__((target("avx512f"), always_inline))
static inline void gradient_tile_f2(const float *g0, long row, long op, long k, float *o, long ldp) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 a = _mm512_loadu_ps(g0 + 16 * k), b = _mm512_loadu_ps(g0 + op + 16 * k);
    __m512 c = _mm512_loadu_ps(g0 + row + 16 * k), e = _mm512_loadu_ps(g0 + row + op + 16 * k);
    __m512 r0[4] = {a, _mm512_add_ps(a, b), _mm512_sub_ps(a, b), _mm512_sub_ps(zero, b)};
    __m512 r1[4] = {c, _mm512_add_ps(c, e), _mm512_sub_ps(c, e), _mm512_sub_ps(zero, e)};
    for (int j = 0; j < 4; j++) {
        _mm512_storeu_ps(o + j * ldp, r0[j]);
        _mm512_storeu_ps(o + (4 + j) * ldp, _mm512_add_ps(r0[j], r1[j]));
        _mm512_storeu_ps(o + (8 + j) * ldp, _mm512_sub_ps(r0[j], r1[j]));
        _mm512_storeu_ps(o + (12 + j) * ldp, _mm512_sub_ps(zero, r1[j]));
    }
}

/* (a, b, c, d) lifted by F(4x4)'s A (rows 1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1). */
__attribute__((target("avx512f"), always_inline))
static inline void f4_lift(__m512 a, __m512 b, __m512 c, __m512 d, __m512 *r) {
    __m512 e = _mm512_add_ps(a, c), f = _mm512_add_ps(b, d);
    __m512 e4 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);                           /* a + 4c */
    __m512 f8 = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), d, _mm512_add_ps(b, b));          /* 2b + 8d */
    r[0] = a;
    r[1] = _mm512_add_ps(e, f);
    r[2] = _mm512_sub_ps(e, f);
    r[3] = _mm512_add_ps(e4, f8);
    r[4] = _mm512_sub_ps(e4, f8);
    r[5] = d;
}

/* F(4x4): Z[p = 6i + j][o] = (A dY A^T)[i][j] for the 4x4 tile of dY at g0: each row lifted to
   6, then each of the 6 columns. */
__attribute__((target("avx512f"), always_inline))
static inline void gradient_tile_f4(const float *g0, long row, long op, long k, float *o, long ldp) {
    __m512 l[4][6];
    for (int r = 0; r < 4; r++) {
        const float *g = g0 + r * row + 16 * k;
        f4_lift(_mm512_loadu_ps(g), _mm512_loadu_ps(g + op), _mm512_loadu_ps(g + 2 * op), _mm512_loadu_ps(g + 3 * op), l[r]);
    }
    for (int j = 0; j < 6; j++) {
        __m512 c[6];
        f4_lift(l[0][j], l[1][j], l[2][j], l[3][j], c);
        for (int i = 0; i < 6; i++) _mm512_storeu_ps(o + (6 * i + j) * ldp, c[i]);
    }
}

/* Z[p][tile][o] = (A dY A^T)[p] for the tiles of rows [ty0, ty1) of one image, dY read
   channel-last (zero past the image's edge). */
__attribute__((target("avx512f")))
static void gradient_transform(const WinoPlan *p, const float *dyT, long ty0, long ty1, float *z, long tileBase, long ldp) {
    const long op = p->op, vectors = op / 16, m = p->m, row = m * p->tw * op;
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx++) {
            const float *g0 = dyT + (m * ty) * row + m * tx * op;
            float *out = z + (tileBase + (ty - ty0) * p->tw + tx) * op;
            for (long k = 0; k < vectors; k++) {
                if (m == 4)
                    gradient_tile_f4(g0, row, op, k, out + 16 * k, ldp);
                else
                    gradient_tile_f2(g0, row, op, k, out + 16 * k, ldp);
            }
        }
}

/* The R x VC accumulators of a product tile: u's rows i < R, vectors k < VC. */
__attribute__((target("avx512f"), always_inline))
static inline void load_accumulators(__m512 acc[16][4], const float *u, long ldu, const int VC, const int R) {
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++)
#pragma clang loop unroll(full)
        for (int k = 0; k < VC; k++) acc[i][k] = _mm512_loadu_ps(u + i * ldu + 16 * k);
}

__attribute__((target("avx512f"), always_inline))
static inline void store_accumulators(__m512 acc[16][4], float *u, long ldu, const int VC, const int R) {
#pragma clang loop unroll(full)
    for (int i = 0; i < R; i++)
#pragma clang loop unroll(full)
        for (int k = 0; k < VC; k++) _mm512_storeu_ps(u + i * ldu + 16 * k, acc[i][k]);
}

/* u[i][16k + lane] += sum_t z[t*ldz + i] * v[t*ldv + 16k + lane] for i < R, k < VC: R x VC
   accumulators over the whole block of tiles, per tile VC loads and R broadcasts. */
__attribute__((target("avx512f"), always_inline))
static inline void product_tile(long tiles, const float *v, long ldv, const float *z, long ldz,
                                float *u, long ldu, const int VC, const int R) {
    __m512 acc[16][4];
    load_accumulators(acc, u, ldu, VC, R);
    for (long t = 0; t < tiles; t++) {
        __m512 vv[4];
#pragma clang loop unroll(full)
        for (int k = 0; k < VC; k++) vv[k] = _mm512_loadu_ps(v + t * ldv + 16 * k);
        const float *zt = z + t * ldz;
#pragma clang loop unroll(full)
        for (int i = 0; i < R; i++) {
            __m512 b = _mm512_set1_ps(zt[i]);
#pragma clang loop unroll(full)
            for (int k = 0; k < VC; k++) acc[i][k] = _mm512_fmadd_ps(b, vv[k], acc[i][k]);
        }
    }
    store_accumulators(acc, u, ldu, VC, R);
}

typedef void (*ProductKernel)(long, const float *, long, const float *, long, float *, long);

#define WG_FN(VC, R) \
__attribute__((target("avx512f"))) \
static void product_##VC##_##R(long n, const float *v, long ldv, const float *z, long ldz, float *u, long ldu) { \
    product_tile(n, v, ldv, z, ldz, u, ldu, VC, R); \
}
#define WG_R6(VC) WG_FN(VC, 1) WG_FN(VC, 2) WG_FN(VC, 3) WG_FN(VC, 4) WG_FN(VC, 5) WG_FN(VC, 6)
#define WG_R8(VC) WG_R6(VC) WG_FN(VC, 7) WG_FN(VC, 8)
#define WG_R12(VC) WG_R8(VC) WG_FN(VC, 9) WG_FN(VC, 10) WG_FN(VC, 11) WG_FN(VC, 12)
#define WG_R16(VC) WG_R12(VC) WG_FN(VC, 13) WG_FN(VC, 14) WG_FN(VC, 15) WG_FN(VC, 16)
WG_R16(1)
WG_R12(2)
WG_R8(3)
WG_R6(4)

#define WG_P6(VC) product_##VC##_1, product_##VC##_2, product_##VC##_3, product_##VC##_4, product_##VC##_5, product_##VC##_6
#define WG_P8(VC) WG_P6(VC), product_##VC##_7, product_##VC##_8
#define WG_P12(VC) WG_P8(VC), product_##VC##_9, product_##VC##_10, product_##VC##_11, product_##VC##_12
#define WG_P16(VC) WG_P12(VC), product_##VC##_13, product_##VC##_14, product_##VC##_15, product_##VC##_16
/* kernels[VC - 1][R - 1]; rows per block at most 16, 12, 8, 6 so R*VC + VC registers fit in 32. */
static const ProductKernel productKernels[4][16] = {{WG_P16(1)}, {WG_P12(2)}, {WG_P8(3)}, {WG_P6(4)}};
static const int productRows[4] = {16, 12, 8, 6};

/* input_transform for the tile pairs (tx, tx + 1) of a row, tx even: the two 4x4 patches share
   two columns, so six columns of the column pass serve both. */
__attribute__((target("avx512f")))
static void input_transform_bf16(const WinoPlan *p, const float *xT, long ty0, long ty1, uint32_t *v, long pairBase, long ldp) {
    const long cp = p->cp, vectors = cp / 16;
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx += 2) {
            const float *d0 = xT + ((2 * ty) * p->wpp + 2 * tx) * cp;
            uint32_t *out = v + (pairBase + ((ty - ty0) * p->tw + tx) / 2) * cp;
            for (long k = 0; k < vectors; k++) {
                __m512 t[4][6];
                for (int s = 0; s < 6; s++) {
                    __m512 d[4];
                    for (int r = 0; r < 4; r++) d[r] = _mm512_loadu_ps(d0 + (r * p->wpp + s) * cp + 16 * k);
                    t[0][s] = _mm512_sub_ps(d[0], d[2]);
                    t[1][s] = _mm512_add_ps(d[1], d[2]);
                    t[2][s] = _mm512_sub_ps(d[2], d[1]);
                    t[3][s] = _mm512_sub_ps(d[1], d[3]);
                }
                for (int i = 0; i < 4; i++) {
                    uint32_t *o = out + 16 * k + (4 * i) * ldp;
                    const __m512 *a = t[i], *b = t[i] + 2;
                    _mm512_storeu_si512(o, bf16_pair16(_mm512_sub_ps(a[0], a[2]), _mm512_sub_ps(b[0], b[2])));
                    _mm512_storeu_si512(o + ldp, bf16_pair16(_mm512_add_ps(a[1], a[2]), _mm512_add_ps(b[1], b[2])));
                    _mm512_storeu_si512(o + 2 * ldp, bf16_pair16(_mm512_sub_ps(a[2], a[1]), _mm512_sub_ps(b[2], b[1])));
                    _mm512_storeu_si512(o + 3 * ldp, bf16_pair16(_mm512_sub_ps(a[1], a[3]), _mm512_sub_ps(b[1], b[3])));
                }
            }
        }
}

/* gradient_transform for the tile pairs (tx, tx + 1) of a row, tx even. */
__attribute__((target("avx512f")))
static void gradient_transform_bf16(const WinoPlan *p, const float *dyT, long ty0, long ty1, uint32_t *z, long pairBase, long ldp) {
    const long op = p->op, vectors = op / 16, row = 2 * p->tw * op;
    const __m512 zero = _mm512_setzero_ps();
    for (long ty = ty0; ty < ty1; ty++)
        for (long tx = 0; tx < p->tw; tx += 2) {
            const float *g0 = dyT + (2 * ty) * row + 2 * tx * op;
            uint32_t *out = z + (pairBase + ((ty - ty0) * p->tw + tx) / 2) * op;
            for (long k = 0; k < vectors; k++) {
                __m512 r0[2][4], r1[2][4];
                for (int h = 0; h < 2; h++) {
                    const float *g = g0 + 2 * h * op + 16 * k;
                    __m512 a = _mm512_loadu_ps(g), b = _mm512_loadu_ps(g + op);
                    __m512 c = _mm512_loadu_ps(g + row), e = _mm512_loadu_ps(g + row + op);
                    r0[h][0] = a; r0[h][1] = _mm512_add_ps(a, b); r0[h][2] = _mm512_sub_ps(a, b); r0[h][3] = _mm512_sub_ps(zero, b);
                    r1[h][0] = c; r1[h][1] = _mm512_add_ps(c, e); r1[h][2] = _mm512_sub_ps(c, e); r1[h][3] = _mm512_sub_ps(zero, e);
                }
                uint32_t *o = out + 16 * k;
                for (int j = 0; j < 4; j++) {
                    _mm512_storeu_si512(o + j * ldp, bf16_pair16(r0[0][j], r0[1][j]));
                    _mm512_storeu_si512(o + (4 + j) * ldp, bf16_pair16(_mm512_add_ps(r0[0][j], r1[0][j]), _mm512_add_ps(r0[1][j], r1[1][j])));
                    _mm512_storeu_si512(o + (8 + j) * ldp, bf16_pair16(_mm512_sub_ps(r0[0][j], r1[0][j]), _mm512_sub_ps(r0[1][j], r1[1][j])));
                    _mm512_storeu_si512(o + (12 + j) * ldp, bf16_pair16(_mm512_sub_ps(zero, r1[0][j]), _mm512_sub_ps(zero, r1[1][j])));
                }
            }
        }
}

#define WB_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* product_tile over tile pairs: per pair VC loads of V's words, R broadcasts of Z's words,
   R*VC VDPBF16PS (fp32 sums, two tiles a step). */
WB_TARGET __attribute__((always_inline))
static inline void product_tile_bf16(long pairs, const uint32_t *v, long ldv, const uint32_t *z, long ldz,
                                     float *u, long ldu, const int VC, const int R) {
    __m512 acc[16][4];
    load_accumulators(acc, u, ldu, VC, R);
    for (long t = 0; t < pairs; t++) {
        __m512bh vv[4];
#pragma clang loop unroll(full)
        for (int k = 0; k < VC; k++) vv[k] = (__m512bh)_mm512_loadu_si512(v + t * ldv + 16 * k);
        const uint32_t *zt = z + t * ldz;
#pragma clang loop unroll(full)
        for (int i = 0; i < R; i++) {
            __m512bh b = (__m512bh)_mm512_set1_epi32((int)zt[i]);
#pragma clang loop unroll(full)
            for (int k = 0; k < VC; k++) acc[i][k] = _mm512_dpbf16_ps(acc[i][k], b, vv[k]);
        }
    }
    store_accumulators(acc, u, ldu, VC, R);
}

typedef void (*ProductKernelBF16)(long, const uint32_t *, long, const uint32_t *, long, float *, long);

#define WB_FN(VC, R) \
WB_TARGET static void product_bf16_##VC##_##R(long n, const uint32_t *v, long ldv, const uint32_t *z, long ldz, float *u, long ldu) { \
    product_tile_bf16(n, v, ldv, z, ldz, u, ldu, VC, R); \
}
#define WB_R6(VC) WB_FN(VC, 1) WB_FN(VC, 2) WB_FN(VC, 3) WB_FN(VC, 4) WB_FN(VC, 5) WB_FN(VC, 6)
#define WB_R8(VC) WB_R6(VC) WB_FN(VC, 7) WB_FN(VC, 8)
#define WB_R12(VC) WB_R8(VC) WB_FN(VC, 9) WB_FN(VC, 10) WB_FN(VC, 11) WB_FN(VC, 12)
#define WB_R16(VC) WB_R12(VC) WB_FN(VC, 13) WB_FN(VC, 14) WB_FN(VC, 15) WB_FN(VC, 16)
WB_R16(1)
WB_R12(2)
WB_R8(3)
WB_R6(4)

#define WB_P6(VC) product_bf16_##VC##_1, product_bf16_##VC##_2, product_bf16_##VC##_3, product_bf16_##VC##_4, product_bf16_##VC##_5, product_bf16_##VC##_6
#define WB_P8(VC) WB_P6(VC), product_bf16_##VC##_7, product_bf16_##VC##_8
#define WB_P12(VC) WB_P8(VC), product_bf16_##VC##_9, product_bf16_##VC##_10, product_bf16_##VC##_11, product_bf16_##VC##_12
#define WB_P16(VC) WB_P12(VC), product_bf16_##VC##_13, product_bf16_##VC##_14, product_bf16_##VC##_15, product_bf16_##VC##_16
static const ProductKernelBF16 productKernelsBF16[4][16] = {{WB_P16(1)}, {WB_P12(2)}, {WB_P8(3)}, {WB_P6(4)}};

/* du[p] (O x Cp) += Z[p] (tiles x O)^T * V[p] (tiles x Cp) for every position; bf16: `tiles`
   counts tile pairs (32-bit words of two bf16 values). */
__attribute__((target("avx512f")))
static void accumulate_products(const WinoPlan *p, long outChannels, long tiles, const float *v, long ldv,
                                const float *z, long ldz, float *du, Ahead *ahead) {
    const long cp = p->cp, op = p->op, vectors = cp / 16;
    const long calls = p->positions * ((vectors + 3) / 4) * ((outChannels + 5) / 6);
    const long perCall = (ahead->end - ahead->first + calls - 1) / calls;
    for (long pos = 0; pos < p->positions; pos++) {
        const float *vp = v + pos * ldv, *zp = z + pos * ldz;
        float *up = du + pos * outChannels * cp;
        for (long k0 = 0; k0 < vectors; k0 += 4) {
            const int vc = vectors - k0 < 4 ? (int)(vectors - k0) : 4;
            const int rows = productRows[vc - 1];
            for (long o0 = 0; o0 < outChannels; o0 += rows) {
                const int r = outChannels - o0 < rows ? (int)(outChannels - o0) : rows;
                prefetch_some(ahead, perCall);
                if (p->pack == 2)
                    productKernelsBF16[vc - 1][r - 1](tiles, (const uint32_t *)vp + 16 * k0, cp, (const uint32_t *)zp + o0, op,
                                                      up + o0 * cp + 16 * k0, cp);
                else
                    productKernels[vc - 1][r - 1](tiles, vp + 16 * k0, cp, zp + o0, op, up + o0 * cp + 16 * k0, cp);
            }
        }
    }
}

/* F(4x4): dw[o][c][a][b] = sum_{i,j} G[i][a] du[6i+j][o][c] G[j][b] with the forward pass's 6x3 G
   (rows 1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1), sixteen
   input channels at a time (du's rows run along c), through a 9 x 16 block transposed into dw. */
__attribute__((target("avx512f")))
static void kernel_gradient_f4(long outChannels, long inChannels, long cp, const float *du, float *dw) {
    static const float G[6][3] = {{1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                  {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
    const long plane = outChannels * cp;
    float block[9][16];
    for (long o = 0; o < outChannels; o++)
        for (long c0 = 0; c0 < inChannels; c0 += 16) {
            const float *u = du + o * cp + c0;
            __m512 s[3][6];
            for (int j = 0; j < 6; j++) {
                for (int a = 0; a < 3; a++) s[a][j] = _mm512_setzero_ps();
                for (int i = 0; i < 6; i++) {
                    __m512 ui = _mm512_loadu_ps(u + (6 * i + j) * plane);
                    for (int a = 0; a < 3; a++)
                        if (G[i][a] != 0) s[a][j] = _mm512_fmadd_ps(_mm512_set1_ps(G[i][a]), ui, s[a][j]);
                }
            }
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    __m512 r = _mm512_setzero_ps();
                    for (int j = 0; j < 6; j++)
                        if (G[j][b] != 0) r = _mm512_fmadd_ps(_mm512_set1_ps(G[j][b]), s[a][j], r);
                    _mm512_storeu_ps(block[3 * a + b], r);
                }
            const long count = inChannels - c0 < 16 ? inChannels - c0 : 16;
            for (long c = 0; c < count; c++) {
                float *out = dw + (o * inChannels + c0 + c) * 9;
                for (int t = 0; t < 9; t++) out[t] = block[t][c];
            }
        }
}

__attribute__((target("avx512f")))
void fm_wino_wgrad_avx512(long images, long inChannels, long outChannels, long height, long width,
                          const float *x, const float *dy, float *scratch, float *dw, int tile, int bf16) {
    if (tile == 4) bf16 = 0;  /* no bf16 F(4x4) form (the header says: only with tile 2) */
    static const WinoOps ops = {fm_transpose_avx512, input_transform, gradient_transform, input_transform_bf16,
                                gradient_transform_bf16, accumulate_products, kernel_gradient_f4};
    wino_wgrad_run(&ops, images, inChannels, outChannels, height, width, x, dy, scratch, dw, tile, bf16);
}

#else

void fm_wino_wgrad_avx512(long images, long inChannels, long outChannels, long height, long width,
                          const float *x, const float *dy, float *scratch, float *dw, int tile, int bf16) {
    (void)tile; (void)bf16; (void)images; (void)inChannels; (void)outChannels; (void)height; (void)width; (void)x; (void)dy;
    (void)scratch; (void)dw;
}

#endif
