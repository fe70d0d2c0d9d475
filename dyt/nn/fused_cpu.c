/* DyT's CPU kernels (dyt/nn/fused_cpu.py builds and loads them): y = w * tanh(a * x) + b, one pass each way. */
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID() omp_get_thread_num()
#define THREAD_COUNT() omp_get_num_threads()
#else
#define THREAD_ID() 0
#define THREAD_COUNT() 1
#endif

#define BLOCK_ROWS 32  /* rows summed into a block buffer before joining the thread's sum */
#define TILE_COLS 1024  /* backward, channels last: columns per tile (3 block sums of 4 KB each in L1) */

/* tanh's rational function (Eigen / XLA): odd numerator of degree 13, even denominator of degree 6 */
#define TANH_CLAMP 7.90531110763549805f
#define P13 -2.76076847742355e-16f
#define P11 2.00018790482477e-13f
#define P9 -8.60467152213735e-11f
#define P7 5.12229709037114e-08f
#define P5 1.48572235717979e-05f
#define P3 6.37261928875436e-04f
#define P1 4.89352455891786e-03f
#define Q6 1.19825839466702e-06f
#define Q4 1.18534705686654e-04f
#define Q2 2.26843463243900e-03f
#define Q0 4.89352518554385e-03f

static inline float tanh_rational(float x) {
    const float clamp = TANH_CLAMP;
    x = x < -clamp ? -clamp : (x > clamp ? clamp : x);
    const float x2 = x * x;
    float p = x2 * P13 + P11;
    p = p * x2 + P9;
    p = p * x2 + P7;
    p = p * x2 + P5;
    p = p * x2 + P3;
    p = p * x2 + P1;
    p = p * x;
    float q = x2 * Q6 + Q4;
    q = q * x2 + Q2;
    q = q * x2 + Q0;
    return p / q;
}

#if defined(__AVX2__) && defined(__FMA__)
/* The same rational function on 8 lanes, written with intrinsics for the fp32 channels-last kernels (the
   training hot path): gcc's own vectorization of tanh_rational clamps with compare + blend pairs and is ~20%
   slower in cache. max(-clamp, x) and min(clamp, x) return x when x is NaN (x86 returns the second operand),
   so NaN propagates as in tanh_rational. */
#include <immintrin.h>
#define DYT_AVX2 1
#define SET(c) _mm256_set1_ps(c)
static inline __m256 tanh8(__m256 x) {
    const __m256 clamp = SET(TANH_CLAMP);
    x = _mm256_min_ps(clamp, _mm256_max_ps(SET(-TANH_CLAMP), x));
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, SET(P13), SET(P11));
    p = _mm256_fmadd_ps(p, x2, SET(P9));
    p = _mm256_fmadd_ps(p, x2, SET(P7));
    p = _mm256_fmadd_ps(p, x2, SET(P5));
    p = _mm256_fmadd_ps(p, x2, SET(P3));
    p = _mm256_fmadd_ps(p, x2, SET(P1));
    p = _mm256_mul_ps(p, x);
    __m256 q = _mm256_fmadd_ps(x2, SET(Q6), SET(Q4));
    q = _mm256_fmadd_ps(q, x2, SET(Q2));
    q = _mm256_fmadd_ps(q, x2, SET(Q0));
    return _mm256_div_ps(p, q);
}
#endif

static inline float load_f32(const float* p, int64_t i) { return p[i]; }
static inline void store_f32(float* p, int64_t i, float v) { p[i] = v; }
static inline float load_bf16(const uint16_t* p, int64_t i) {
    uint32_t u = (uint32_t)p[i] << 16; float f; memcpy(&f, &u, 4); return f;
}
static inline void store_bf16(uint16_t* p, int64_t i, float v) {
    uint32_t u; memcpy(&u, &v, 4);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  /* round to nearest even */
    p[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x40u) : rounded);  /* NaN stays NaN */
}

