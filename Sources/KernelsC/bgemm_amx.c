/* bf16 products on AMX tiles (TDPBF16PS): the OS permission, the tile configuration, the 32 x 32
   block kernel bf16gemm runs (Sources/Kernels/BF16GEMM.swift) and the peak microbenchmark.
   Written from Intel's SDM and intrinsics guide (LDTILECFG layout, TDPBF16PS semantics). */
#include "KernelsC.h"

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "gemm_store_avx512.h"

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int fm_amx_request_permission(void) {
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    /* Granted: the kernel now lists XTILEDATA among the permitted features. */
    unsigned long permitted = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &permitted) != 0) return 0;
    return (permitted >> XFEATURE_XTILEDATA) & 1u ? 1 : 0;
}

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl")))

/* Tiles 0-3: C (16 rows x 16 fp32), 4-5: A (16 rows x 32 bf16), 6-7: B (16 k-pairs x 16 columns
   x 2 bf16). Every tile is 16 rows of 64 bytes, palette 1. */
struct amx_config {
    uint8_t palette;
    uint8_t startRow;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

AMX_TARGET
void fm_amx_configure(void) {
    struct amx_config cfg __attribute__((aligned(64)));
    __builtin_memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

AMX_TARGET
void fm_amx_release(void) { _tile_release(); }

AMX_TARGET
void fm_bgemm_kernel_amx(long blocks, const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
                         const uint16_t *b1, float *c, long ldc, long rows, long cols, float alpha, float beta) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    /* One k-block: A tiles are 16 x 32 bf16 (1 KiB, rows 64 bytes apart), B tiles 16 pairs x 16
       columns (1 KiB, rows 64 bytes apart). C[i][j] += A_i x B_j. */
    for (long kb = 0; kb < blocks; kb++) {
        _tile_loadd(4, a0 + kb * 512, 64);
        _tile_loadd(6, b0 + kb * 512, 64);
        _tile_loadd(7, b1 + kb * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a1 + kb * 512, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float tile[32 * 32] __attribute__((aligned(64)));
    _tile_stored(0, tile, 128);
    _tile_stored(1, tile + 16, 128);
    _tile_stored(2, tile + 16 * 32, 128);
    _tile_stored(3, tile + 16 * 32 + 16, 128);

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int readC = beta != 0.0f;
    for (long i = 0; i < rows; i++) {
        __m512 acc[2] = {_mm512_load_ps(tile + 32 * i), _mm512_load_ps(tile + 32 * i + 16)};
        fm_store_row(c + i * ldc, acc, 2, cols, va, vb, readC);
    }
}

/* Four independent C tiles (TDPBF16PS's latency is about four of its issue slots) fed by two A
   and two B tiles that stay in the tile registers. */
AMX_TARGET
double fm_bf16_peak_amx(long iterations, float *sink) {
    uint16_t ones[512] __attribute__((aligned(64)));
    for (int i = 0; i < 512; i++) ones[i] = 0x2400; /* 2^-55: sums stay finite */
    fm_amx_configure();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long it = 0; it < iterations; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float out[256] __attribute__((aligned(64)));
    _tile_stored(0, out, 64);
    float s = out[0];
    _tile_stored(3, out, 64);
    *sink = s + out[255];
    fm_amx_release();
    /* Each TDPBF16PS: 16 x 16 outputs, 32 products each. */
    return (double)iterations * 4.0 * 16.0 * 16.0 * 32.0 * 2.0;
}

#else

int fm_amx_request_permission(void) { return 0; }
void fm_amx_configure(void) {}
void fm_amx_release(void) {}
void fm_bgemm_kernel_amx(long blocks, const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
                         const uint16_t *b1, float *c, long ldc, long rows, long cols, float alpha, float beta) {
    (void)blocks; (void)a0; (void)a1; (void)b0; (void)b1; (void)c; (void)ldc; (void)rows; (void)cols;
    (void)alpha; (void)beta;
}
double fm_bf16_peak_amx(long iterations, float *sink) { (void)iterations; *sink = 0; return 0; }

#endif
