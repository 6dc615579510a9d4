#ifndef FEATUREMAPS_PNG_SHIM_H
#define FEATUREMAPS_PNG_SHIM_H

#include <stddef.h>

/* libpng's full write API (needed to choose the row filter and zlib's strategy, which the
 * simplified API cannot) reports errors by longjmp, which Swift frames cannot survive. This
 * function keeps setjmp/longjmp inside C and turns every libpng error into a return code plus a
 * message, as the JPEG shim does for libjpeg. */

/* zlib's Z_RLE strategy (zlib.h is not part of png.h's API; png_shim.c checks the value). */
#define FM_PNG_STRATEGY_RLE 3

/* Size of the message buffer passed below. */
#define FM_PNG_MESSAGE_SIZE 200

/* Encodes 8-bit gray (channels 1) or RGB (channels 3) interleaved rows as a PNG in memory, with
 * libpng row filters `filters` (a PNG_FILTER_* mask, e.g. PNG_FILTER_UP) and zlib `level` and
 * `strategy` (e.g. Z_RLE). On success returns 0 and sets *out (free it with fm_png_free) and
 * *outSize; otherwise fills message (NUL-terminated) and returns non-zero. */
int fm_png_encode(const unsigned char *pixels, int width, int height, int channels,
                  int filters, int level, int strategy,
                  unsigned char **out, size_t *outSize, char *message);

/* Frees a buffer fm_png_encode returned. */
void fm_png_free(unsigned char *buffer);

#endif
