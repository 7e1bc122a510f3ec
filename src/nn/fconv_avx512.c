/* fconv_avx512.c: AVX-512 kernels of the fused convolution for the channel-vectorised layers
 * of MesoNet (compiled with -mavx512f; only called when fs_nn_isa_best() says FS_ISA_AVX512).
 * They compute what the portable kernels in fconv.c compute, in a different summation order
 * (within 1e-5).
 *
 * Why a third path: on CPUs with full-width AVX-512 units a 512-bit multiply-add costs what a
 * 256-bit one does, so the same loop of multiply-adds does twice the work, and the 32 vector
 * registers hold a wider block. The AVX2 kernels already run near their own peak; this is
 * where the rest of the speed is.
 *
 * One output row of a block of NPX pixels at a time. For each kernel row and input channel
 * (pair) the K weight vectors of that kernel row stay in registers, and every input value of
 * the row segment is broadcast once and feeds up to K multiply-adds (one per tap that reaches
 * it): about 0.3 loads per multiply-add. Bias, ReLU and batch norm are applied in registers
 * and the row is max-pooled straight into the output row (the first row of a pooling band
 * stores, later ones take the max with what is there); there is no band scratch.
 *
 * 16 output channels: a register holds one pixel's 16 channels; weights are op->w as packed
 * for the channels kind ([ky][kx][ci][16]).
 * 8 output channels: a register holds one pixel's 8 channels for a pair of taps, lane 2c+h
 * summing the taps f = kx*cin + ci with f % 2 == h (weights op->wpair, [ky][f/2][16], zero
 * past the last tap). Two neighbouring taps are two neighbouring input floats, so the pair is
 * one 64-bit broadcast. With an even channel count a pair is two channels of one pixel (and
 * the K pairs of one channel pair are held in registers, as above); with 3 channels (the
 * first layer) all ceil(9/2) = 5 pairs of a kernel row are held, and the input value at flat
 * offset a feeds every pixel i whose tap a - 3i starts a pair. A lone last tap is a 32-bit
 * broadcast whose odd lanes meet zero weights, so nothing past the window is read. The two
 * halves of each channel are added in the epilogue, two pixels per shuffle. */
#include "nn/fconv_impl.h"

#include <immintrin.h>
#include <assert.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

#define R16(M)                                                                           \
    M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

/* An 8-float vector repeated in both halves. */
INLINE __m512 dup8(const float *p) {
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_load_ps(p))));
}

