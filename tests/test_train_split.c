/* cnn_train_split (lib/train.c): the seeded --val-split, checked by its
 * properties: a permutation, floor(fraction * n) held out, the same seed
 * giving the same split and another seed another, empty parts refused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cnn.h"

static void split_is_a_seeded_permutation(void)
{
    enum { N = 1000 };
    uint32_t *a = NULL, *b = NULL, *c = NULL;
    size_t nt, nv, nt2, nv2;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_train_split(N, 0.25, 7, &a, &nt, &nv, &err));
    CHECK_INT_EQ(250, nv);
    CHECK_INT_EQ(750, nt);
    static unsigned char seen[N];
    int perm = 1, moved = 0;
    for (size_t i = 0; i < N; i++) {
        if (a[i] >= N || seen[a[i]]) perm = 0;
        else seen[a[i]] = 1;
        moved += a[i] != i;
    }
    CHECK(perm);
    CHECK(moved > N / 2);
    CHECK_INT_EQ(0, cnn_train_split(N, 0.25, 7, &b, &nt2, &nv2, &err));
    CHECK(memcmp(a, b, sizeof *a * N) == 0);
    CHECK_INT_EQ(0, cnn_train_split(N, 0.25, 8, &c, &nt2, &nv2, &err));
    CHECK(memcmp(a, c, sizeof *a * N) != 0);
    free(a), free(b), free(c);
}

static void no_split_keeps_the_order(void)
{
    uint32_t *a = NULL;
    size_t nt, nv;
    cnn_error err;
    CHECK_INT_EQ(0, cnn_train_split(5, 0, 7, &a, &nt, &nv, &err));
    CHECK_INT_EQ(5, nt);
    CHECK_INT_EQ(0, nv);
    for (uint32_t i = 0; i < 5; i++) CHECK_INT_EQ(i, a[i]);
    free(a);
}

static void a_split_leaving_an_empty_part_is_refused(void)
{
    uint32_t *a = NULL;
    size_t nt, nv;
    cnn_error err;
    CHECK_INT_EQ(-1, cnn_train_split(3, 0.2, 1, &a, &nt, &nv, &err));
    CHECK(a == NULL);
    CHECK_STR_EQ("a validation split of 0.2 of 3 images leaves an empty set", err.msg);
    CHECK_INT_EQ(-1, cnn_train_split(3, 1.0, 1, &a, &nt, &nv, &err));
    CHECK(a == NULL);
}

int main(void)
{
    RUN(split_is_a_seeded_permutation);
    RUN(no_split_keeps_the_order);
    RUN(a_split_leaving_an_empty_part_is_refused);
    return check_report();
}
