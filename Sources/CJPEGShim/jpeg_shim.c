#include "jpeg_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *message;
} shim_error_mgr;

static void shim_error_exit(j_common_ptr cinfo) {
    shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->escape, 1);
}

/* Warnings are ignored (libjpeg recovers from most corrupt data), except running out of data:
 * libjpeg would pad the rest of the image with gray, and a truncated file must be an error. */
static void shim_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            shim_error_exit(cinfo);
        }
    }
}

static void shim_init(struct jpeg_decompress_struct *cinfo, shim_error_mgr *err, char *message) {
    memset(cinfo, 0, sizeof(*cinfo));
    cinfo->err = jpeg_std_error(&err->base);
    err->base.error_exit = shim_error_exit;
    err->base.emit_message = shim_emit_message;
    err->message = message;
    message[0] = 0;
}

/* Reads the header into info and, if rgb is not NULL, decodes the whole image into it. setjmp must
 * stay in a frame that is live when libjpeg longjmps, so header reading and decoding share this one. */
static int shim_run(const unsigned char *data, size_t size, fm_jpeg_info *info,
                    unsigned char *rgb, size_t rgbSize, char *message) {
    struct jpeg_decompress_struct cinfo;
    shim_error_mgr err;
    shim_init(&cinfo, &err, message);
    if (setjmp(err.escape)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        snprintf(message, FM_JPEG_MESSAGE_SIZE, "no image in the JPEG stream");
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    info->width = (int)cinfo.image_width;
    info->height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->isCMYK = cmyk;
    if (rgb == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    size_t width = cinfo.image_width, height = cinfo.image_height;
    if (width * height * 3 != rgbSize) {
        snprintf(message, FM_JPEG_MESSAGE_SIZE, "internal error: buffer does not fit %zux%zu", width, height);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_start_decompress(&cinfo);
    /* Pool memory, so a longjmp out of the loop cannot leak it. */
    JSAMPARRAY cmykRow = cmyk
        ? (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, (JDIMENSION)(width * 4), 1)
        : NULL;
    /* Adobe's CMYK JPEGs store inverted values; without the Adobe marker they are plain. */
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *out = rgb + (size_t)cinfo.output_scanline * width * 3;
        if (!cmyk) {
            JSAMPROW row = out;
            jpeg_read_scanlines(&cinfo, &row, 1);
            continue;
        }
        jpeg_read_scanlines(&cinfo, cmykRow, 1);
        const unsigned char *in = cmykRow[0];
        for (size_t x = 0; x < width; x++) {
            unsigned k = inverted ? in[4 * x + 3] : 255u - in[4 * x + 3];
            for (int c = 0; c < 3; c++) {
                unsigned v = inverted ? in[4 * x + c] : 255u - in[4 * x + c];
                out[3 * x + c] = (unsigned char)((v * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int fm_jpeg_read_info(const unsigned char *data, size_t size, fm_jpeg_info *info, char *message) {
    return shim_run(data, size, info, NULL, 0, message);
}

int fm_jpeg_decode_rgb(const unsigned char *data, size_t size, unsigned char *rgb, size_t rgbSize, char *message) {
    fm_jpeg_info info;
    if (rgb == NULL) {
        snprintf(message, FM_JPEG_MESSAGE_SIZE, "internal error: no output buffer");
        return 1;
    }
    return shim_run(data, size, &info, rgb, rgbSize, message);
}
