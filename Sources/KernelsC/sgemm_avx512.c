#include "KernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "gemm_store_avx512.h"

unsigned fm_cpu_features(void) {
    __builtin_cpu_init();
    unsigned features = 0;
    /* VL (AVX-512 on 256-bit registers, for masked stores) is on every AVX-512 CPU but Xeon Phi. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) features |= FM_CPU_AVX512;
    if (__builtin_cpu_supports("avx512bf16")) features |= FM_CPU_AVX512_BF16;
    if (__builtin_cpu_supports("amx-tile")) features |= FM_CPU_AMX_TILE;
    if (__builtin_cpu_supports("amx-bf16")) features |= FM_CPU_AMX_BF16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) features |= FM_CPU_AVX2;
    return features;
}

#define MR FM_AVX512_MR
#define NV (FM_AVX512_NR / 16)

__attribute__((target("avx512f")))
void fm_sgemm_kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][NV];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();

    for (long p = 0; p < kc; p++) {
        __m512 bv[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += MR;
        b += 16 * NV;
    }

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int readC = beta != 0.0f;
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i < rows) fm_store_row(c + i * ldc, acc[i], NV, cols, va, vb, readC);
    }
}

#else

unsigned fm_cpu_features(void) { return 0; }

void fm_sgemm_kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            long rows, long cols, float alpha, float beta) {
    (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols; (void)alpha; (void)beta;
}

#endif

#if defined(__x86_64__)
#define MA FM_AVX512_NT_MA
#define NB FM_AVX512_NT_NB
#define NT_TILE (MA * NB)
/* K block: measured best of 512, 1024, 2048 (longer blocks amortise the horizontal sums;
   at 2048 the MA rows of A no longer fit L1). */
#define NT_KC 1024

/* One level of a transpose-and-add tree at granularity g (8, 4, 2 or 1 lanes): in each group of
   2g lanes the low g lanes get a's two halves summed and the high g lanes b's, so every level
   halves the number of vectors while each lane keeps partial sums of a single accumulator.
   One blend, one two-source permute and one add per merge, where summing each accumulator
   on its own (_mm512_reduce_add_ps) costs four shuffles and four adds. */
__attribute__((target("avx512f"), always_inline))
static inline __m512 nt_merge(__m512 a, __m512 b, int g) {
    int idx[16];
    unsigned high = 0;
#pragma clang loop unroll(full)
    for (int l = 0; l < 16; l++) {
        int upper = (l / g) & 1;
        idx[l] = upper ? 16 + l - g : l + g;
        if (upper) high |= 1u << l;
    }
    __m512i swap = _mm512_setr_epi32(idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7],
                                     idx[8], idx[9], idx[10], idx[11], idx[12], idx[13], idx[14], idx[15]);
    return _mm512_add_ps(_mm512_mask_blend_ps((__mmask16)high, a, b), _mm512_permutex2var_ps(a, swap, b));
}

static inline int nt_bitrev4(int s) { return ((s & 1) << 3) | ((s & 2) << 1) | ((s & 4) >> 1) | ((s & 8) >> 3); }
static inline int nt_bitrev3(int s) { return ((s & 1) << 2) | (s & 2) | ((s & 4) >> 2); }

/* out[q] = horizontal sum of acc[q] for the 24 accumulators of a tile: 23 merges in all.
   Lane l of the last merge holds the accumulator whose tree slot is l with its bits reversed,
   so the slots are filled in bit-reversed order to get the sums out in order. */
__attribute__((target("avx512f"), always_inline))
static inline void nt_reduce(const __m512 *acc, float *out) {
    _Static_assert(NT_TILE == 24, "nt_reduce sums 16 + 8 accumulators");
    __m512 s[24];
#pragma clang loop unroll(full)
    for (int q = 0; q < 16; q++) s[nt_bitrev4(q)] = acc[q];
#pragma clang loop unroll(full)
    for (int r = 0; r < 8; r++) s[16 + nt_bitrev3(r)] = acc[16 + r];
    int count = 24;
#pragma clang loop unroll(full)
    for (int g = 8; g >= 2; g /= 2) {
#pragma clang loop unroll(full)
        for (int q = 0; q < count / 2; q++) s[q] = nt_merge(s[2 * q], s[2 * q + 1], g);
        count /= 2;
    }
    _mm512_storeu_ps(out, nt_merge(s[0], s[1], 1));
    /* The third vector merged with itself: its 8 sums sit in the even lanes. */
    __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
    _mm256_storeu_ps(out + 16, _mm512_castps512_ps256(_mm512_permutexvar_ps(even, nt_merge(s[2], s[2], 1))));
}

/* Sums of one MA x NB tile over kc: sums[i * NB + j] = dot(ar[i], br[j]). Not inlined: inlined
   into the loops of fm_sgemm_nt_avx512, the compiler hoists the reduction's permute indices into
   registers across the FMA loop and spills accumulators. */
