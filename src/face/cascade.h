/* cascade.h: the in-memory form of a boosted cascade, shared by the loader (cascade.c) and the
 * detector (detect.c), plus the detector's building blocks exposed for the unit tests. Nothing
 * here is public API. */
#ifndef FS_FACE_CASCADE_H
#define FS_FACE_CASCADE_H

#include "fakescope/face.h"

#define FS_CASCADE_MAX_WINDOW 1024   /* cascade window side */
#define FS_CASCADE_MAX_STAGES 4096
#define FS_CASCADE_MAX_TREE_NODES 1024
#define FS_CASCADE_MAX_CATEGORIES 4096
#define FS_HAAR_RECTS 3
#define FS_FACE_MAX_SCALES 4096 /* pyramid levels per image */
#define FS_FACE_VARIANCE_MIN_RATIO 0.1 /* OpenCV rejects windows with area / stddev >= this */
/* uint32 values readable past the end of the integral images: the vectorised evaluator
 * loads whole vectors (two of eight at a step of 2) from the last window of a row */
#define FS_FACE_INTEGRAL_PAD 32

typedef struct fs_haar_rect {
    int x, y, w, h;
    float weight;
} fs_haar_rect;

typedef struct fs_haar_feature {
    fs_haar_rect r[FS_HAAR_RECTS]; /* unused rectangles have weight 0 */
    int tilted;                    /* rectangles rotated by 45 degrees */
} fs_haar_feature;

typedef struct fs_lbp_feature {
    int x, y, w, h; /* one block of the 3x3 grid of blocks */
} fs_lbp_feature;

/* One split of a tree. A child > 0 is the index of another node of the same tree (always larger
 * than the parent's, so walks end); a child <= 0 is leaf number -child. */
typedef struct fs_cascade_node {
    int feature;
    float threshold; /* ordered (Haar) features */
    int left, right;
} fs_cascade_node;

typedef struct fs_cascade_tree {
    int first_node, node_count, first_leaf; /* node_count + 1 leaves */
} fs_cascade_tree;

typedef struct fs_cascade_stage {
    int first_tree, tree_count;
    float threshold; /* the file's threshold minus OpenCV's 1e-5f */
} fs_cascade_stage;

struct fs_cascade {
    fs_cascade_type type;
    int win_w, win_h;
    int categories, subset_words; /* LBP: categories per split and 32-bit words per subset */
    int has_tilted;
    int stage_count, tree_count, node_count, leaf_count, feature_count;
    fs_cascade_stage *stages;
    fs_cascade_tree *trees;
    fs_cascade_node *nodes;
    float *leaves;
    int32_t *subsets; /* LBP: subset_words per node */
    fs_haar_feature *haar;
    fs_lbp_feature *lbp;
};

/* OpenCV's INTER_LINEAR_EXACT resize of an 8-bit grey image (8-bit fixed-point weights, and its
 * 2x2 area shortcut for an exact halving), which is what cascade detection uses. dst has dw x dh pixels, row stride dw. Returns FS_ERR_NOMEM or FS_OK. */
fs_err fs_face_resize_linear(const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst, int dw,
                             int dh);

/* Integral images with row stride `stride` (>= w + 1) of (w+1) x (h+1) values: sum[y][x] is the
 * sum of pixels above and left of (x, y); sqsum the same of squares. All are kept modulo 2^32 (as
 * OpenCV's 32-bit sums are), which leaves every window sum exact;
 * tilted (may be NULL) OpenCV's 45-degree sum: tilted[y][x] = sum of pixels (x', y') with y' < y
 * and |x' - x + 1| <= y - 1 - y'. */
void fs_face_integral(const uint8_t *img, int w, int h, int istride, uint32_t *sum, uint32_t *sqsum,
                      uint32_t *tilted, int stride);

/* A Haar cascade whose trees are all single splits (frontalface_default and most of OpenCV's
 * Haar files), flattened for one integral-image stride: what the vectorised evaluator reads. */
typedef struct fs_face_stump {
    int ofs[FS_HAAR_RECTS][4]; /* corner offsets from the window's top-left integral entry */
    float w[FS_HAAR_RECTS];    /* w[2] == 0: a two-rectangle feature */
    float threshold, left, right;
} fs_face_stump;

typedef struct fs_face_plan {
    const fs_face_stump *stumps; /* every stage's stumps, stage after stage */
    const fs_cascade_stage *stages;
    int n_stages;
    int nofs[4];      /* the variance rectangle (window inset by one pixel) */
    double norm_area; /* its area */
} fs_face_plan;

/* AVX2+FMA (call only when fs_cpu_has_avx2_fma()): OpenCV's runAt on the windows of one row
 * of a pyramid level whose top-left integral entries are sum[x], sqsum[x] for x = j * step,
 * j < m, with OpenCV's skip of the window after one rejected by the first stage. Writes the
 * accepted x into accepted (room for m) and returns their count: exactly the windows the
 * scalar loop accepts. scratch holds at least 2 * m + 16 ints and fscratch m + 16 floats. */
int fs_face_row_avx2(const fs_face_plan *P, const uint32_t *sum, const uint32_t *sqsum, int m,
                     int step, int *scratch, float *fscratch, int *accepted);

/* All raw windows accepted by the cascade (OpenCV's detectMultiScaleNoGrouping). */
fs_err fs_face_candidates(const fs_cascade *c, const uint8_t *gray, int w, int h, int stride,
                          double scale_factor, int min_size, int max_size, fs_box **out,
                          size_t *n, fs_msg *msg);

#endif
