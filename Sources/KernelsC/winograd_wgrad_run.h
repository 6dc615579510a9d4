/* The part of the Winograd weight gradient (WinogradWeightGradient.h) that does not depend on
   the vector unit: the blocking plan, the loop over blocks of images and tile rows, and the
   F(2x2) fold, shared by the AVX-512 kernels (winograd_wgrad_avx512.c) and the AVX2 ones
   (winograd_wgrad_avx2.c), which pass their transforms and products in a WinoOps. */
#ifndef FEATUREMAPS_WINOGRAD_WGRAD_RUN_H
#define FEATUREMAPS_WINOGRAD_WGRAD_RUN_H

#include <stdint.h>
#include <string.h>

/* Floats between one position's block and the next beyond the block itself: the blocks are
   often a power of two long (32 KiB for 256 tiles x 32 channels), which would put the 16
   streams the transforms write in one L1 set; one cache line more spreads them over 16 sets. */
#define WINO_SKEW 16

/* Floats of one block's transforms: 512 KiB measured best on the VGG layers (Xeon, 2 MiB L2:
   1 MiB and 256 KiB within 3%, 64 KiB 30% slower as the products' loops get short). */
#define WINO_BLOCK (1L << 17)

/* Fewest tiles per block (see wino_plan). Measured on airbench's planes (Xeon 6/207, 1 thread,
   batch 256, airbenchConvolutionMethodTimes, F(4x4) weight gradient in ms, WINO_BLOCK alone
   (4, 7 and 16 tiles per block) / at least 32 / 64 / 96 tiles): 256->256 @7x7 116.6 / 48.4 /
   44.1 / 43.3, @3x3 22.2 / 12.9 / 11.9 / 11.6; 64->64 @15x15 12.6 / 12.4 / 13.7 / 15.6. */
#define WINO_MIN_TILES 32

/* Geometry shared by the scratch size and the kernel: tiles, channel counts rounded up to
   whole vectors, and how many images are transformed before their products are summed. */
typedef struct {
    long m, positions;      /* output tile side (2 or 4) and transform positions (16 or 36) */
    long th, tw, tiles;     /* m x m output tiles per image (bf16: tw rounded up to even) */
    long pack;              /* tiles per stored value: 1 (fp32), 2 (bf16 pairs in 32-bit words) */
    long hpp, wpp;          /* padded channel-last input: 1 zero row/column before, enough after */
    long cp, op;            /* channels rounded up to 16 */
    long group;             /* images per transformed block */
    long rows;              /* tile rows per block when a block is part of one image */
    long xT, dyT, v, z, du; /* floats (or 32-bit words) of each scratch part */
} WinoPlan;

static inline WinoPlan wino_plan(long inChannels, long outChannels, long height, long width, int tile, int bf16) {
    WinoPlan p;
    p.m = tile == 4 ? 4 : 2;
    p.positions = (p.m + 2) * (p.m + 2);
    p.th = (height + p.m - 1) / p.m;
    p.tw = (width + p.m - 1) / p.m;
    /* bf16 pairs two neighbouring tiles of a row in each word; past an odd count, a tile of zero
       gradient (dY is zero there), which adds exactly nothing. */
    if (bf16) p.tw += p.tw & 1;
    p.pack = bf16 ? 2 : 1;
    p.tiles = p.th * p.tw;
    p.hpp = p.m * p.th + 2;
    p.wpp = p.m * p.tw + 2;
    p.cp = (inChannels + 15) / 16 * 16;
    p.op = (outChannels + 15) / 16 * 16;
    /* A block's transformed input and gradient (all positions) within WINO_BLOCK floats, so
       the transforms write them to L2 and the products read them back from there: whole
       images when they fit, else some tile rows of one image. */
    long perRow = p.positions * p.tw * (p.cp + p.op) / p.pack;
    p.rows = WINO_BLOCK / perRow;
    if (p.rows < 1) p.rows = 1;
    if (p.rows >= p.th) {
        p.rows = p.th;
        p.group = WINO_BLOCK / (perRow * p.th);
    } else {
        p.group = 1;
    }
    /* At least WINO_MIN_TILES tiles per block even past WINO_BLOCK (small planes): each product
       call loads and stores its accumulators once per block, which over 4 to 16 tiles cost
       about as much as the products; 64 where both channel counts are 256 or more, as each
       transformed tile then feeds enough products to pay for reading it back from L3. */
    long minTiles = inChannels >= 256 && outChannels >= 256 ? 2 * WINO_MIN_TILES : WINO_MIN_TILES;
    if (p.group * p.rows * p.tw < minTiles) {
        if (minTiles <= p.tiles) {
            p.rows = (minTiles + p.tw - 1) / p.tw;
            p.group = 1;
        } else {
            p.rows = p.th;
            p.group = (minTiles + p.tiles - 1) / p.tiles;
        }
    }
    p.xT = p.hpp * p.wpp * p.cp;
    p.dyT = p.m * p.th * p.m * p.tw * p.op;
    p.v = p.positions * (p.group * p.rows * p.tw / p.pack * p.cp + WINO_SKEW);
    p.z = p.positions * (p.group * p.rows * p.tw / p.pack * p.op + WINO_SKEW);
    p.du = p.positions * outChannels * p.cp;
    return p;
}