__attribute__((target("avx512f"), noinline))
static void nt_tile(long kc, const float *const *ar, const float *const *br, float *sums) {
    __m512 acc[NT_TILE];
#pragma clang loop unroll(full)
    for (int q = 0; q < NT_TILE; q++) acc[q] = _mm512_setzero_ps();
    long p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 bv[NB];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) bv[j] = _mm512_loadu_ps(br[j] + p);
#pragma clang loop unroll(full)
        for (int i = 0; i < MA; i++) {
            __m512 av = _mm512_loadu_ps(ar[i] + p);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[i * NB + j] = _mm512_fmadd_ps(av, bv[j], acc[i * NB + j]);
        }
    }
    if (p < kc) {
        __mmask16 mask = (__mmask16)((1u << (kc - p)) - 1u);
        __m512 bv[NB];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) bv[j] = _mm512_maskz_loadu_ps(mask, br[j] + p);
#pragma clang loop unroll(full)
        for (int i = 0; i < MA; i++) {
            __m512 av = _mm512_maskz_loadu_ps(mask, ar[i] + p);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[i * NB + j] = _mm512_fmadd_ps(av, bv[j], acc[i * NB + j]);
        }
    }
    nt_reduce(acc, sums);
}

/* The dot-product form: vectors along K, no packing; for few rows of A (m < 32) or of B. */
__attribute__((target("avx512f")))
static void nt_dot(long m, long n, long k, float alpha, const float *a, long lda,
                   const float *b, long ldb, float beta, float *c, long ldc) {
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (long p0 = 0; p0 < k; p0 += NT_KC) {
        long kc = k - p0 < NT_KC ? k - p0 : NT_KC;
        int first = p0 == 0;
        for (long i0 = 0; i0 < m; i0 += MA) {
            /* Rows past the edge repeat the last row; their results are not stored. */
            const float *ar[MA];
            for (int i = 0; i < MA; i++) ar[i] = a + (i0 + i < m ? i0 + i : m - 1) * lda + p0;
            long rows = m - i0 < MA ? m - i0 : MA;
            for (long j0 = 0; j0 < n; j0 += NB) {
                const float *br[NB];
                for (int j = 0; j < NB; j++) br[j] = b + (j0 + j < n ? j0 + j : n - 1) * ldb + p0;
                float sums[32] __attribute__((aligned(64)));
                nt_tile(kc, ar, br, sums);
                long cols = n - j0 < NB ? n - j0 : NB;
                __mmask16 mask = (__mmask16)((1u << cols) - 1u);
                for (long i = 0; i < rows; i++) {
                    float *row = c + (i0 + i) * ldc + j0;
                    __m512 s = _mm512_maskz_loadu_ps(mask, sums + i * NB), r;
                    if (!first) r = _mm512_fmadd_ps(va, s, _mm512_maskz_loadu_ps(mask, row));
                    else if (beta != 0.0f) r = _mm512_fmadd_ps(va, s, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask, row)));
                    else r = _mm512_mul_ps(va, s);
                    _mm512_mask_storeu_ps(row, mask, r);
                }
            }
        }
    }
}

/* The broadcast form, for m >= 32 and n >= 64 or a short K (a convolution's weight gradient past
   the first layer): C^T = B * A^T as an outer-product kernel. A is packed transposed in K blocks,
   [kc][NT_W] per NT_W rows (the output channels, along the vectors); each row of B (a kernel tap)
   is broadcast straight from memory, NT_MB rows per tile. There are no horizontal sums: each
   8 x 32 tile of C^T is transposed back in registers once per K block and added into C. */
#define NT_MB 8
#define NT_NV 2
#define NT_W (16 * NT_NV)
#define NT_BC_KC (FM_AVX512_NT_WORK / NT_W)

/* One step of a block transpose of row pairs (x, y) at block width g lanes: in each group of 2g
   lanes, x keeps its low g lanes and takes y's low g lanes as its high ones; y gets x's high
   g lanes below its own high g lanes. Steps at g = 8, 4, 2, 1 over the row pairs (i, i + g)
   transpose 16 x 16; g = 4, 2, 1 over 8 rows transpose each 8-lane half. */
__attribute__((target("avx512f"), always_inline))
static inline void nt_transpose_step(__m512 *x, __m512 *y, int g) {
    int lo[16], hi[16];
    for (int l = 0; l < 16; l++) {
        int base = l & ~(2 * g - 1), off = l & (g - 1), upper = (l / g) & 1;
        lo[l] = upper ? 16 + base + off : base + off;
        hi[l] = upper ? 16 + base + g + off : base + g + off;
    }
    __m512i il = _mm512_setr_epi32(lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7],
                                   lo[8], lo[9], lo[10], lo[11], lo[12], lo[13], lo[14], lo[15]);
    __m512i ih = _mm512_setr_epi32(hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7],
                                   hi[8], hi[9], hi[10], hi[11], hi[12], hi[13], hi[14], hi[15]);
    __m512 newX = _mm512_permutex2var_ps(*x, il, *y);
    __m512 newY = _mm512_permutex2var_ps(*x, ih, *y);
    *x = newX;
    *y = newY;
}

