/* detect_avx2.c: the cascade evaluation of detect.c eight windows at a time, for Haar
 * cascades made of single splits (stumps). The scalar loop walks each window through the
 * stages; here a row of windows goes through them together:
 *   1. every window of the row: variance normalisation and the first stage, reading eight
 *      neighbouring windows with plain loads (every other column when the step is 2);
 *   2. OpenCV's skip (the window after one rejected by the first stage is never looked at),
 *      applied in order, leaves the windows that go on;
 *   3. each later stage on the groups of eight neighbours that still hold a live window.
 * Every lane does the scalar code's arithmetic in the same order and precision (int32 sums,
 * float features, double stage sums, IEEE division and square root), and the file is compiled
 * as ISO C, where GCC does not fuse a multiply and an add, so accepted windows are the same
 * bit for bit; tests/unit/test_face.c checks it against the scalar path. */
#include <immintrin.h>

#include "face/cascade.h"

#include <assert.h>

#define LANES 8

/* Eight values p[0], p[step], ..., p[7 step] for a step of 1 or 2. */
static inline __m256i load_step(const uint32_t *p, int step) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    if (step == 1) return a;
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + LANES));
    __m256 t = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b),
                                 _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_si256(
        _mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* A rectangle sum for eight neighbouring windows, p at the first. Modulo 2^32 like the
 * scalar rect_sum. */
static inline __m256i rect8(const uint32_t *p, const int *o, int step) {
    __m256i a = load_step(p + o[0], step), b = load_step(p + o[1], step);
    __m256i c = load_step(p + o[2], step), d = load_step(p + o[3], step);
    return _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(a, b), c), d);
}

/* The variance normalisation of eight windows: writes 1/stddev as float and returns the mask
 * of windows with enough variance (the scalar run_window's first test). */
static inline int variance8(const fs_face_plan *P, __m256i vs, __m256i vq, __m256 *vnf) {
    const __m256d area = _mm256_set1_pd(P->norm_area);
    const __m256d two31 = _mm256_set1_pd(2147483648.0);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    __m128 half[2];
    int ok = 0;
    for (int h = 0; h < 2; h++) {
        __m128i s = h ? _mm256_extracti128_si256(vs, 1) : _mm256_castsi256_si128(vs);
        __m128i q = h ? _mm256_extracti128_si256(vq, 1) : _mm256_castsi256_si128(vq);
        __m256d sd = _mm256_cvtepi32_pd(s);
        /* unsigned to double, exactly: (q - 2^31) as a signed number, plus 2^31 */
        __m256d qd = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(q, sign)), two31);
        __m256d nf = _mm256_sub_pd(_mm256_mul_pd(area, qd), _mm256_mul_pd(sd, sd));
        __m256d pos = _mm256_cmp_pd(nf, _mm256_setzero_pd(), _CMP_GT_OQ);
        __m128 f = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_set1_pd(1.0), _mm256_sqrt_pd(nf)));
        __m256d low = _mm256_cmp_pd(_mm256_mul_pd(area, _mm256_cvtps_pd(f)),
                                    _mm256_set1_pd(FS_FACE_VARIANCE_MIN_RATIO), _CMP_LT_OQ);
        ok |= _mm256_movemask_pd(_mm256_and_pd(pos, low)) << (4 * h);
        half[h] = f;
    }
    *vnf = _mm256_set_m128(half[1], half[0]);
    return ok;
}