INLINE __m512 epi16(const fs_fconv *op, __m512 v, __m512 scale, __m512 shift) {
    if (op->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    if (op->has_bn) v = _mm512_fmadd_ps(v, scale, shift);
    return v;
}

/* Pooled cell q of the block (channels in a 16- or 8-float vector) into the output row. */
INLINE void put16(float *o, __m512 m, int first) {
    if (!first) m = _mm512_max_ps(m, _mm512_loadu_ps(o));
    _mm512_storeu_ps(o, m);
}
INLINE void put8(float *o, __m256 m, int first) {
    if (!first) m = _mm256_max_ps(m, _mm256_loadu_ps(o));
    _mm256_storeu_ps(o, m);
}
INLINE __m256 lo8(__m512 v) { return _mm512_castps512_ps256(v); }
INLINE __m256 hi8(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* Accumulator i gets tap kx of input j when j - kx == i. */
#define ZW(d) ((d) == 0 ? w0 : (d) == 1 ? w1 : (d) == 2 ? w2 : (d) == 3 ? w3 : w4)
#define ZTAP(i)                                                                          \
    if ((i) < NPX && j - (i) >= 0 && j - (i) < K) a##i = _mm512_fmadd_ps(v, ZW(j - (i)), a##i);
#define ZA(i)                                                                            \
    ((i) == 0 ? a0 : (i) == 1 ? a1 : (i) == 2 ? a2 : (i) == 3 ? a3 : (i) == 4 ? a4 :      \
     (i) == 5 ? a5 : (i) == 6 ? a6 : (i) == 7 ? a7 : (i) == 8 ? a8 : (i) == 9 ? a9 :      \
     (i) == 10 ? a10 : (i) == 11 ? a11 : (i) == 12 ? a12 : (i) == 13 ? a13 :              \
     (i) == 14 ? a14 : a15)

/* ---- 16 output channels ---- */

#define Z16_INIT(i) __m512 a##i = bias;
#define Z16_WLOAD(kx) if ((kx) < K) w##kx = _mm512_load_ps(wr + (size_t)((kx) * CIN + ci) * 16);
#define Z16_OUT(i) if ((i) < NPX) a##i = epi16(op, a##i, scale, shift);
#define Z16_POOL(q)                                                                      \
    if ((q) < NPX / P) {                                                                 \
        __m512 m = ZA((q) * P);                                                          \
        for (int t = 1; t < P; t++) m = _mm512_max_ps(m, ZA((q) * P + t));               \
        put16(orow + (ptrdiff_t)(x / P + (q)) * oxs, m, first);                          \
    }
INLINE void z16_block(const fs_fconv *op, const fs_view *in, int y, int x, float *orow,
                      ptrdiff_t oxs, int first, const int K, const int CIN, const int NPX,
                      const int P) {
    assert(op->cout_pad == 16 && NPX <= 16 && K <= 5 && NPX % P == 0);
    const int pad = (K - 1) / 2;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * CIN;
    const __m512 bias = _mm512_load_ps(op->bias);
    R16(Z16_INIT)
    for (int ky = 0; ky < K; ky++) {
        const float *row = base + (ptrdiff_t)ky * in->ys;
        const float *wr = op->w + (size_t)ky * K * CIN * 16;
#pragma GCC unroll 16
        for (int ci = 0; ci < CIN; ci++) {
            __m512 w0, w1 = bias, w2 = bias, w3 = bias, w4 = bias;
            Z16_WLOAD(0) Z16_WLOAD(1) Z16_WLOAD(2) Z16_WLOAD(3) Z16_WLOAD(4)
#pragma GCC unroll 24
            for (int j = 0; j < NPX + K - 1; j++) {
                __m512 v = _mm512_set1_ps(row[j * CIN + ci]);
                R16(ZTAP)
            }
        }
    }
    const __m512 scale = _mm512_load_ps(op->scale), shift = _mm512_load_ps(op->shift);
    R16(Z16_OUT)
    R16(Z16_POOL)
}

/* ---- 8 output channels, input channel pairs ---- */

#define Z8_INIT(i) __m512 a##i = zero;
#define Z8_WLOAD(kx) if ((kx) < K) w##kx = _mm512_load_ps(wr + (kx) * NP * 16);
/* Pixels 2s and 2s+1: halves added, both pixels' 8 channels in one vector. */
#define Z8_PAIR(s)                                                                       \
    __m512 r##s = zero;                                                                  \
    if (2 * (s) < NPX) {                                                                 \
        __m512 ev = _mm512_permutex2var_ps(ZA(2 * (s)), even, ZA(2 * (s) + 1));           \
        __m512 od = _mm512_permutex2var_ps(ZA(2 * (s)), odd, ZA(2 * (s) + 1));            \
        r##s = epi16(op, _mm512_add_ps(_mm512_add_ps(ev, od), bias), scale, shift);       \
    }
#define ZR(s)                                                                            \
    ((s) == 0 ? r0 : (s) == 1 ? r1 : (s) == 2 ? r2 : (s) == 3 ? r3 : (s) == 4 ? r4 :      \
     (s) == 5 ? r5 : (s) == 6 ? r6 : r7)
#define Z8_POOL(s)                                                                       \
    if (2 * (s) < NPX) {                                                                 \
        if (P == 1) {                                                                    \
            put8(orow + (ptrdiff_t)(x + 2 * (s)) * oxs, lo8(r##s), first);               \
            put8(orow + (ptrdiff_t)(x + 2 * (s) + 1) * oxs, hi8(r##s), first);           \
        } else if (P == 2) {                                                             \
            put8(orow + (ptrdiff_t)(x / 2 + (s)) * oxs, _mm256_max_ps(lo8(r##s), hi8(r##s)), \
                 first);                                                                 \
        } else if ((s) % 2 == 0) {                                                       \
            __m512 m = _mm512_max_ps(r##s, ZR((s) + 1));                                  \
            put8(orow + (ptrdiff_t)(x / 4 + (s) / 2) * oxs, _mm256_max_ps(lo8(m), hi8(m)), \
                 first);                                                                 \
        }                                                                                \
    }
#define Z8_EPILOGUE                                                                      \
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, \
                                           26, 28, 30);                                   \
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25,  \
                                          27, 29, 31);                                    \
    const __m512 bias = dup8(op->bias), scale = dup8(op->scale), shift = dup8(op->shift);  \
    R8(Z8_PAIR)                                                                          \
    R8(Z8_POOL)

INLINE __m512 bcast2(const float *p) { /* p[0] p[1] repeated */
    double d;
    memcpy(&d, p, sizeof d);
    return _mm512_castpd_ps(_mm512_set1_pd(d));
}

/* Odd channel count: flat offset a of the kernel row's input feeds pixel i when a - CIN*i
 * is an even tap t (pair t/2). */
#define ZF_TAP(i)                                                                        \
    if ((i) < NPX && a - CIN * (i) >= 0 && a - CIN * (i) < K * CIN && (a - CIN * (i)) % 2 == 0) \
        a##i = _mm512_fmadd_ps(a - CIN * (i) + 1 < K * CIN ? bcast2(row + a)             \
                                                           : _mm512_set1_ps(row[a]),      \
                               ZW((a - CIN * (i)) / 2), a##i);
#define ZF_WLOAD(t) if ((t) < NT) w##t = _mm512_load_ps(wr + (t) * 16);
INLINE void z8f_block(const fs_fconv *op, const fs_view *in, int y, int x, float *orow,
                      ptrdiff_t oxs, int first, const int K, const int CIN, const int NPX,
                      const int P) {
    const int NT = (K * CIN + 1) / 2;
    assert(op->cout_pad == 8 && op->wpair && NPX <= 16 && NPX % 2 == 0 && NT <= 5);
    assert(P == 1 || P == 2 || (P == 4 && NPX % 4 == 0));
    const int pad = (K - 1) / 2;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * CIN;
    const __m512 zero = _mm512_setzero_ps();
    R16(Z8_INIT)
    for (int ky = 0; ky < K; ky++) {
        const float *row = base + (ptrdiff_t)ky * in->ys;
        const float *wr = op->wpair + (size_t)ky * NT * 16;
        __m512 w0, w1 = zero, w2 = zero, w3 = zero, w4 = zero;
        ZF_WLOAD(0) ZF_WLOAD(1) ZF_WLOAD(2) ZF_WLOAD(3) ZF_WLOAD(4)
#pragma GCC unroll 64
        for (int a = 0; a < CIN * (NPX - 1) + K * CIN; a++) { R16(ZF_TAP) }
    }
    Z8_EPILOGUE
}

/* The first layer again, both rows of a 2x2 pooling band at once (8 pixels x 2 rows): input
 * row r of the window feeds output row y with kernel row r and row y+1 with kernel row r-1,
 * so each broadcast serves both, twice as many accumulators are independent at any moment,
 * and the band is pooled in registers. The 2K weight vectors take 10 registers. */
#define ZC(i)                                                                            \
    ((i) == 0 ? c0 : (i) == 1 ? c1 : (i) == 2 ? c2 : (i) == 3 ? c3 : (i) == 4 ? c4 :      \
     (i) == 5 ? c5 : (i) == 6 ? c6 : c7)
#define ZWT(d) ((d) == 0 ? wt0 : (d) == 1 ? wt1 : (d) == 2 ? wt2 : (d) == 3 ? wt3 : wt4)
#define ZWB(d) ((d) == 0 ? wb0 : (d) == 1 ? wb1 : (d) == 2 ? wb2 : (d) == 3 ? wb3 : wb4)
#define ZF2_INIT(i) __m512 a##i = zero, c##i = zero;
#define ZF2_TAP(i)                                                                       \
    if ((i) < NPX && a - CIN * (i) >= 0 && a - CIN * (i) < K * CIN &&                    \
        (a - CIN * (i)) % 2 == 0) {                                                      \
        __m512 v = a - CIN * (i) + 1 < K * CIN ? bcast2(row + a) : _mm512_set1_ps(row[a]); \
        if (top) a##i = _mm512_fmadd_ps(v, ZWT((a - CIN * (i)) / 2), a##i);              \
        if (bot) c##i = _mm512_fmadd_ps(v, ZWB((a - CIN * (i)) / 2), c##i);              \
    }
#define ZF2_WT(t) if ((t) < NT && top) wt##t = _mm512_load_ps(wrt + (t) * 16);
#define ZF2_WB(t) if ((t) < NT && bot) wb##t = _mm512_load_ps(wrb + (t) * 16);
/* Input row R of the window; TOP / BOT say which output rows it reaches (constants). */
#define ZF2_ROW(R, TOP, BOT)                                                             \
    {                                                                                    \
        const int top = (TOP), bot = (BOT);                                              \
        const float *row = base + (ptrdiff_t)(R) * in->ys;                               \
        const float *wrt = op->wpair + (size_t)(top ? (R) : 0) * NT * 16;                \
        const float *wrb = op->wpair + (size_t)(bot ? (R) - 1 : 0) * NT * 16;            \
        __m512 wt0 = zero, wt1 = zero, wt2 = zero, wt3 = zero, wt4 = zero;               \
        __m512 wb0 = zero, wb1 = zero, wb2 = zero, wb3 = zero, wb4 = zero;               \
        ZF2_WT(0) ZF2_WT(1) ZF2_WT(2) ZF2_WT(3) ZF2_WT(4)                                \
        ZF2_WB(0) ZF2_WB(1) ZF2_WB(2) ZF2_WB(3) ZF2_WB(4)                                \
        _Pragma("GCC unroll 32")                                                         \
        for (int a = 0; a < CIN * (NPX - 1) + K * CIN; a++) { R8(ZF2_TAP) }              \
    }
#define ZF2_SUM(X, Y)                                                                    \
    epi16(op,                                                                            \
          _mm512_add_ps(_mm512_add_ps(_mm512_permutex2var_ps(X, even, Y),                \
                                      _mm512_permutex2var_ps(X, odd, Y)),                \
                        bias),                                                           \
          scale, shift)
#define ZF2_OUT(s)                                                                       \
    if (2 * (s) < NPX) {                                                                 \
        __m512 m = _mm512_max_ps(ZF2_SUM(ZA(2 * (s)), ZA(2 * (s) + 1)),                  \
                                 ZF2_SUM(ZC(2 * (s)), ZC(2 * (s) + 1)));                 \
        put8(orow + (ptrdiff_t)(x / 2 + (s)) * oxs, _mm256_max_ps(lo8(m), hi8(m)), 1);   \
    }
INLINE void z8f2_block(const fs_fconv *op, const fs_view *in, int y, int x, float *orow,
                       ptrdiff_t oxs, const int K, const int CIN, const int NPX) {
    const int NT = (K * CIN + 1) / 2;
    assert(op->cout_pad == 8 && op->wpair && NPX <= 8 && NPX % 2 == 0 && NT <= 5);
    const int pad = (K - 1) / 2;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * CIN;
    const __m512 zero = _mm512_setzero_ps();
    __m512 a8 = zero, a9 = zero, a10 = zero, a11 = zero, a12 = zero, a13 = zero, a14 = zero,
           a15 = zero; /* unused: ZA names them */
    R8(ZF2_INIT)
    ZF2_ROW(0, 1, 0)
    for (int r = 1; r < K; r++) ZF2_ROW(r, 1, 1)
    ZF2_ROW(K, 0, 1)
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
                                          29, 31);
    const __m512 bias = dup8(op->bias), scale = dup8(op->scale), shift = dup8(op->shift);
    R8(ZF2_OUT)
}

INLINE void z8_block(const fs_fconv *op, const fs_view *in, int y, int x, float *orow,
                     ptrdiff_t oxs, int first, const int K, const int CIN, const int NPX,
                     const int P) {
    assert(op->cout_pad == 8 && op->wpair && NPX <= 16 && NPX % 2 == 0 && K <= 5);
    assert(CIN % 2 == 0 && (P == 1 || P == 2 || (P == 4 && NPX % 4 == 0)));
    const int pad = (K - 1) / 2, NP = CIN / 2;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * CIN;
    const __m512 zero = _mm512_setzero_ps();
    R16(Z8_INIT)
    for (int ky = 0; ky < K; ky++) {
        const float *row = base + (ptrdiff_t)ky * in->ys;
#pragma GCC unroll 16
        for (int p = 0; p < NP; p++) {
            /* pair p of channels at tap kx is flat pair kx*NP + p */
            const float *wr = op->wpair + ((size_t)ky * K * NP + p) * 16;
            __m512 w0, w1 = zero, w2 = zero, w3 = zero, w4 = zero;
            Z8_WLOAD(0) Z8_WLOAD(1) Z8_WLOAD(2) Z8_WLOAD(3) Z8_WLOAD(4)
#pragma GCC unroll 24
            for (int j = 0; j < NPX + K - 1; j++) {
                __m512 v = bcast2(row + j * CIN + 2 * p);
                R16(ZTAP)
            }
        }
    }
    Z8_EPILOGUE
}

/* ---- instances and dispatch ---- */

typedef void (*z_fn)(const fs_fconv *, const fs_view *, int, int, float *, ptrdiff_t, int);
#define DEFINE_Z(KIND, K, CIN, NPX, P)                                                   \
    static void KIND##_##K##_##CIN##_##NPX##_##P(const fs_fconv *op, const fs_view *in,  \
                                                 int y, int x, float *orow, ptrdiff_t oxs, \
                                                 int first) {                              \
        KIND##_block(op, in, y, x, orow, oxs, first, K, CIN, NPX, P);                    \
    }
/* a 16-pixel block (16 accumulators, K weights and the broadcast take 18-22 of the 32
 * registers) and a 4-pixel block for the rest of the row */
#define Z_SET(KIND, K, CIN)                                                              \
    DEFINE_Z(KIND, K, CIN, 16, 1) DEFINE_Z(KIND, K, CIN, 16, 2)                           \
    DEFINE_Z(KIND, K, CIN, 16, 4) DEFINE_Z(KIND, K, CIN, 4, 1)                            \
    DEFINE_Z(KIND, K, CIN, 4, 2) DEFINE_Z(KIND, K, CIN, 4, 4)
#define Z_ENTRY(KIND, CP, K, CIN)                                                        \
    {CP, K, CIN,                                                                         \
     {KIND##_##K##_##CIN##_16_1, KIND##_##K##_##CIN##_16_2, KIND##_##K##_##CIN##_16_4},   \
     {KIND##_##K##_##CIN##_4_1, KIND##_##K##_##CIN##_4_2, KIND##_##K##_##CIN##_4_4},       \
     NULL, NULL}

/* The channel-vectorised layers of Meso4 (3x3 3->8, 5x5 8->8, 8->16, 16->16) and
 * MesoInception4 (5x5 12->16, 16->16). */
Z_SET(z8f, 3, 3)
Z_SET(z8, 5, 8)
Z_SET(z16, 5, 8)
Z_SET(z16, 5, 12)
Z_SET(z16, 5, 16)

/* two-row pooled bands of the first layer: 8 and 4 pixels */
typedef void (*z2_fn)(const fs_fconv *, const fs_view *, int, int, float *, ptrdiff_t);
#define DEFINE_Z2(K, CIN, NPX)                                                           \
    static void z8f2_##K##_##CIN##_##NPX(const fs_fconv *op, const fs_view *in, int y,    \
                                         int x, float *orow, ptrdiff_t oxs) {             \
        z8f2_block(op, in, y, x, orow, oxs, K, CIN, NPX);                                \
    }
DEFINE_Z2(3, 3, 8)
DEFINE_Z2(3, 3, 4)

typedef struct z_entry {
    int cp, k, cin;
    z_fn wide[3], narrow[3]; /* by pool 1, 2, 4 */
    z2_fn band2_wide, band2_narrow; /* pool 2, both rows at once; or NULL */
} z_entry;
static const z_entry z_table[] = {
    {8, 3, 3, {z8f_3_3_16_1, z8f_3_3_16_2, z8f_3_3_16_4}, {z8f_3_3_4_1, z8f_3_3_4_2, z8f_3_3_4_4},
     z8f2_3_3_8, z8f2_3_3_4},
    Z_ENTRY(z8, 8, 5, 8), Z_ENTRY(z16, 16, 5, 8), Z_ENTRY(z16, 16, 5, 12),
    Z_ENTRY(z16, 16, 5, 16),
};
#define Z2_WIDE 8
#define Z_WIDE 16
#define Z_NARROW 4

static const z_entry *z_find(const fs_fconv *op, const fs_view *in) {
    if (op->kind != FS_FCONV_CHANNELS || op->dil != 1 || in->xs != op->cin || in->cs != 1 ||
        op->cout != op->cout_pad)
        return NULL;
    for (size_t i = 0; i < sizeof z_table / sizeof z_table[0]; i++)
        if (z_table[i].cp == op->cout_pad && z_table[i].k == op->k && z_table[i].cin == op->cin)
            return &z_table[i];
    return NULL;
}

int fs_fconv_pooled_ok_avx512(const fs_fconv *op, const fs_view *in, const fs_view *out) {
    int p = op->pool;
    return z_find(op, in) && (op->cout_pad == 16 || op->wpair) &&
           (p == 1 || p == 2 || p == 4) && in->w % Z_NARROW == 0 && in->w % p == 0 &&
           out->cs == 1;
}

void fs_fconv_band_pooled_avx512(const fs_fconv *op, const fs_view *in, int y0, int nrows,
                                 const fs_view *out, int oy) {
    const z_entry *e = z_find(op, in);
    assert(e && fs_fconv_pooled_ok_avx512(op, in, out));
    int pi = op->pool == 1 ? 0 : op->pool == 2 ? 1 : 2, w = in->w;
    float *orow = out->p + (ptrdiff_t)oy * out->ys;
    if (e->band2_wide && op->pool == 2 && nrows == 2) {
        int x = 0;
        for (; x + Z2_WIDE <= w; x += Z2_WIDE) e->band2_wide(op, in, y0, x, orow, out->xs);
        for (; x < w; x += Z_NARROW) e->band2_narrow(op, in, y0, x, orow, out->xs);
        return;
    }
    for (int r = 0; r < nrows; r++) {
        int x = 0;
        for (; x + Z_WIDE <= w; x += Z_WIDE) e->wide[pi](op, in, y0 + r, x, orow, out->xs, r == 0);
        for (; x < w; x += Z_NARROW) e->narrow[pi](op, in, y0 + r, x, orow, out->xs, r == 0);
    }
}

double fs_nn_fma_peak_avx512(double seconds) {
    /* as fs_nn_fma_peak_avx2, with 512-bit vectors: distinct chains so none are merged */
    __m512 a[12];
#pragma GCC unroll 16
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + 0.001f * (float)i);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    double t0 = fs_now_ms(), flops = 0;
    do {
        for (int it = 0; it < 1000000; it++)
#pragma GCC unroll 16
            for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
        flops += 2.0 * 16 * 12 * 1000000;
    } while (fs_now_ms() - t0 < seconds * 1000.0);
    __m512 s = a[0];
#pragma GCC unroll 16
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return flops / ((fs_now_ms() - t0) * 1e6);
}
