/* B^T of Winograd F(4x4, 3x3) on 8 lanes, shared by the AVX2 kernels (winograd_avx2.c,
   winograd_wgrad_avx2.c). x86-64 only: both include it inside `#if defined(__x86_64__)`. */
#ifndef FEATUREMAPS_WINOGRAD_F4_VEC8_H
#define FEATUREMAPS_WINOGRAD_F4_VEC8_H
#include "vec8_avx2.h"

/* r = B^T d for one 6-vector d (B^T rows: 4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
   0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1), as winograd_f4_bt.h does it on 16 lanes. */
V8_TARGET static inline void bt6(const v8f *d, v8f *r) {
    const v8f four = 4.0f, five = 5.0f, two = 2.0f;
    v8f t0 = fma8(-four, d[2], d[4]);   /* d4 - 4 d2 */
    v8f t1 = fma8(-four, d[1], d[3]);   /* d3 - 4 d1 */
    v8f t2 = d[4] - d[2];
    v8f t3 = two * (d[3] - d[1]);
    r[0] = fma8(four, d[0], fma8(-five, d[2], d[4]));
    r[1] = t0 + t1;
    r[2] = t0 - t1;
    r[3] = t2 + t3;
    r[4] = t2 - t3;
    r[5] = fma8(four, d[1], fma8(-five, d[3], d[5]));
}

#endif