/* x: (M, C) rows of channels; a, w, b: (C,) fp32 */
#define FWD_LAST(NAME, TIN, LOAD, TOUT, STORE)                                                  \
void NAME(const TIN* x, const float* a, const float* w, const float* b, TOUT* y,               \
          int64_t M, int64_t C, int nt) {                                                       \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                                \
    for (int64_t r = 0; r < M; r++) {                                                           \
        const TIN* xr = x + r * C; TOUT* yr = y + r * C;                                        \
        _Pragma("omp simd")                                                                     \
        for (int64_t c = 0; c < C; c++)                                                         \
            STORE(yr, c, tanh_rational(LOAD(xr, c) * a[c]) * w[c] + b[c]);                      \
    }                                                                                           \
}

/* x: (N, C, L), channels first; rows are (n, c) pairs */
#define FWD_FIRST(NAME, TIN, LOAD, TOUT, STORE)                                                 \
void NAME(const TIN* x, const float* a, const float* w, const float* b, TOUT* y,               \
          int64_t N, int64_t C, int64_t L, int nt) {                                            \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                                \
    for (int64_t r = 0; r < N * C; r++) {                                                       \
        const int64_t c = r % C; const float ac = a[c], wc = w[c], bc = b[c];                   \
        const TIN* xr = x + r * L; TOUT* yr = y + r * L;                                        \
        _Pragma("omp simd")                                                                     \
        for (int64_t l = 0; l < L; l++)                                                         \
            STORE(yr, l, tanh_rational(LOAD(xr, l) * ac) * wc + bc);                            \
    }                                                                                           \
}

/* g: (M, C) upstream gradient; dx: (M, C); part: (nt, 6, C) zeroed fp32 scratch: per thread
   [dalpha, dweight, dbias] sums, then the same for the current block of rows. Columns go in
   tiles so that a tile's three block sums stay in L1 while its rows stream past. */
