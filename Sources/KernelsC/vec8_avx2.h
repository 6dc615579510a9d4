/* 8-lane float vectors for the AVX2 + FMA kernels (winograd_avx2.c, winograd_wgrad_avx2.c,
   conv_rows_avx2.c): clang's vector type, used only in functions under V8_TARGET, which the
   Swift side calls only when CPUFeatures reports AVX2. x86-64 only: include it inside
   `#if defined(__x86_64__)`. */
#ifndef FEATUREMAPS_VEC8_AVX2_H
#define FEATUREMAPS_VEC8_AVX2_H
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

/* The first `count` (1...8) lanes of v to p. */
V8_TARGET static inline void store_first(float *p, v8f v, long count) {
    if (count >= 8) {
        store8(p, v);
        return;
    }
    float lanes[8];
    store8(lanes, v);
    memcpy(p, lanes, (size_t)count * sizeof(float));
}

/* Lanes 0 ..< count from p, zero past them. */
V8_TARGET static inline v8f load_first(const float *p, long count) {
    if (count >= 8) return load8(p);
    float lanes[8] = {0};
    memcpy(lanes, p, (size_t)count * sizeof(float));
    return load8(lanes);
}

#endif