/* One stage on eight windows; returns the mask of those that pass. */
static inline int stage8(const fs_face_stump *st, int n, float threshold, const uint32_t *p,
                         int step, __m256 vnf) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (const fs_face_stump *end = st + n; st < end; st++) {
        __m256 v = _mm256_add_ps(
            _mm256_mul_ps(_mm256_set1_ps(st->w[0]),
                          _mm256_cvtepi32_ps(rect8(p, st->ofs[0], step))),
            _mm256_mul_ps(_mm256_set1_ps(st->w[1]),
                          _mm256_cvtepi32_ps(rect8(p, st->ofs[1], step))));
        if (st->w[2] != 0.0f)
            v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(st->w[2]),
                                               _mm256_cvtepi32_ps(rect8(p, st->ofs[2], step))));
        v = _mm256_mul_ps(v, vnf);
        __m256 lt = _mm256_cmp_ps(v, _mm256_set1_ps(st->threshold), _CMP_LT_OQ);
        __m256 leaf = _mm256_blendv_ps(_mm256_set1_ps(st->right), _mm256_set1_ps(st->left), lt);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(leaf)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(leaf, 1)));
    }
    __m256d t = _mm256_set1_pd((double)threshold);
    int fail = _mm256_movemask_pd(_mm256_cmp_pd(lo, t, _CMP_LT_OQ)) |
               _mm256_movemask_pd(_mm256_cmp_pd(hi, t, _CMP_LT_OQ)) << 4;
    return ~fail & 0xff;
}

int fs_face_row_avx2(const fs_face_plan *P, const uint32_t *sum, const uint32_t *sqsum, int m,
                     int step, int *scratch, float *fscratch, int *accepted) {
    assert(step == 1 || step == 2);
    assert(P->n_stages >= 1);
    int *res = scratch;
    float *vnf = fscratch;
    const fs_cascade_stage *s0 = &P->stages[0];
    /* 1: variance and first stage of every window; lanes past m read the padding after the
     * integral images and are ignored */
    for (int j0 = 0; j0 < m; j0 += LANES) {
        const uint32_t *ps = sum + (size_t)j0 * step, *pq = sqsum + (size_t)j0 * step;
        __m256 f;
        int ok = variance8(P, rect8(ps, P->nofs, step), rect8(pq, P->nofs, step), &f);
        _mm256_storeu_ps(vnf + j0, f);
        int pass = ok ? stage8(P->stumps, s0->tree_count, s0->threshold, ps, step, f) : 0;
        for (int k = 0; k < LANES; k++)
            res[j0 + k] = !(ok >> k & 1) ? -1 : (pass >> k & 1) ? 1 : 0;
    }
    for (int k = m; k < m + LANES; k++) res[k] = -1; /* lanes past the row */
    /* 2: OpenCV's skip, in order; res[j] stays 1 for the windows that go on */
    for (int j = 0; j < m; j++)
        if (res[j] == 0) res[++j] = -1; /* j < m + LANES: within res */
    /* 3: each later stage on the groups of eight neighbours that still hold a live window,
     * with plain loads (lanes not alive are computed and ignored). Gathering only the
     * survivors does less arithmetic but cost more: on the 1080p DFDC clips a scan took
     * 0.3 CPU-s more with gathers once fewer than a quarter of a row's windows lived. */
    const int groups = (m + LANES - 1) / LANES;
    unsigned char *mask = (unsigned char *)(scratch + m + LANES); /* m + LANES ints: room */
    int any = 0;
    for (int g = 0; g < groups; g++) {
        int a = 0;
        for (int k = 0; k < LANES; k++) a |= (res[g * LANES + k] > 0) << k;
        mask[g] = (unsigned char)a;
        any |= a;
    }
    const fs_face_stump *st = P->stumps + s0->tree_count;
    for (int si = 1; si < P->n_stages && any; si++) {
        const fs_cascade_stage *S = &P->stages[si];
        any = 0;
        for (int g = 0; g < groups; g++) {
            if (!mask[g]) continue;
            const int j0 = g * LANES;
            __m256 f = _mm256_loadu_ps(vnf + j0);
            int pass = stage8(st, S->tree_count, S->threshold, sum + (size_t)j0 * step, step, f);
            mask[g] &= (unsigned char)pass;
            any |= mask[g];
        }
        st += S->tree_count;
    }
    int nl = 0;
    for (int g = 0; any && g < groups; g++)
        for (int k = 0; k < LANES; k++)
            if (mask[g] >> k & 1) accepted[nl++] = (g * LANES + k) * step;
    return nl;
}
