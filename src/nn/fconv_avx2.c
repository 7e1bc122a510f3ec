/* fconv_avx2.c: AVX2+FMA kernels of the fused convolution (compiled with -mavx2 -mfma; only
 * called after fs_cpu_has_avx2_fma()). They compute what the portable kernels in fconv.c
 * compute, in a different summation order (within 1e-5).
 *
 * Channels kind: one output pixel's 8 or 16 channels live in 1 or 2 registers; a block of
 * pixels shares each weight load, and every input value is broadcast once per block row.
 * Pixels kind (layers with 1-4 output channels, planar input): a register holds 8 adjacent
 * output pixels of one channel; a block of channels shares each input load. Blocks are
 * compile-time sizes (always_inline with constant arguments) so accumulators stay in
 * registers. */
#include "nn/fconv_impl.h"

#include <immintrin.h>
#include <assert.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 epi8(const fs_fconv *op, __m256 v, int c) {
    if (op->relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    if (op->has_bn) v = _mm256_fmadd_ps(v, _mm256_loadu_ps(op->scale + c), _mm256_loadu_ps(op->shift + c));
    return v;
}

/* Register blocks are spelled out with repetition macros: the compiler keeps named __m256
 * variables in registers, where it would leave an accumulator array in memory. */
#define R1(M) M(0)
#define R2(M) M(0) M(1)
#define R3(M) R2(M) M(2)
#define R4(M) R3(M) M(3)
#define R6(M) R4(M) M(4) M(5)
#define R12(M) R6(M) M(6) M(7) M(8) M(9) M(10) M(11)

/* ---- channels kind: a block of pixels x (8 or 16) output channels ---- */

/* CIN > 0 fixes the input channel count (and pixel stride) at compile time, so every input
 * address in the block is a constant offset; CIN == 0 reads both from op and the view. */
#define CV_HEAD(CIN)                                                                     \
    int k = op->k, dil = op->dil, cp = op->cout_pad;                                     \
    const int cin = (CIN) ? (CIN) : op->cin;                                             \
    const ptrdiff_t xs = (CIN) ? (CIN) : in->xs;                                         \
    int pad = (k - 1) * dil / 2;                                                         \
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * xs;

#define CV_LOOP(BODY)                                                                    \
    for (int ky = 0; ky < k; ky++)                                                       \
        for (int kx = 0; kx < k; kx++) {                                                 \
            const float *ip = base + (ptrdiff_t)ky * dil * in->ys + (ptrdiff_t)kx * dil * xs; \
            const float *wk = op->w + ((size_t)ky * k + kx) * cin * cp + g;              \
            _Pragma("GCC unroll 16")                                                     \
            for (int ci = 0; ci < cin; ci++) { BODY }                                    \
        }

#define CV8_INIT(i) __m256 a##i = b0;
#define CV8_FMA(i) a##i = _mm256_fmadd_ps(_mm256_broadcast_ss(ip + (i) * xs + ci), w0, a##i);
#define CV8_STORE(i) _mm256_storeu_ps(dst + (size_t)(x + (i)) * cp + g, epi8(op, a##i, g));
#define DEFINE_CV8(NAME, REP, CIN)                                                       \
    static void NAME(const fs_fconv *op, const fs_view *in, int y, int x, int g, float *dst) { \
        CV_HEAD(CIN)                                                                     \
        __m256 b0 = _mm256_load_ps(op->bias + g);                                        \
        REP(CV8_INIT)                                                                    \
        CV_LOOP(__m256 w0 = _mm256_load_ps(wk + (size_t)ci * cp); REP(CV8_FMA))          \
        REP(CV8_STORE)                                                                   \
    }

#define CV16_INIT(i) __m256 a##i = b0, c##i = b1;
#define CV16_FMA(i)                                                                      \
    {                                                                                    \
        __m256 v = _mm256_broadcast_ss(ip + (i) * xs + ci);                              \
        a##i = _mm256_fmadd_ps(v, w0, a##i);                                             \
        c##i = _mm256_fmadd_ps(v, w1, c##i);                                             \
    }
