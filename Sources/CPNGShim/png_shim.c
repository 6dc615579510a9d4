#include "png_shim.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

_Static_assert(FM_PNG_STRATEGY_RLE == Z_RLE, "FM_PNG_STRATEGY_RLE must be zlib's Z_RLE");

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
    char *message;
} shim_output;

static void shim_error(png_structp png, png_const_charp text) {
    shim_output *output = (shim_output *)png_get_error_ptr(png);
    strncpy(output->message, text ? text : "libpng error", FM_PNG_MESSAGE_SIZE - 1);
    output->message[FM_PNG_MESSAGE_SIZE - 1] = 0;
    png_longjmp(png, 1);
}

static void shim_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void shim_write(png_structp png, png_bytep bytes, size_t count) {
    shim_output *output = (shim_output *)png_get_io_ptr(png);
    if (output->size + count > output->capacity) {
        size_t capacity = output->capacity ? output->capacity : 65536;
        while (capacity < output->size + count) capacity *= 2;
        unsigned char *grown = realloc(output->data, capacity);
        if (!grown) png_error(png, "out of memory");
        output->data = grown;
        output->capacity = capacity;
    }
    memcpy(output->data + output->size, bytes, count);
    output->size += count;
}

static void shim_flush(png_structp png) {
    (void)png;
}

int fm_png_encode(const unsigned char *pixels, int width, int height, int channels,
                  int filters, int level, int strategy,
                  unsigned char **out, size_t *outSize, char *message) {
    shim_output output = {NULL, 0, 0, message};
    message[0] = 0;
    *out = NULL;
    *outSize = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
        strncpy(message, "unsupported image shape", FM_PNG_MESSAGE_SIZE - 1);
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &output, shim_error, shim_warning);
    if (!png) {
        strncpy(message, "cannot create the PNG writer", FM_PNG_MESSAGE_SIZE - 1);
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    /* `output` lives in this frame and is only changed through pointers, so it is intact after a
     * longjmp back here. */
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(output.data);
        if (!message[0]) strncpy(message, "cannot create the PNG writer", FM_PNG_MESSAGE_SIZE - 1);
        return 1;
    }
    png_set_write_fn(png, &output, shim_write, shim_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    png_set_compression_level(png, level);
    png_set_compression_strategy(png, strategy);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = output.data;
    *outSize = output.size;
    return 0;
}

void fm_png_free(unsigned char *buffer) {
    free(buffer);
}
