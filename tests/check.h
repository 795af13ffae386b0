/* Tiny test harness shared by every tests/test_*.c program.
 *
 * A test is a `static void name(void)` run with RUN(name).  Checks report
 * file:line, the expected and the actual value, and mark the running test as
 * failed; the program ends with check_report(), which prints the closing line
 * "N passed, N failed" (counting tests, not checks) that tests/run.sh sums. */
#ifndef CNN_TEST_CHECK_H
#define CNN_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_tests_passed, check_tests_failed, check_current_failed;

#define CHECK_FAIL_(...)                                                     \
    do {                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
        check_current_failed = 1;                                            \
    } while (0)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) CHECK_FAIL_("check failed: %s", #cond);                 \
    } while (0)

#define CHECK_INT_EQ(expected, actual)                                       \
    do {                                                                     \
        long long e_ = (long long)(expected), a_ = (long long)(actual);      \
        if (e_ != a_)                                                        \
            CHECK_FAIL_("%s: expected %lld, got %lld", #actual, e_, a_);     \
    } while (0)

#define CHECK_STR_EQ(expected, actual)                                       \
    do {                                                                     \
        const char *e_ = (expected), *a_ = (actual);                         \
        if (!a_ || strcmp(e_, a_) != 0)                                      \
            CHECK_FAIL_("%s: expected \"%s\", got \"%s\"", #actual, e_,      \
                        a_ ? a_ : "(null)");                                 \
    } while (0)

/* Passes when `haystack` contains `needle`. */
#define CHECK_CONTAINS(haystack, needle)                                     \
    do {                                                                     \
        const char *h_ = (haystack), *n_ = (needle);                         \
        if (!h_ || !strstr(h_, n_))                                          \
            CHECK_FAIL_("%s: expected to contain \"%s\", got \"%s\"",        \
                        #haystack, n_, h_ ? h_ : "(null)");                  \
    } while (0)

/* |a - e| <= tol * max(1, |e|): relative for large values, absolute near 0. */
#define CHECK_NEAR(expected, actual, tol)                                    \
    do {                                                                     \
        double e_ = (double)(expected), a_ = (double)(actual);               \
        double s_ = fabs(e_) > 1.0 ? fabs(e_) : 1.0;                         \
        if (!(fabs(a_ - e_) <= (tol) * s_))                                  \
            CHECK_FAIL_("%s: expected %.9g, got %.9g (tol %g)", #actual, e_, \
                        a_, (double)(tol));                                  \
    } while (0)

#define RUN(test)                                                            \
    do {                                                                     \
        check_current_failed = 0;                                            \
        test();                                                              \
        if (check_current_failed) {                                          \
            check_tests_failed++;                                            \
            fprintf(stderr, "FAIL %s\n", #test);                             \
        } else {                                                             \
            check_tests_passed++;                                            \
        }                                                                    \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

#endif