#define CV16_STORE(i)                                                                    \
    _mm256_storeu_ps(dst + (size_t)(x + (i)) * cp + g, epi8(op, a##i, g));               \
    _mm256_storeu_ps(dst + (size_t)(x + (i)) * cp + g + 8, epi8(op, c##i, g + 8));
#define DEFINE_CV16(NAME, REP, CIN)                                                      \
    static void NAME(const fs_fconv *op, const fs_view *in, int y, int x, int g, float *dst) { \
        CV_HEAD(CIN)                                                                     \
        __m256 b0 = _mm256_load_ps(op->bias + g), b1 = _mm256_load_ps(op->bias + g + 8); \
        REP(CV16_INIT)                                                                   \
        CV_LOOP(__m256 w0 = _mm256_load_ps(wk + (size_t)ci * cp);                        \
                __m256 w1 = _mm256_load_ps(wk + (size_t)ci * cp + 8); REP(CV16_FMA))     \
        REP(CV16_STORE)                                                                  \
    }

/* Two output rows y, y+1 at once (8 channels, dilation 1): input row y-pad+r feeds row y with
 * kernel row r and row y+1 with kernel row r-1, so each broadcast input serves two
 * multiply-adds, as in the 16-channel blocks. */
#define CV8R2_INIT(i) __m256 a##i = b0, c##i = b0;
#define CV8R2_TOP(i) a##i = _mm256_fmadd_ps(_mm256_broadcast_ss(ip + (i) * xs + ci), w0, a##i);
#define CV8R2_BOT(i) c##i = _mm256_fmadd_ps(_mm256_broadcast_ss(ip + (i) * xs + ci), w1, c##i);
#define CV8R2_STORE(i)                                                                   \
    _mm256_storeu_ps(dst + (size_t)(x + (i)) * cp + g, epi8(op, a##i, g));               \
    _mm256_storeu_ps(dst1 + (size_t)(x + (i)) * cp + g, epi8(op, c##i, g));
/* Input row r of the window against kernel rows kt (for row y) and/or kb (for row y+1);
 * DECL names the weight pointers BODY uses. */
#define CV8R2_ROW(r, DECL, BODY)                                                         \
    for (int kx = 0; kx < k; kx++) {                                                     \
        const float *ip = base + (ptrdiff_t)(r) * in->ys + (ptrdiff_t)kx * xs;           \
        DECL                                                                             \
        _Pragma("GCC unroll 16")                                                         \
        for (int ci = 0; ci < cin; ci++) { BODY }                                        \
    }
#define WT(r) const float *wt = op->w + ((size_t)(r) * k + kx) * cin * cp + g;
#define WB(r) const float *wb = op->w + ((size_t)((r) - 1) * k + kx) * cin * cp + g;
#define DEFINE_CV8R2(NAME, REP, CIN)                                                     \
    static void NAME(const fs_fconv *op, const fs_view *in, int y, int x, int g, float *dst, \
                     float *dst1) {                                                      \
        CV_HEAD(CIN)                                                                     \
        assert(dil == 1);                                                                \
        __m256 b0 = _mm256_load_ps(op->bias + g);                                        \
        REP(CV8R2_INIT)                                                                  \
        CV8R2_ROW(0, WT(0), __m256 w0 = _mm256_load_ps(wt + (size_t)ci * cp); REP(CV8R2_TOP)) \
        for (int r = 1; r < k; r++)                                                      \
            CV8R2_ROW(r, WT(r) WB(r), __m256 w0 = _mm256_load_ps(wt + (size_t)ci * cp);  \
                      __m256 w1 = _mm256_load_ps(wb + (size_t)ci * cp); REP(CV16_FMA))   \
        CV8R2_ROW(k, WB(k), __m256 w1 = _mm256_load_ps(wb + (size_t)ci * cp); REP(CV8R2_BOT)) \
        REP(CV8R2_STORE)                                                                 \
    }

typedef void (*cv_fn)(const fs_fconv *, const fs_view *, int, int, int, float *);
typedef void (*cv2_fn)(const fs_fconv *, const fs_view *, int, int, int, float *, float *);
typedef struct cv_set {
    cv_fn wide, narrow, one;
    int wide_n, narrow_n;
    cv2_fn pair_wide, pair_narrow, pair_one; /* two rows; 8-channel sets only */
} cv_set;

#define CV_SETS(CIN)                                                                     \
    DEFINE_CV8(cv8x12_##CIN, R12, CIN)                                                   \
    DEFINE_CV8(cv8x4_##CIN, R4, CIN)                                                     \
    DEFINE_CV8(cv8x1_##CIN, R1, CIN)                                                     \
    DEFINE_CV16(cv16x6_##CIN, R6, CIN)                                                   \
    DEFINE_CV16(cv16x2_##CIN, R2, CIN)                                                   \
    DEFINE_CV16(cv16x1_##CIN, R1, CIN)                                                   \
    DEFINE_CV8R2(cv8r2x6_##CIN, R6, CIN)                                                 \
    DEFINE_CV8R2(cv8r2x2_##CIN, R2, CIN)                                                 \
    DEFINE_CV8R2(cv8r2x1_##CIN, R1, CIN)                                                 \
    static const cv_set cv8_##CIN = {cv8x12_##CIN, cv8x4_##CIN, cv8x1_##CIN, 12, 4,      \
                                     cv8r2x6_##CIN, cv8r2x2_##CIN, cv8r2x1_##CIN};       \
    static const cv_set cv16_##CIN = {cv16x6_##CIN, cv16x2_##CIN, cv16x1_##CIN, 6, 2,    \
                                      NULL, NULL, NULL};
/* the input channel counts of MesoNet's channel-vectorised layers, and the general case */
CV_SETS(0)
CV_SETS(3)
CV_SETS(8)
CV_SETS(12)
CV_SETS(16)

static void cv_row(const cv_set *s, const fs_fconv *op, const fs_view *in, int y, int g,
                   float *dst) {
    int w = in->w, x = 0;
    for (; x + s->wide_n <= w; x += s->wide_n) s->wide(op, in, y, x, g, dst);
    for (; x + s->narrow_n <= w; x += s->narrow_n) s->narrow(op, in, y, x, g, dst);
    for (; x < w; x++) s->one(op, in, y, x, g, dst);
}

static void cv_pair(const cv_set *s, const fs_fconv *op, const fs_view *in, int y, int g,
                    float *dst, float *dst1) {
    int w = in->w, x = 0;
    for (; x + 6 <= w; x += 6) s->pair_wide(op, in, y, x, g, dst, dst1);
    for (; x + 2 <= w; x += 2) s->pair_narrow(op, in, y, x, g, dst, dst1);
    for (; x < w; x++) s->pair_one(op, in, y, x, g, dst, dst1);
}

static void pick_sets(const fs_fconv *op, const fs_view *in, const cv_set **s8,
                      const cv_set **s16) {
    *s8 = &cv8_0, *s16 = &cv16_0;
    if (in->xs == op->cin) {
        switch (op->cin) {
        case 3: *s8 = &cv8_3, *s16 = &cv16_3; break;
        case 8: *s8 = &cv8_8, *s16 = &cv16_8; break;
        case 12: *s8 = &cv8_12, *s16 = &cv16_12; break;
        case 16: *s8 = &cv8_16, *s16 = &cv16_16; break;
        default: break;
        }
    }
}

void fs_fconv_rows2_channels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst,
                                  float *dst1) {
    const cv_set *s8, *s16;
    pick_sets(op, in, &s8, &s16);
    int g = 0;
    for (; g + 16 <= op->cout_pad; g += 16) {
        cv_row(s16, op, in, y, g, dst);
        cv_row(s16, op, in, y + 1, g, dst1);
    }
    for (; g < op->cout_pad; g += 8) {
        if (op->dil == 1) {
            cv_pair(s8, op, in, y, g, dst, dst1);
        } else {
            cv_row(s8, op, in, y, g, dst);
            cv_row(s8, op, in, y + 1, g, dst1);
        }
    }
}

void fs_fconv_row_channels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst) {
    const cv_set *s8 = &cv8_0, *s16 = &cv16_0;
    if (in->xs == op->cin) {
        switch (op->cin) {
        case 3: s8 = &cv8_3, s16 = &cv16_3; break;
        case 8: s8 = &cv8_8, s16 = &cv16_8; break;
        case 12: s8 = &cv8_12, s16 = &cv16_12; break;
        case 16: s8 = &cv8_16, s16 = &cv16_16; break;
        default: break;
        }
    }
    int g = 0;
    for (; g + 16 <= op->cout_pad; g += 16) cv_row(s16, op, in, y, g, dst);
    for (; g < op->cout_pad; g += 8) cv_row(s8, op, in, y, g, dst);
}

/* ---- channels kind, pooled rows: the kernel row's taps held in registers ---- */

/* One output row, NPX pixels x one 8-channel group: for each kernel row and input channel the
 * K weight vectors of that row stay in registers and every input value of the row segment
 * (NPX + K - 1 of them) is broadcast once and feeds up to K multiply-adds, one per tap that
 * reaches it. That is 0.4-0.5 loads per multiply-add (the row-pair blocks above need 0.7-1.1),
 * which is what keeps both FMA pipes busy. Bias, ReLU and batch norm are applied in registers
 * and the row is max-pooled straight into the output row: the first row of a pooling band
 * stores, later ones take the max with what is there. All sizes are compile-time (the function
 * is always_inline with constant arguments), so the accumulator array is scalarised into
 * registers. */
/* Accumulator i gets tap kx of input j when j - kx == i. */
#define TR_TAP(i)                                                                        \
    if ((i) < NPX && j - (i) >= 0 && j - (i) < K) a##i = _mm256_fmadd_ps(v, TR_W(j - (i)), a##i);
#define TR_W(d) ((d) == 0 ? w0 : (d) == 1 ? w1 : (d) == 2 ? w2 : (d) == 3 ? w3 : w4)
#define TR_WLOAD(kx) if ((kx) < K) w##kx = _mm256_load_ps(wr + (size_t)((kx) * CIN + ci) * CP);
#define TR_OUT(i) if ((i) < NPX) o##i = epi8(op, a##i, g);
#define TR_INIT(i) __m256 a##i = b0, o##i;
#define TR_POOL(q)                                                                       \
    if ((q) < NPX / P) {                                                                 \
        __m256 m = TR_O((q) * P);                                                        \
        for (int t = 1; t < P; t++) m = _mm256_max_ps(m, TR_O((q) * P + t));             \
        float *o = orow + (ptrdiff_t)(x / P + (q)) * oxs;                                \
        if (!first) m = _mm256_max_ps(m, _mm256_loadu_ps(o));                            \
        _mm256_storeu_ps(o, m);                                                          \
    }
#define TR_O(i)                                                                          \
    ((i) == 0 ? o0 : (i) == 1 ? o1 : (i) == 2 ? o2 : (i) == 3 ? o3 : (i) == 4 ? o4 :      \
     (i) == 5 ? o5 : (i) == 6 ? o6 : (i) == 7 ? o7 : (i) == 8 ? o8 : (i) == 9 ? o9 :      \
     (i) == 10 ? o10 : o11)
INLINE void tr_block(const fs_fconv *op, const fs_view *in, int y, int x, int g, float *orow,
                     ptrdiff_t oxs, int first, const int K, const int CIN, const int CP,
                     const int NPX, const int P) {
    assert(op->cout_pad == CP && NPX <= 12 && K <= 5 && NPX % P == 0);
    const int pad = (K - 1) / 2;
    const float *base = in->p + (ptrdiff_t)(y - pad) * in->ys + (ptrdiff_t)(x - pad) * CIN;
    const __m256 b0 = _mm256_load_ps(op->bias + g);
    R12(TR_INIT)
    for (int ky = 0; ky < K; ky++) {
        const float *row = base + (ptrdiff_t)ky * in->ys;
        const float *wr = op->w + (size_t)ky * K * CIN * CP + g;
#pragma GCC unroll 16
        for (int ci = 0; ci < CIN; ci++) {
            __m256 w0, w1 = b0, w2 = b0, w3 = b0, w4 = b0;
            TR_WLOAD(0) TR_WLOAD(1) TR_WLOAD(2) TR_WLOAD(3) TR_WLOAD(4)
#pragma GCC unroll 16
            for (int j = 0; j < NPX + K - 1; j++) {
                __m256 v = _mm256_broadcast_ss(row + j * CIN + ci);
                R12(TR_TAP)
            }
        }
    }
    R12(TR_OUT)
    R12(TR_POOL)
}

typedef void (*tr_fn)(const fs_fconv *, const fs_view *, int, int, int, float *, ptrdiff_t, int);
#define DEFINE_TR(K, CIN, CP, NPX, P)                                                    \
    static void tr_##K##_##CIN##_##CP##_##NPX##_##P(const fs_fconv *op, const fs_view *in,  \
                                                     int y, int x, int g, float *orow,      \
                                                     ptrdiff_t oxs, int first) {            \
        tr_block(op, in, y, x, g, orow, oxs, first, K, CIN, CP, NPX, P);                 \
    }
/* wide block (12 pixels for 3x3, 8 for 5x5: the accumulators, the K weights and the broadcast
 * value fill the 16 registers) and a 4-pixel block for the rest of the row */
#define TR_SET(K, CIN, CP, NPX)                                                          \
    DEFINE_TR(K, CIN, CP, NPX, 1) DEFINE_TR(K, CIN, CP, NPX, 2)                           \
    DEFINE_TR(K, CIN, CP, NPX, 4) DEFINE_TR(K, CIN, CP, 4, 1) DEFINE_TR(K, CIN, CP, 4, 2)  \
    DEFINE_TR(K, CIN, CP, 4, 4)

/* kernel, input channels, padded output channels (the weight stride). Only Meso4's conv1:
 * on the 5x5 layers the row-pair blocks above measured as fast (each accumulator there gets
 * 12-way independent work; here a broadcast feeds 5 accumulators that the next one feeds
 * again, which leaves too few independent chains for 16 registers). */
TR_SET(3, 3, 8, 12)

typedef struct tr_entry {
    int k, cin, cp, npx;
    tr_fn wide[3], narrow[3]; /* by pool 1, 2, 4 */
} tr_entry;
#define TR_ENTRY(K, CIN, CP, NPX)                                                        \
    {K, CIN, CP, NPX,                                                                    \
     {tr_##K##_##CIN##_##CP##_##NPX##_1, tr_##K##_##CIN##_##CP##_##NPX##_2,               \
      tr_##K##_##CIN##_##CP##_##NPX##_4},                                                 \
     {tr_##K##_##CIN##_##CP##_4_1, tr_##K##_##CIN##_##CP##_4_2, tr_##K##_##CIN##_##CP##_4_4}}
static const tr_entry tr_table[] = {
    TR_ENTRY(3, 3, 8, 12),
};

static const tr_entry *tr_find(const fs_fconv *op, const fs_view *in) {
    if (op->kind != FS_FCONV_CHANNELS || op->dil != 1 || in->xs != op->cin || in->cs != 1)
        return NULL;
    for (size_t i = 0; i < sizeof tr_table / sizeof tr_table[0]; i++)
        if (tr_table[i].k == op->k && tr_table[i].cin == op->cin &&
            tr_table[i].cp == op->cout_pad)
            return &tr_table[i];
    return NULL;
}

int fs_fconv_pooled_ok_avx2(const fs_fconv *op, const fs_view *in, const fs_view *out) {
    int p = op->pool;
    return tr_find(op, in) && (p == 1 || p == 2 || p == 4) && in->w % 4 == 0 &&
           in->w % p == 0 && op->cout % 8 == 0 && out->cs == 1;
}

void fs_fconv_band_pooled_avx2(const fs_fconv *op, const fs_view *in, int y0, int nrows,
                               const fs_view *out, int oy) {
    const tr_entry *e = tr_find(op, in);
    assert(e && fs_fconv_pooled_ok_avx2(op, in, out));
    int pi = op->pool == 1 ? 0 : op->pool == 2 ? 1 : 2, w = in->w;
    float *orow = out->p + (ptrdiff_t)oy * out->ys;
    for (int r = 0; r < nrows; r++)
        for (int g = 0; g < op->cout; g += 8) {
            int x = 0;
            for (; x + e->npx <= w; x += e->npx)
                e->wide[pi](op, in, y0 + r, x, g, orow + g, out->xs, r == 0);
            for (; x < w; x += 4) e->narrow[pi](op, in, y0 + r, x, g, orow + g, out->xs, r == 0);
        }
}

/* ---- pixels kind: NP vectors of 8 pixels x CB output channels ---- */

/* Q lists walk the pixel vectors of one channel c; the C lists walk channels. */
#define Q1(M, c) M(0, c)
#define Q2(M, c) M(0, c) M(1, c)
#define Q3(M, c) M(0, c) M(1, c) M(2, c)
#define Q4(M, c) M(0, c) M(1, c) M(2, c) M(3, c)
#define C1(M, Q) Q(M, 0)
#define C2(M, Q) Q(M, 0) Q(M, 1)
#define C3(M, Q) Q(M, 0) Q(M, 1) Q(M, 2)
#define C4(M, Q) Q(M, 0) Q(M, 1) Q(M, 2) Q(M, 3)

#define PV_INIT(q, c) __m256 a##q##_##c = bias##c;
#define PV_BIAS(c) __m256 bias##c = _mm256_broadcast_ss(op->bias + co + (c));
#define PV_LOADI(q) __m256 iv##q = _mm256_loadu_ps(row + kx * dil + 8 * (q));
#define PV_LOADW(c) __m256 wb##c = _mm256_broadcast_ss(wc + (c) * cin * kk + ky * k + kx);
#define PV_FMA(q, c) a##q##_##c = _mm256_fmadd_ps(iv##q, wb##c, a##q##_##c);
#define PV_STORE(q, c)                                                                   \
    {                                                                                    \
        __m256 v = a##q##_##c;                                                           \
        if (op->relu) v = _mm256_max_ps(v, _mm256_setzero_ps());                         \
        if (op->has_bn) v = _mm256_fmadd_ps(v, _mm256_broadcast_ss(op->scale + co + (c)), \
                                            _mm256_broadcast_ss(op->shift + co + (c)));  \
        _mm256_storeu_ps(dst + (co + (c)) * plane + x + 8 * (q), v);                     \
    }
#define NOP2(q, c)
/* K > 0 fixes the kernel size at compile time (the tap loops unroll); K == 0 reads op->k. */
#define DEFINE_PV(NAME, RQ, QL, RC, CL, K)                                               \
    static void NAME(const fs_fconv *op, const fs_view *in, int y, int x, int co, float *dst, \
                     ptrdiff_t plane) {                                                  \
        const int k = (K) ? (K) : op->k;                                                 \
        int dil = op->dil, cin = op->cin, pad = (k - 1) * dil / 2;                       \
        size_t kk = (size_t)k * k;                                                       \
        RC(PV_BIAS)                                                                      \
        CL(PV_INIT, QL)                                                                  \
        for (int ci = 0; ci < cin; ci++) {                                               \
            const float *pl = in->p + ci * in->cs + (ptrdiff_t)(y - pad) * in->ys + (x - pad); \
            const float *wc = op->w + ((size_t)co * cin + ci) * kk;                      \
            _Pragma("GCC unroll 8")                                                      \
            for (int ky = 0; ky < k; ky++) {                                             \
                const float *row = pl + (ptrdiff_t)ky * dil * in->ys;                    \
                _Pragma("GCC unroll 8")                                                  \
                for (int kx = 0; kx < k; kx++) {                                         \
                    RQ(PV_LOADI)                                                         \
                    RC(PV_LOADW)                                                         \
                    CL(PV_FMA, QL)                                                       \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        CL(PV_STORE, QL)                                                                 \
    }
#define PV_SET(K)                                                                        \
    DEFINE_PV(pv2x4_##K, R2, Q2, R4, C4, K)                                              \
    DEFINE_PV(pv1x4_##K, R1, Q1, R4, C4, K)                                              \
    DEFINE_PV(pv3x3_##K, R3, Q3, R3, C3, K)                                              \
    DEFINE_PV(pv1x3_##K, R1, Q1, R3, C3, K)                                              \
    DEFINE_PV(pv4x2_##K, R4, Q4, R2, C2, K)                                              \
    DEFINE_PV(pv1x2_##K, R1, Q1, R2, C2, K)                                              \
    DEFINE_PV(pv4x1_##K, R4, Q4, R1, C1, K)                                              \
    DEFINE_PV(pv1x1_##K, R1, Q1, R1, C1, K)                                              \
    static void pv_row_##K(const fs_fconv *op, const fs_view *in, int y, float *dst,     \
                           ptrdiff_t plane) {                                            \
        int w = in->w, co = 0;                                                           \
        for (; co + 4 <= op->cout; co += 4) PV_ROW(pv2x4_##K, 2, pv1x4_##K);             \
        switch (op->cout - co) {                                                         \
        case 3: PV_ROW(pv3x3_##K, 3, pv1x3_##K); break;                                  \
        case 2: PV_ROW(pv4x2_##K, 4, pv1x2_##K); break;                                  \
        case 1: PV_ROW(pv4x1_##K, 4, pv1x1_##K); break;                                  \
        default: break;                                                                  \
        }                                                                                \
    }

#define PV_ROW(WIDE, NP, ONE)                                                            \
    do {                                                                                 \
        int x = 0;                                                                       \
        for (; x + 8 * (NP) <= w; x += 8 * (NP)) WIDE(op, in, y, x, co, dst, plane);     \
        for (; x + 8 <= w; x += 8) ONE(op, in, y, x, co, dst, plane);                    \
    } while (0)

/* 1x1 and 3x3: the kernels of the inception blocks; 0: any */
PV_SET(0)
PV_SET(1)
PV_SET(3)

/* Scalar tail for the last w % 8 pixels: same arithmetic, one pixel at a time. */
static void pv_tail(const fs_fconv *op, const fs_view *in, int y, int x0, float *dst,
                    ptrdiff_t plane) {
    int k = op->k, dil = op->dil, cin = op->cin, pad = (k - 1) * dil / 2;
    for (int co = 0; co < op->cout; co++)
        for (int x = x0; x < in->w; x++) {
            float acc = op->bias[co];
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        acc = fmaf(in->p[ci * in->cs + (ptrdiff_t)(y - pad + ky * dil) * in->ys +
                                         (x - pad + kx * dil)],
                                   op->w[(((size_t)co * cin + ci) * k + ky) * k + kx], acc);
            if (op->relu && !(acc > 0.0f)) acc = 0.0f;
            if (op->has_bn) acc = fmaf(acc, op->scale[co], op->shift[co]);
            dst[co * plane + x] = acc;
        }
}

void fs_fconv_row_pixels_avx2(const fs_fconv *op, const fs_view *in, int y, float *dst,
                              ptrdiff_t plane) {
    int w = in->w;
    if (op->k == 1)
        pv_row_1(op, in, y, dst, plane);
    else if (op->k == 3)
        pv_row_3(op, in, y, dst, plane);
    else
        pv_row_0(op, in, y, dst, plane);
    if (w % 8) pv_tail(op, in, y, w - w % 8, dst, plane);
}

void fs_fconv_pool_channels_avx2(const fs_fconv *op, const float *band, int nrows, int w,
                                 const fs_view *out, int oy, int pad_left) {
    int p = op->pool, cp = op->cout_pad, cout = op->cout;
    assert(out->cs == 1 && cout % 8 == 0);
    size_t rs = (size_t)w * cp;
    for (int ox = 0; ox < out->w; ox++) {
        int x0 = ox * p - pad_left, x1 = x0 + p;
        if (x0 < 0) x0 = 0;
        if (x1 > w) x1 = w;
        float *o = out->p + oy * out->ys + ox * out->xs;
        for (int c = 0; c < cout; c += 8) {
            __m256 m = _mm256_set1_ps(-INFINITY);
            for (int r = 0; r < nrows; r++)
                for (int x = x0; x < x1; x++)
                    m = _mm256_max_ps(m, _mm256_loadu_ps(band + r * rs + (size_t)x * cp + c));
            _mm256_storeu_ps(o + c, m);
        }
    }
}

void fs_fconv_pool_pixels2_avx2(const fs_fconv *op, const float *band, ptrdiff_t plane,
                                int wpad, int nrows, int w, const fs_view *out, int oy) {
    assert(w % 2 == 0 && nrows >= 1 && nrows <= 2);
    float *orow = out->p + (ptrdiff_t)oy * out->ys;
    for (int c = 0; c < op->cout; c++) {
        const float *r0 = band + c * plane, *r1 = nrows == 2 ? r0 + wpad : r0;
        float *o = orow + c * out->cs;
        int x = 0;
        for (; x + 16 <= w; x += 16) {
            __m256 a = _mm256_max_ps(_mm256_loadu_ps(r0 + x), _mm256_loadu_ps(r1 + x));
            __m256 b = _mm256_max_ps(_mm256_loadu_ps(r0 + x + 8), _mm256_loadu_ps(r1 + x + 8));
            /* even and odd pixels of a|b, per 128-bit lane: pooled 0 1 4 5 | 2 3 6 7 */
            __m256 m = _mm256_max_ps(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xDD));
            m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
            if (out->xs == 1) {
                _mm256_storeu_ps(o + x / 2, m);
            } else {
                float t[8];
                _mm256_storeu_ps(t, m);
                for (int i = 0; i < 8; i++) o[(ptrdiff_t)(x / 2 + i) * out->xs] = t[i];
            }
        }
        for (; x < w; x += 2) {
            float v = fmaxf(fmaxf(r0[x], r0[x + 1]), fmaxf(r1[x], r1[x + 1]));
            o[(ptrdiff_t)(x / 2) * out->xs] = v;
        }
    }
}

double fs_nn_fma_peak_avx2(double seconds) {
    /* 12 independent chains cover FMA latency (4) x 2 pipes with room to spare, and still fit
     * the 16 registers with the two constants. The chains start from different values:
     * identical chains are one computation to the compiler, which then runs a single
     * latency-bound chain and the figure comes out about 1.6 times the real peak. */
    __m256 a[12];
    #pragma GCC unroll 16
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + 0.001f * (float)i);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    double t0 = fs_now_ms(), flops = 0;
    do {
        for (int it = 0; it < 1000000; it++)
            #pragma GCC unroll 16
            for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
        flops += 2.0 * 8 * 12 * 1000000;
    } while (fs_now_ms() - t0 < seconds * 1000.0);
    __m256 s = a[0];
    #pragma GCC unroll 16
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return flops / ((fs_now_ms() - t0) * 1e6);
}
