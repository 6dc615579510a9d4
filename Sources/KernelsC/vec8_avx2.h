/* 8-lane float vectors for the AVX2 + FMA kernels (winograd_avx2.c, winograd_wgrad_avx2.c,
   conv_rows_avx2.c): clang's vector type, used only in functions under V8_TARGET, which the
   Swift side calls only when CPUFeatures reports AVX2. x86-64 only: include it inside
   `#if defined(__x86_64__)`. */
#ifndef FEATUREMAPS_VEC8_AVX2_H
#define FEATUREMAPS_VEC8_AVX2_H
#include <immintrin.h>
#include <string.h>

#define V8_TARGET __attribute__((target("avx2,fma")))

typedef float v8f __attribute__((ext_vector_type(8)));

V8_TARGET static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

V8_TARGET static inline void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

V8_TARGET static inline v8f fma8(v8f a, v8f b, v8f c) { return __builtin_elementwise_fma(a, b, c); }

/* c[j] lane l = r[l] lane j: the usual AVX 8x8 transpose (unpack pairs, shuffle quads, then
   128-bit halves), 24 shuffles. Inlined, outputs a caller leaves unused cost nothing. */
V8_TARGET static inline void transpose8x8(const v8f *r, v8f *c) {
    v8f t[8], s[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = __builtin_shufflevector(r[2 * k], r[2 * k + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[2 * k + 1] = __builtin_shufflevector(r[2 * k], r[2 * k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int k = 0; k < 2; k++) {   /* rows 4k ..< 4k + 4: s[4k + j] holds columns j | j + 4 */
        s[4 * k] = __builtin_shufflevector(t[4 * k], t[4 * k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        s[4 * k + 1] = __builtin_shufflevector(t[4 * k], t[4 * k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        s[4 * k + 2] = __builtin_shufflevector(t[4 * k + 1], t[4 * k + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        s[4 * k + 3] = __builtin_shufflevector(t[4 * k + 1], t[4 * k + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int j = 0; j < 4; j++) {
        c[j] = __builtin_shufflevector(s[j], s[4 + j], 0, 1, 2, 3, 8, 9, 10, 11);
        c[4 + j] = __builtin_shufflevector(s[j], s[4 + j], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* Lanes 0 ..< count set: the mask of AVX's masked loads, which neither read nor fault on the
   lanes past it. Partial vectors through a stack buffer and memcpy, as first written, called
   memcpy with a kernel's accumulators spilled around it at every row's tail: the notebook's conv1
   weight gradient (28-pixel rows) ran 2.3-2.9x slower (Docs/KERNELS.md). */
V8_TARGET static inline __m256i first_lanes(long count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The first `count` (1...8) lanes of v to p: four, two and one lanes as count's bits say (AVX2's
   masked store measured about 5% slower in the AVX2 row kernel's forward on the AMD EPYC Zen 3,
   C harness, 64 images, 3 -> 16 and 16 -> 16 5x5 with 28-pixel rows, three rounds). */
V8_TARGET static inline void store_first(float *p, v8f v, long count) {
    if (count >= 8) {
        store8(p, v);
        return;
    }
    __m128 part = _mm256_castps256_ps128((__m256)v);
    if (count >= 4) {
        _mm_storeu_ps(p, part);
        p += 4;
        count -= 4;
        part = _mm256_extractf128_ps((__m256)v, 1);
    }
    if (count >= 2) {
        _mm_storel_pi((__m64 *)p, part);
        p += 2;
        count -= 2;
        part = _mm_movehl_ps(part, part);
    }
    if (count >= 1) _mm_store_ss(p, part);
}

/* Lanes 0 ..< count from p, zero past them. */
V8_TARGET static inline v8f load_first(const float *p, long count) {
    if (count >= 8) return load8(p);
    return (v8f)_mm256_maskload_ps(p, first_lanes(count));
}

#endif