/* Afterwards r[i] = [r0[i], ..., r7[i] | r0[8 + i], ..., r7[8 + i]] (8 x 8 transposes of both halves). */
__attribute__((target("avx512f"), always_inline))
static inline void nt_transpose8(__m512 *r) {
#pragma clang loop unroll(full)
    for (int g = 4; g >= 1; g /= 2)
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++)
            if ((i & g) == 0) nt_transpose_step(&r[i], &r[i + g], g);
}

/* at[p][i] = A[i][p] for p < kc, i < NT_W (rows past `rows` are zeros), 16 x 16 blocks at a time. */
__attribute__((target("avx512f")))
static void nt_pack_at(const float *a, long lda, long rows, long kc, float *at) {
    for (long i0 = 0; i0 < NT_W; i0 += 16) {
        long p = 0;
        for (; p + 16 <= kc; p += 16) {
            __m512 r[16];
#pragma clang loop unroll(full)
            for (int i = 0; i < 16; i++)
                r[i] = i0 + i < rows ? _mm512_loadu_ps(a + (i0 + i) * lda + p) : _mm512_setzero_ps();
            nt_transpose8(r);
            nt_transpose8(r + 8);
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++) nt_transpose_step(&r[i], &r[i + 8], 8);
#pragma clang loop unroll(full)
            for (int i = 0; i < 16; i++) _mm512_store_ps(at + (p + i) * NT_W + i0, r[i]);
        }
        for (; p < kc; p++)
            for (long i = 0; i < 16; i++) at[p * NT_W + i0 + i] = i0 + i < rows ? a[(i0 + i) * lda + p] : 0.0f;
    }
}

/* C[o][0..cols) (+)= alpha * sum over p of at[p][o] * br[0..cols)[p], for o < orows: one
   NT_W x NT_MB tile of C. 16 accumulators, 2 vector loads and 8 broadcasts per 16 FMAs. */
__attribute__((target("avx512f,avx512vl"), noinline))
static void nt_bc_tile(long kc, const float *at, const float *const *br, float *c, long ldc,
                       long orows, long cols, float alpha, float beta, int first) {
    __m512 acc[NT_MB][NT_NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < NT_MB; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NT_NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (long p = 0; p < kc; p++) {
        __m512 av[NT_NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NT_NV; v++) av[v] = _mm512_load_ps(at + p * NT_W + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < NT_MB; r++) {
            __m512 x = _mm512_set1_ps(br[r][p]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NT_NV; v++) acc[r][v] = _mm512_fmadd_ps(x, av[v], acc[r][v]);
        }
    }
    __mmask8 mask = (__mmask8)((1u << cols) - 1u);
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int v = 0; v < NT_NV; v++) {
        __m512 t[NT_MB];
#pragma clang loop unroll(full)
        for (int r = 0; r < NT_MB; r++) t[r] = acc[r][v];
        nt_transpose8(t);
        /* t[i] now holds row 16v + i of the C tile in its low half and row 16v + 8 + i in its high half. */
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++) {
#pragma clang loop unroll(full)
            for (int h = 0; h < 2; h++) {
                long o = 16 * v + 8 * h + i;
                if (o >= orows) continue;
                __m256 s = h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t[i]), 1))
                             : _mm512_castps512_ps256(t[i]);
                float *row = c + o * ldc;
                __m256 out;
                if (!first) out = _mm256_fmadd_ps(va, s, _mm256_maskz_loadu_ps(mask, row));
                else if (beta != 0.0f) out = _mm256_fmadd_ps(va, s, _mm256_mul_ps(vb, _mm256_maskz_loadu_ps(mask, row)));
                else out = _mm256_mul_ps(va, s);
                _mm256_mask_storeu_ps(row, mask, out);
            }
        }
    }
}

__attribute__((target("avx512f")))
static void nt_broadcast(long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc, float *work) {
    for (long p0 = 0; p0 < k; p0 += NT_BC_KC) {
        long kc = k - p0 < NT_BC_KC ? k - p0 : NT_BC_KC;
        int first = p0 == 0;
        for (long o0 = 0; o0 < m; o0 += NT_W) {
            long orows = m - o0 < NT_W ? m - o0 : NT_W;
            nt_pack_at(a + o0 * lda + p0, lda, orows, kc, work);
            for (long j0 = 0; j0 < n; j0 += NT_MB) {
                /* Rows past the edge repeat the last row; their results are not stored. */
                const float *br[NT_MB];
                for (int r = 0; r < NT_MB; r++) br[r] = b + (j0 + r < n ? j0 + r : n - 1) * ldb + p0;
                long cols = n - j0 < NT_MB ? n - j0 : NT_MB;
                nt_bc_tile(kc, work, br, c + o0 * ldc + j0, ldc, orows, cols, alpha, beta, first);
            }
        }
    }
}

__attribute__((target("avx512f")))
void fm_sgemm_nt_avx512(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc, float *work) {
    /* Short K (a thread's slice of a wider product) stays on the outer-product form: the dot
       products' horizontal sums would dominate. */
    if (m >= 32 && (n >= 64 || k < 256)) nt_broadcast(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work);
    else nt_dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#else
void fm_sgemm_nt_avx512(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc, float *work) {
    (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    (void)work;
}
#endif
