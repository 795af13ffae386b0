/* Internal: geometric augmentation for training (rotation, horizontal flip,
 * zoom), bilinear, about the image's centre, zero outside the image. */
#ifndef CNN_AUGMENT_H
#define CNN_AUGMENT_H

#include "rng.h"

/* dst (c, h, w) = src (c, h, w) rotated by angle_deg (counter-clockwise as
 * seen on screen, y pointing down), mirrored left-right when flip, and scaled
 * by zoom (> 1 enlarges).  Output pixel (x, y) samples the source at the
 * inverse transform of its centre offset from the image centre
 * ((w - 1) / 2, (h - 1) / 2), bilinearly; samples outside the image are 0. */
void cnn_augment_affine(float *dst, const float *src, int c, int h, int w, float angle_deg,
                        int flip, float zoom);

/* Applies a random transform to each of the n images of x (n, c, h, w): an
 * angle uniform in [-rotate, rotate] degrees, a flip with probability 1/2 when
 * flip, a zoom uniform in [1 - zoom, 1 + zoom]; drawn in that order, only for
 * the transforms asked for, from a generator seeded by (key, first + i) for
 * image i: an image's transform depends on its place in the whole batch, not
 * on how the batch is split (cnn-train-mpi's ranks).  tmp holds one image. */
void cnn_augment_batch(float *x, int n, int c, int h, int w, float rotate, int flip, float zoom,
                       uint64_t key, int first, float *tmp);

#endif