#define BWD_LAST(NAME, TIN, LOADX, STOREX, TG, LOADG)                                           \
void NAME(const TG* g, const TIN* x, const float* a, const float* w, TIN* dx, float* part,     \
          int64_t M, int64_t C, int nt) {                                                       \
    _Pragma("omp parallel num_threads(nt)")                                                     \
    {                                                                                           \
        const int tid = THREAD_ID(), n = THREAD_COUNT();                                        \
        float* sa = part + (int64_t)tid * 6 * C; float* sw = sa + C; float* sb = sw + C;        \
        float* ba = sb + C; float* bw = ba + C; float* bb = bw + C;                             \
        const int64_t r0 = M * tid / n, r1 = M * (tid + 1) / n;                                 \
        for (int64_t rb = r0; rb < r1; rb += BLOCK_ROWS) {                                      \
            const int64_t re = rb + BLOCK_ROWS < r1 ? rb + BLOCK_ROWS : r1;                     \
            for (int64_t c0 = 0; c0 < C; c0 += TILE_COLS) {                                     \
                const int64_t c1 = c0 + TILE_COLS < C ? c0 + TILE_COLS : C;                     \
                for (int64_t c = c0; c < c1; c++) { ba[c] = 0.0f; bw[c] = 0.0f; bb[c] = 0.0f; }  \
                for (int64_t r = rb; r < re; r++) {                                             \
                    const TG* gr = g + r * C; const TIN* xr = x + r * C; TIN* dxr = dx + r * C; \
                    _Pragma("omp simd")                                                         \
                    for (int64_t c = c0; c < c1; c++) {                                         \
                        const float gv = LOADG(gr, c), xv = LOADX(xr, c);                       \
                        const float t = tanh_rational(xv * a[c]);                               \
                        const float dz = gv * w[c] * (1.0f - t * t);                            \
                        STOREX(dxr, c, dz * a[c]);                                              \
                        ba[c] += dz * xv; bw[c] += gv * t; bb[c] += gv;                         \
                    }                                                                           \
                }                                                                               \
                _Pragma("omp simd")                                                             \
                for (int64_t c = c0; c < c1; c++) { sa[c] += ba[c]; sw[c] += bw[c]; sb[c] += bb[c]; } \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}

/* g, x, dx: (N, C, L); part: (nt, 3, C) zeroed fp32 scratch, per thread [dalpha, dweight, dbias] */
#define BWD_FIRST(NAME, TIN, LOADX, STOREX, TG, LOADG)                                          \
void NAME(const TG* g, const TIN* x, const float* a, const float* w, TIN* dx, float* part,     \
          int64_t N, int64_t C, int64_t L, int nt) {                                            \
    _Pragma("omp parallel num_threads(nt)")                                                     \
    {                                                                                           \
        float* sa = part + (int64_t)THREAD_ID() * 3 * C; float* sw = sa + C; float* sb = sw + C; \
        _Pragma("omp for schedule(static)")                                                     \
        for (int64_t r = 0; r < N * C; r++) {                                                   \
            const int64_t c = r % C; const float ac = a[c], wc = w[c];                          \
            const TG* gr = g + r * L; const TIN* xr = x + r * L; TIN* dxr = dx + r * L;         \
            float ra = 0.0f, rw = 0.0f, rs = 0.0f;                                              \
            _Pragma("omp simd reduction(+:ra,rw,rs)")                                           \
            for (int64_t l = 0; l < L; l++) {                                                   \
                const float gv = LOADG(gr, l), xv = LOADX(xr, l);                               \
                const float t = tanh_rational(xv * ac);                                         \
                const float dz = gv * wc * (1.0f - t * t);                                      \
                STOREX(dxr, l, dz * ac);                                                        \
                ra += dz * xv; rw += gv * t; rs += gv;                                          \
            }                                                                                   \
            sa[c] += ra; sw[c] += rw; sb[c] += rs;                                              \
        }                                                                                       \
    }                                                                                           \
}

int dyt_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* name suffix: input dtype, then output dtype (forward) / upstream-gradient dtype (backward) */
#ifdef DYT_AVX2
void dyt_fwd_last_f32_f32(const float* x, const float* a, const float* w, const float* b, float* y,
                          int64_t M, int64_t C, int nt) {
    const int64_t C8 = C & ~(int64_t)7;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < M; r++) {
        const float* xr = x + r * C; float* yr = y + r * C;
        for (int64_t c = 0; c < C8; c += 8) {
            const __m256 t = tanh8(_mm256_mul_ps(_mm256_loadu_ps(xr + c), _mm256_loadu_ps(a + c)));
            _mm256_storeu_ps(yr + c, _mm256_fmadd_ps(t, _mm256_loadu_ps(w + c), _mm256_loadu_ps(b + c)));
        }
        for (int64_t c = C8; c < C; c++) yr[c] = tanh_rational(xr[c] * a[c]) * w[c] + b[c];
    }
}
#else
FWD_LAST(dyt_fwd_last_f32_f32, float, load_f32, float, store_f32)
#endif
FWD_LAST(dyt_fwd_last_f32_bf16, float, load_f32, uint16_t, store_bf16)
FWD_LAST(dyt_fwd_last_bf16_f32, uint16_t, load_bf16, float, store_f32)
FWD_LAST(dyt_fwd_last_bf16_bf16, uint16_t, load_bf16, uint16_t, store_bf16)
FWD_FIRST(dyt_fwd_first_f32_f32, float, load_f32, float, store_f32)
FWD_FIRST(dyt_fwd_first_f32_bf16, float, load_f32, uint16_t, store_bf16)
FWD_FIRST(dyt_fwd_first_bf16_f32, uint16_t, load_bf16, float, store_f32)
FWD_FIRST(dyt_fwd_first_bf16_bf16, uint16_t, load_bf16, uint16_t, store_bf16)
#ifdef DYT_AVX2
void dyt_bwd_last_f32_f32(const float* g, const float* x, const float* a, const float* w, float* dx, float* part,
                          int64_t M, int64_t C, int nt) {
    #pragma omp parallel num_threads(nt)
    {
        const int tid = THREAD_ID(), n = THREAD_COUNT();
        float* sa = part + (int64_t)tid * 6 * C; float* sw = sa + C; float* sb = sw + C;
        float* ba = sb + C; float* bw = ba + C; float* bb = bw + C;
        const int64_t r0 = M * tid / n, r1 = M * (tid + 1) / n;
        const __m256 one = _mm256_set1_ps(1.0f);
        for (int64_t rb = r0; rb < r1; rb += BLOCK_ROWS) {
            const int64_t re = rb + BLOCK_ROWS < r1 ? rb + BLOCK_ROWS : r1;
            for (int64_t c0 = 0; c0 < C; c0 += TILE_COLS) {
                const int64_t c1 = c0 + TILE_COLS < C ? c0 + TILE_COLS : C;
                const int64_t c8 = c0 + ((c1 - c0) & ~(int64_t)7);
                for (int64_t c = c0; c < c1; c++) { ba[c] = 0.0f; bw[c] = 0.0f; bb[c] = 0.0f; }
                for (int64_t r = rb; r < re; r++) {
                    const float* gr = g + r * C; const float* xr = x + r * C; float* dxr = dx + r * C;
                    for (int64_t c = c0; c < c8; c += 8) {
                        const __m256 gv = _mm256_loadu_ps(gr + c), xv = _mm256_loadu_ps(xr + c);
                        const __m256 av = _mm256_loadu_ps(a + c);
                        const __m256 t = tanh8(_mm256_mul_ps(xv, av));
                        const __m256 dz = _mm256_mul_ps(_mm256_mul_ps(gv, _mm256_loadu_ps(w + c)),
                                                        _mm256_fnmadd_ps(t, t, one));
                        _mm256_storeu_ps(dxr + c, _mm256_mul_ps(dz, av));
                        _mm256_storeu_ps(ba + c, _mm256_fmadd_ps(dz, xv, _mm256_loadu_ps(ba + c)));
                        _mm256_storeu_ps(bw + c, _mm256_fmadd_ps(gv, t, _mm256_loadu_ps(bw + c)));
                        _mm256_storeu_ps(bb + c, _mm256_add_ps(gv, _mm256_loadu_ps(bb + c)));
                    }
                    for (int64_t c = c8; c < c1; c++) {
                        const float gv = gr[c], xv = xr[c];
                        const float t = tanh_rational(xv * a[c]);
                        const float dz = gv * w[c] * (1.0f - t * t);
                        dxr[c] = dz * a[c];
                        ba[c] += dz * xv; bw[c] += gv * t; bb[c] += gv;
                    }
                }
                for (int64_t c = c0; c < c1; c++) { sa[c] += ba[c]; sw[c] += bw[c]; sb[c] += bb[c]; }
            }
        }
    }
}
#else
BWD_LAST(dyt_bwd_last_f32_f32, float, load_f32, store_f32, float, load_f32)
#endif
BWD_LAST(dyt_bwd_last_f32_bf16, float, load_f32, store_f32, uint16_t, load_bf16)
BWD_LAST(dyt_bwd_last_bf16_f32, uint16_t, load_bf16, store_bf16, float, load_f32)
BWD_LAST(dyt_bwd_last_bf16_bf16, uint16_t, load_bf16, store_bf16, uint16_t, load_bf16)
BWD_FIRST(dyt_bwd_first_f32_f32, float, load_f32, store_f32, float, load_f32)
BWD_FIRST(dyt_bwd_first_f32_bf16, float, load_f32, store_f32, uint16_t, load_bf16)
BWD_FIRST(dyt_bwd_first_bf16_f32, uint16_t, load_bf16, store_bf16, float, load_f32)
BWD_FIRST(dyt_bwd_first_bf16_bf16, uint16_t, load_bf16, store_bf16, uint16_t, load_bf16)
