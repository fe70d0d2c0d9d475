/* Standalone timings behind experiments/speed/README.md ("Why the goals are not all met").
   Not part of the library: the fused DyT kernel's forward loop (dyt/nn/fused_cpu.c) with its tanh swapped
   out, against LayerNorm-free baselines, on this machine's cores.

     gcc -O3 -std=gnu11 -ffp-contract=fast -fno-math-errno -march=native -fopenmp \
         experiments/speed/loops.c -o /tmp/dyt-loops && OMP_NUM_THREADS=2 /tmp/dyt-loops

   Prints the best of 30 repetitions, in ms. Measured on the AVX-512 host; on an AVX2 host gcc keeps these tanh
   loops scalar unless -fno-trapping-math is added (see tanh_cost.c). */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

/* the kernel's rational tanh (Eigen/XLA), numerator and denominator kept apart */
static inline float num(float x) {
    const float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    return p * x;
}
static inline float den(float x) {
    const float x2 = x * x;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    return q * x2 + 4.89352518554385e-03f;
}
static inline float clampf(float x) { const float c = 7.90531110763549805f; return x < -c ? -c : (x > c ? c : x); }

/* y = w * f(a * x) + b over rows of C channels; f: 0 tanh, 1 tanh without its division, 2 identity */
#define ROWS(F)                                                                              \
    _Pragma("omp parallel for schedule(static)")                                             \
    for (int64_t r = 0; r < M; r++) {                                                        \
        const float* xr = x + r * C; float* yr = y + r * C;                                  \
        for (int64_t c = 0; c < C; c++) { const float z = clampf(xr[c] * a[c]); yr[c] = (F) * w[c] + b[c]; } \
    }
static void dyt(int f, const float* x, const float* a, const float* w, const float* b, float* y, int64_t M, int64_t C) {
    if (f == 0) { ROWS(num(z) / den(z)) }
    else if (f == 1) { ROWS(num(z) * den(z)) }
    else { ROWS(z) }
}

static void scale_shift(const float* x, float* y, int64_t n) {
    _Pragma("omp parallel for schedule(static)")
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * 0.5f + 1.0f;
}
static void memcpy_split(const float* x, float* y, int64_t n) {
    _Pragma("omp parallel")
    { int t = omp_get_thread_num(), k = omp_get_num_threads(); int64_t lo = n * t / k, hi = n * (t + 1) / k;
      memcpy(y + lo, x + lo, (size_t)(hi - lo) * 4); }
}
static int scale_shift_stream(const float* x, float* y, int64_t n) {
#ifdef __AVX__
    _Pragma("omp parallel for schedule(static)")
    for (int64_t i = 0; i < n; i += 8)  /* n % 8 == 0, y 64-byte aligned */
        _mm256_stream_ps(y + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(0.5f)), _mm256_set1_ps(1.0f)));
    _mm_sfence();
    return 1;
#else
    (void)x; (void)y; (void)n;
    return 0;
#endif
}

#define BEST(EXPR) ({ double best_ = 1e9; for (int r_ = 0; r_ < 30; r_++) { double t0_ = now(); EXPR; double t_ = now() - t0_; if (t_ < best_) best_ = t_; } 1e3 * best_; })

int main(void) {
    const int64_t M = 8192, C = 384, big = 8192LL * 4096;
    float *x = aligned_alloc(64, big * 4), *y = aligned_alloc(64, big * 4);
    float *a = malloc(C * 4), *w = malloc(C * 4), *b = malloc(C * 4);
    for (int64_t i = 0; i < big; i++) { x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f; y[i] = 0.0f; }
    for (int64_t c = 0; c < C; c++) { a[c] = 0.5f; w[c] = 1.0f; b[c] = 0.0f; }
    printf("8192x%ld fp32 (12 MB, in L3), %d threads:\n", (long)C, omp_get_max_threads());
    printf("  DyT forward loop, rational tanh      %.3f ms\n", BEST(dyt(0, x, a, w, b, y, M, C)));
    printf("  same, tanh's division -> multiply    %.3f ms\n", BEST(dyt(1, x, a, w, b, y, M, C)));
    printf("  same, tanh -> identity (scale+shift) %.3f ms\n", BEST(dyt(2, x, a, w, b, y, M, C)));
    printf("8192x4096 fp32 (128 MB, DRAM):\n");
    printf("  DyT forward loop, rational tanh      %.2f ms\n", BEST(dyt(0, x, a, w, b, y, 8192, 4096)));
    printf("  y = 0.5x + 1, regular stores         %.2f ms\n", BEST(scale_shift(x, y, big)));
    printf("  memcpy, one slice per thread         %.2f ms\n", BEST(memcpy_split(x, y, big)));
    if (scale_shift_stream(x, y, 8))
        printf("  y = 0.5x + 1, non-temporal stores    %.2f ms\n", BEST(scale_shift_stream(x, y, big)));
    return 0;
}
