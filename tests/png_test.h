/* PNG-reading helpers shared by the drawing tests (test_draw.c, test_plot.c;
 * the Makefile links tests/png_test.c into both): a scratch folder for the
 * pictures, the colour type a PNG declares, a pixel read back as 0..255, and
 * whether two files hold the same bytes. */
#ifndef CNN_TEST_PNG_TEST_H
#define CNN_TEST_PNG_TEST_H

#include "image.h"

/* Creates a fresh folder from a mkdtemp template ("/tmp/name-XXXXXX"; the
 * string is used in place and must outlive the test).  0, or -1 with a
 * message on stderr. */
int scratch_make(char *template_);

/* "FOLDER/name" in the scratch folder; the last four results stay valid. */
const char *path_in(const char *name);

/* Removes the scratch folder and the files in it. */
void scratch_remove(void);

/* The PNG's colour type (byte 25 of the file: IHDR's colour type), or -1. */
int colour_type(const char *path);

/* Pixel (x, y) of an RGB image as 0..255 per channel. */
void rgb_at(const cnn_image *im, int x, int y, int rgb[3]);

/* 1 when both files can be read, are not empty and hold the same bytes (up to
 * 64 MiB). */
int same_bytes(const char *a, const char *b);

#endif