static inline float *align64(float *f) {
    uintptr_t a = ((uintptr_t)f + 63) & ~(uintptr_t)63;
    return (float *)a;
}

/* Cache lines [first, end) of two byte ranges taken one after the other: the next images'
   input and output gradient, fetched into L2 while the products run, so that transposing them
   does not wait for memory. */
typedef struct {
    const char *a, *b;
    long aLines, bLines, first, end;
} Ahead;

static inline void prefetch_some(Ahead *ahead, long lines) {
    long stop = ahead->first + lines < ahead->end ? ahead->first + lines : ahead->end;
    for (long l = ahead->first; l < stop; l++) {
        const char *addr = l < ahead->aLines ? ahead->a + 64 * l : ahead->b + 64 * (l - ahead->aLines);
        __builtin_prefetch(addr, 0, 2);   /* prefetcht1 on x86-64 */
    }
    ahead->first = stop;
}

/* F(2x2): dw[o][c][i][j] = sum_{p,q} G[p][i] du[4p+q][o][c] G[q][j], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static inline void kernel_gradient(long outChannels, long inChannels, long cp, const float *du, float *dw) {
    const long plane = outChannels * cp;
    for (long o = 0; o < outChannels; o++)
        for (long c = 0; c < inChannels; c++) {
            const float *u = du + o * cp + c;
            float s[3][4];
            for (int q = 0; q < 4; q++) {
                float u0 = u[q * plane], u1 = u[(4 + q) * plane], u2 = u[(8 + q) * plane], u3 = u[(12 + q) * plane];
                float h = 0.5f * (u1 + u2);
                s[0][q] = u0 + h;
                s[1][q] = 0.5f * (u1 - u2);
                s[2][q] = h + u3;
            }
            float *out = dw + (o * inChannels + c) * 9;
            for (int i = 0; i < 3; i++) {
                float h = 0.5f * (s[i][1] + s[i][2]);
                out[i * 3 + 0] = s[i][0] + h;
                out[i * 3 + 1] = 0.5f * (s[i][1] - s[i][2]);
                out[i * 3 + 2] = h + s[i][3];
            }
        }
}

/* The vector unit's kernels (see winograd_wgrad_avx512.c for each): a transpose to channel-last,
   the input and output-gradient transforms of the tile rows [ty0, ty1) (fp32, and bf16 pairs
   where the unit has them, else NULL), the products summed into du, and the F(4x4) fold. */
typedef struct {
    void (*transpose)(const float *src, long rows, long cols, long lds, float *dst, long ldd);
    void (*input_transform)(const WinoPlan *p, const float *xT, long ty0, long ty1, float *v, long tileBase, long ldp);
    void (*gradient_transform)(const WinoPlan *p, const float *dyT, long ty0, long ty1, float *z, long tileBase, long ldp);
    void (*input_transform_bf16)(const WinoPlan *p, const float *xT, long ty0, long ty1, uint32_t *v, long pairBase, long ldp);
    void (*gradient_transform_bf16)(const WinoPlan *p, const float *dyT, long ty0, long ty1, uint32_t *z, long pairBase, long ldp);
    void (*accumulate_products)(const WinoPlan *p, long outChannels, long tiles, const float *v, long ldv,
                                const float *z, long ldz, float *du, Ahead *ahead);
    void (*kernel_gradient_f4)(long outChannels, long inChannels, long cp, const float *du, float *dw);
} WinoOps;

