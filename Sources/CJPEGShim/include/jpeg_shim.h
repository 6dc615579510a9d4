#ifndef FEATUREMAPS_JPEG_SHIM_H
#define FEATUREMAPS_JPEG_SHIM_H

#include <stddef.h>

/* libjpeg reports fatal errors through error_exit, which must not return; the only way out is
 * longjmp, which Swift frames cannot survive. These two functions keep setjmp/longjmp inside C and
 * turn every libjpeg error into a return code plus a message. */

/* Size of the message buffers passed below (libjpeg's JMSG_LENGTH_MAX). */
#define FM_JPEG_MESSAGE_SIZE 200

typedef struct {
    int width;
    int height;
    int components;     /* 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK */
    int isCMYK;         /* colour space is CMYK or YCCK, converted to RGB by fm_jpeg_decode_rgb */
} fm_jpeg_info;

/* Reads only the header. Returns 0 on success; otherwise fills message (NUL-terminated). */
int fm_jpeg_read_info(const unsigned char *data, size_t size, fm_jpeg_info *info, char *message);

/* Decodes to interleaved 8-bit RGB into rgb, which must hold exactly width * height * 3 bytes
 * (rgbSize) for the size fm_jpeg_read_info returned. A file that ends early is an error, not a
 * gray-padded image. Returns 0 on success; otherwise fills message. */
int fm_jpeg_decode_rgb(const unsigned char *data, size_t size, unsigned char *rgb, size_t rgbSize, char *message);

#endif
