/* Geometric augmentation for training (see augment.h). */
#include "augment.h"

#include <math.h>
#include <string.h>

void cnn_augment_affine(float *dst, const float *src, int c, int h, int w, float angle_deg,
                        int flip, float zoom)
{
    /* Inverse map: output offset (u, v) from the centre -> source offset.
     * Forward: mirror (u -> -u), rotate by a, scale by zoom; inverse is the
     * reverse order of the inverses. */
    double a = angle_deg * M_PI / 180.0, ca = cos(a), sa = sin(a);
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    size_t plane = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double u = (x - cx) / zoom, v = (y - cy) / zoom;
            /* On screen (y down) a counter-clockwise turn by a maps source
             * (p, q) to (p cos a + q sin a, -p sin a + q cos a); its inverse: */
            double p = u * ca - v * sa, q = u * sa + v * ca;
            if (flip) p = -p;
            double sx = p + cx, sy = q + cy;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            for (int k = 0; k < c; k++) {
                const float *s = src + (size_t)k * plane;
                double acc = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i, yy = y0 + j;
                        double wt = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
                        if (wt != 0 && xx >= 0 && xx < w && yy >= 0 && yy < h)
                            acc += wt * s[(size_t)yy * (size_t)w + (size_t)xx];
                    }
                dst[(size_t)k * plane + (size_t)y * (size_t)w + (size_t)x] = (float)acc;
            }
        }
}

void cnn_augment_batch(float *x, int n, int c, int h, int w, float rotate, int flip, float zoom,
                       uint64_t key, int first, float *tmp)
{
    size_t rec = (size_t)c * (size_t)h * (size_t)w;
    for (int i = 0; i < n; i++) {
        cnn_rng r, *rng = &r;
        cnn_rng_seed_at(rng, key, (uint64_t)(first + i));
        float a = rotate > 0 ? (2 * cnn_rng_uniform(rng) - 1) * rotate : 0;
        int f = flip ? (int)cnn_rng_below(rng, 2) : 0;
        float z = zoom > 0 ? 1 + (2 * cnn_rng_uniform(rng) - 1) * zoom : 1;
        float *img = x + (size_t)i * rec;
        memcpy(tmp, img, sizeof *tmp * rec);
        cnn_augment_affine(img, tmp, c, h, w, a, f, z);
    }
}