/* WinogradWeightGradient.h's fm_wino_wgrad_* on the kernels of `ops` (bf16 only where they have
   bf16 transforms). */
static inline void wino_wgrad_run(const WinoOps *ops, long images, long inChannels, long outChannels, long height,
                                  long width, const float *x, const float *dy, float *scratch, float *dw, int tile,
                                  int bf16) {
    WinoPlan p = wino_plan(inChannels, outChannels, height, width, tile, bf16);
    float *xT = align64(scratch);
    float *dyT = align64(xT + p.xT);
    float *v = align64(dyT + p.dyT);
    float *z = align64(v + p.v);
    float *du = align64(z + p.z);
    /* Borders, odd edges and lanes past the last channel are never written below: zero once. */
    memset(xT, 0, sizeof(float) * p.xT);
    memset(dyT, 0, sizeof(float) * p.dyT);
    memset(du, 0, sizeof(float) * p.du);
    const long plane = height * width;
    for (long n0 = 0; n0 < images; n0 += p.group) {
        const long nb = images - n0 < p.group ? images - n0 : p.group;
        const long ldv = nb * p.rows * p.tw / p.pack * p.cp + WINO_SKEW, ldz = nb * p.rows * p.tw / p.pack * p.op + WINO_SKEW;
        const long n1 = n0 + nb, nbNext = images - n1 < p.group ? images - n1 : p.group;
        Ahead ahead = {(const char *)(x + n1 * inChannels * plane), (const char *)(dy + n1 * outChannels * plane),
                       nbNext * inChannels * plane / 16, nbNext * outChannels * plane / 16, 0, 0};
        const long chunks = (p.th + p.rows - 1) / p.rows, lines = ahead.aLines + ahead.bLines;
        for (long ty0 = 0; ty0 < p.th; ty0 += p.rows) {
            const long ty1 = ty0 + p.rows < p.th ? ty0 + p.rows : p.th;
            ahead.end = lines * (ty0 / p.rows + 1) / chunks;
            for (long n = 0; n < nb; n++) {
                if (ty0 == 0) {
                    const float *xn = x + (n0 + n) * inChannels * plane;
                    const float *dyn = dy + (n0 + n) * outChannels * plane;
                    for (long y = 0; y < height; y++)
                        ops->transpose(xn + y * width, inChannels, width, plane, xT + ((y + 1) * p.wpp + 1) * p.cp, p.cp);
                    /* When dyT's rows are the image's width they follow one another with no gap: one transpose. */
                    if (p.m * p.tw == width)
                        ops->transpose(dyn, outChannels, plane, plane, dyT, p.op);
                    else
                        for (long y = 0; y < height; y++)
                            ops->transpose(dyn + y * width, outChannels, width, plane, dyT + y * p.m * p.tw * p.op, p.op);
                }
                if (bf16) {
                    ops->input_transform_bf16(&p, xT, ty0, ty1, (uint32_t *)v, n * p.tiles / 2, ldv);
                    ops->gradient_transform_bf16(&p, dyT, ty0, ty1, (uint32_t *)z, n * p.tiles / 2, ldz);
                } else {
                    ops->input_transform(&p, xT, ty0, ty1, v, n * p.tiles, ldv);
                    ops->gradient_transform(&p, dyT, ty0, ty1, z, n * p.tiles, ldz);
                }
            }
            ops->accumulate_products(&p, outChannels, nb * (ty1 - ty0) * p.tw / p.pack, v, ldv, z, ldz, du, &ahead);
        }
    }
    if (p.m == 4)
        ops->kernel_gradient_f4(outChannels, inChannels, p.cp, du, dw);
    else
        kernel_gradient(outChannels, inChannels, p.cp, du, dw);
}

#endif
