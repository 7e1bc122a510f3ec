/* cascade.c: reads OpenCV's cascade XML files (the layout written by opencv_traincascade and
 * shipped by Debian's opencv-data) into the flat arrays of struct fs_cascade, with libxml2.
 *
 * The file is untrusted input: every count, child index, feature index and rectangle is checked
 * here so that the detector can index its arrays without further tests. A failure names the
 * stage / classifier / feature and the field, because the usual causes are a truncated download
 * or a cascade of another format. Numbers are read as doubles and narrowed to float exactly where
 * OpenCV narrows them, so thresholds compare bit for bit the same. */
#include "face/cascade.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* OpenCV subtracts this from every stage threshold to absorb rounding in the trained values. */
#define STAGE_THRESHOLD_EPS 1e-5f
#define MAX_NUMBERS_PER_FIELD (1 << 20)

/* Records the failure in the loader and evaluates to -1, the helpers' failure value. */
#define LFAIL(L, code, ...) lfail_set(L, fs_fail((L)->msg, code, __VA_ARGS__))

typedef struct loader {
    const char *name;
    fs_msg *msg;
    fs_err err; /* code of the first failure */
    fs_cascade *c;
    size_t cap_stages, cap_trees, cap_nodes, cap_leaves, cap_subsets;
    double *nums; /* scratch for the numbers of one text field */
    size_t cap_nums;
} loader;

static int lfail_set(loader *L, fs_err err) {
    L->err = err;
    return -1;
}

/* ---- small XML helpers ---- */

static int is_named(const xmlNode *n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNode *child(const xmlNode *parent, const char *name) {
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (is_named(n, name)) return n;
    return NULL;
}

static xmlNode *first_element(const xmlNode *parent) {
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE) return n;
    return NULL;
}

static xmlNode *next_element(const xmlNode *n) {
    for (n = n->next; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE) return (xmlNode *)n;
    return NULL;
}

static int count_elements(const xmlNode *parent) {
    int k = 0;
    for (xmlNode *n = first_element(parent); n; n = next_element(n)) k++;
    return k;
}

/* Reads all whitespace-separated numbers of an element's text into L->nums. Returns the count, or
 * -1 (message set) on a token that is not a number. */
static long read_numbers(loader *L, const xmlNode *node, const char *what) {
    xmlChar *text = xmlNodeGetContent(node);
    if (!text) {
        LFAIL(L, FS_ERR_NOMEM, "%s: out of memory reading %s", L->name, what);
        return -1;
    }
    const char *p = (const char *)text;
    size_t k = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v) ||
            (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')) {
            char tok[24];
            snprintf(tok, sizeof tok, "%.20s", p);
            xmlFree(text);
            LFAIL(L, FS_ERR_FORMAT, "%s: %s: '%s' is not a number", L->name, what, tok);
            return -1;
        }
        if (k == L->cap_nums) {
            size_t cap = L->cap_nums ? L->cap_nums * 2 : 64;
            if (cap > MAX_NUMBERS_PER_FIELD) {
                xmlFree(text);
                LFAIL(L, FS_ERR_LIMIT, "%s: %s has more than %d numbers", L->name, what,
                        MAX_NUMBERS_PER_FIELD);
                return -1;
            }
            double *nv = realloc(L->nums, cap * sizeof *nv);
            if (!nv) {
                xmlFree(text);
                LFAIL(L, FS_ERR_NOMEM, "%s: out of memory", L->name);
                return -1;
            }
            L->nums = nv;
            L->cap_nums = cap;
        }
        L->nums[k++] = v;
        p = end;
    }
    xmlFree(text);
    return (long)k;
}

/* One integer field (e.g. <width>). */
static int read_int_field(loader *L, const xmlNode *parent, const char *field, long lo, long hi,
                          int *out) {
    xmlNode *n = child(parent, field);
    if (!n) {
        LFAIL(L, FS_ERR_FORMAT, "%s: <%s> is missing", L->name, field);
        return -1;
    }
    long k = read_numbers(L, n, field);
    if (k < 0) return -1;
    if (k != 1 || L->nums[0] != floor(L->nums[0]) || L->nums[0] < lo || L->nums[0] > hi) {
        LFAIL(L, FS_ERR_FORMAT, "%s: <%s> must be one integer in [%ld, %ld]", L->name,
                field, lo, hi);
        return -1;
    }
    *out = (int)L->nums[0];
    return 0;
}

static int is_int(double v, double lo, double hi) {
    return v == floor(v) && v >= lo && v <= hi;
}

/* Grows *arr (elements of size sz) so that it holds at least need elements. */
static int grow(loader *L, void **arr, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * sz);
    if (!p) {
        LFAIL(L, FS_ERR_NOMEM, "%s: out of memory", L->name);
        return -1;
    }
    *arr = p;
    *cap = nc;
    return 0;
}

static int text_equals(const xmlNode *n, const char *want) {
    xmlChar *t = xmlNodeGetContent(n);
    if (!t) return 0;
    const char *s = (const char *)t;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' ||
                   s[len - 1] == '\r'))
        len--;
    int eq = len == strlen(want) && !strncmp(s, want, len);
    xmlFree(t);
    return eq;
}

/* ---- stages ---- */

static int read_tree(loader *L, const xmlNode *weak, int si, int wi) {
    fs_cascade *c = L->c;
    char what[96];
    xmlNode *inodes = child(weak, "internalNodes"), *leaves = child(weak, "leafValues");
    if (!inodes || !leaves) {
        LFAIL(L, FS_ERR_FORMAT, "%s: stage %d, weak classifier %d: <%s> is missing",
                L->name, si, wi, inodes ? "leafValues" : "internalNodes");
        return -1;
    }
    int step = 3 + (c->categories > 0 ? c->subset_words : 1);
    snprintf(what, sizeof what, "stage %d, weak classifier %d, internalNodes", si, wi);
    long k = read_numbers(L, inodes, what);
    if (k < 0) return -1;
    if (k == 0 || k % step || k / step > FS_CASCADE_MAX_TREE_NODES) {
        LFAIL(L, FS_ERR_FORMAT,
                "%s: %s has %ld numbers; expected a positive multiple of %d (at most %d nodes)",
                L->name, what, k, step, FS_CASCADE_MAX_TREE_NODES);
        return -1;
    }
    int nn = (int)(k / step);
    if (grow(L, (void **)&c->nodes, &L->cap_nodes, (size_t)c->node_count + nn, sizeof *c->nodes) ||
        (c->categories > 0 &&
         grow(L, (void **)&c->subsets, &L->cap_subsets,
              ((size_t)c->node_count + nn) * c->subset_words, sizeof *c->subsets)))
        return -1;
    for (int i = 0; i < nn; i++) {
        const double *v = L->nums + (size_t)i * step;
        /* children: > 0 a later node of this tree, <= 0 a leaf among the nn + 1 */
        if (!is_int(v[0], -nn, nn - 1) || !is_int(v[1], -nn, nn - 1) ||
            (v[0] > 0 && v[0] <= i) || (v[1] > 0 && v[1] <= i)) {
            LFAIL(L, FS_ERR_FORMAT, "%s: %s: node %d has children %g and %g, not valid in "
                    "a tree of %d nodes", L->name, what, i, v[0], v[1], nn);
            return -1;
        }
        if (!is_int(v[2], 0, INT_MAX)) {
            LFAIL(L, FS_ERR_FORMAT, "%s: %s: node %d has feature index %g", L->name, what,
                    i, v[2]);
            return -1;
        }
        fs_cascade_node *nd = &c->nodes[c->node_count + i];
        nd->left = (int)v[0];
        nd->right = (int)v[1];
        nd->feature = (int)v[2];
        if (c->categories > 0) {
            nd->threshold = 0.f;
            int32_t *sub = c->subsets + (size_t)(c->node_count + i) * c->subset_words;
            for (int j = 0; j < c->subset_words; j++) {
                if (!is_int(v[3 + j], INT32_MIN, INT32_MAX)) {
                    LFAIL(L, FS_ERR_FORMAT, "%s: %s: node %d: subset word %g is not a "
                            "32-bit integer", L->name, what, i, v[3 + j]);
                    return -1;
                }
                sub[j] = (int32_t)v[3 + j];
            }
        } else {
            nd->threshold = (float)v[3];
        }
    }
    snprintf(what, sizeof what, "stage %d, weak classifier %d, leafValues", si, wi);
    k = read_numbers(L, leaves, what);
    if (k < 0) return -1;
    if (k != nn + 1) {
        LFAIL(L, FS_ERR_FORMAT, "%s: %s has %ld values for %d nodes (expected %d)",
                L->name, what, k, nn, nn + 1);
        return -1;
    }
    if (grow(L, (void **)&c->leaves, &L->cap_leaves, (size_t)c->leaf_count + nn + 1,
             sizeof *c->leaves) ||
        grow(L, (void **)&c->trees, &L->cap_trees, (size_t)c->tree_count + 1, sizeof *c->trees))
        return -1;
    for (int i = 0; i <= nn; i++) c->leaves[c->leaf_count + i] = (float)L->nums[i];
    c->trees[c->tree_count++] =
        (fs_cascade_tree){.first_node = c->node_count, .node_count = nn, .first_leaf = c->leaf_count};
    c->node_count += nn;
    c->leaf_count += nn + 1;
    return 0;
}

static int read_stages(loader *L, const xmlNode *root) {
    fs_cascade *c = L->c;
    xmlNode *stages = child(root, "stages");
    if (!stages) return LFAIL(L, FS_ERR_FORMAT, "%s: <stages> is missing", L->name), -1;
    int ns = count_elements(stages);
    if (ns == 0) return LFAIL(L, FS_ERR_FORMAT, "%s: <stages> is empty", L->name), -1;
    if (ns > FS_CASCADE_MAX_STAGES)
        return LFAIL(L, FS_ERR_LIMIT, "%s: %d stages (at most %d)", L->name, ns,
                       FS_CASCADE_MAX_STAGES), -1;
    c->stages = calloc((size_t)ns, sizeof *c->stages);
    if (!c->stages) return LFAIL(L, FS_ERR_NOMEM, "%s: out of memory", L->name), -1;
    int si = 0;
    for (xmlNode *st = first_element(stages); st; st = next_element(st), si++) {
        xmlNode *thr = child(st, "stageThreshold"), *weaks = child(st, "weakClassifiers");
        if (!thr || !weaks)
            return LFAIL(L, FS_ERR_FORMAT, "%s: stage %d: <%s> is missing", L->name, si,
                           thr ? "weakClassifiers" : "stageThreshold"), -1;
        char what[64];
        snprintf(what, sizeof what, "stage %d, stageThreshold", si);
        long k = read_numbers(L, thr, what);
        if (k < 0) return -1;
        if (k != 1)
            return LFAIL(L, FS_ERR_FORMAT, "%s: %s must be one number", L->name, what), -1;
        fs_cascade_stage *s = &c->stages[si];
        s->threshold = (float)L->nums[0] - STAGE_THRESHOLD_EPS;
        s->first_tree = c->tree_count;
        int wi = 0;
        for (xmlNode *w = first_element(weaks); w; w = next_element(w), wi++)
            if (read_tree(L, w, si, wi)) return -1;
        if (wi == 0)
            return LFAIL(L, FS_ERR_FORMAT, "%s: stage %d has no weak classifiers",
                           L->name, si), -1;
        s->tree_count = wi;
    }
    c->stage_count = ns;
    return 0;
}

/* ---- features ---- */

static int read_haar_feature(loader *L, const xmlNode *f, int fi, fs_haar_feature *out) {
    const fs_cascade *c = L->c;
    memset(out, 0, sizeof *out);
    xmlNode *rects = child(f, "rects");
    if (!rects)
        return LFAIL(L, FS_ERR_FORMAT, "%s: feature %d: <rects> is missing", L->name, fi),
               -1;
    xmlNode *t = child(f, "tilted");
    if (t) {
        char what[48];
        snprintf(what, sizeof what, "feature %d, tilted", fi);
        long k = read_numbers(L, t, what);
        if (k < 0) return -1;
        if (k != 1 || !is_int(L->nums[0], 0, 1))
            return LFAIL(L, FS_ERR_FORMAT, "%s: %s must be 0 or 1", L->name, what), -1;
        out->tilted = L->nums[0] != 0;
    }
    int ri = 0;
    for (xmlNode *r = first_element(rects); r; r = next_element(r), ri++) {
        char what[48];
        snprintf(what, sizeof what, "feature %d, rectangle %d", fi, ri);
        if (ri >= FS_HAAR_RECTS)
            return LFAIL(L, FS_ERR_FORMAT, "%s: feature %d has more than %d rectangles",
                           L->name, fi, FS_HAAR_RECTS), -1;
        long k = read_numbers(L, r, what);
        if (k < 0) return -1;
        if (k != 5)
            return LFAIL(L, FS_ERR_FORMAT, "%s: %s must be 'x y w h weight'", L->name,
                           what), -1;
        const double *v = L->nums;
        for (int j = 0; j < 4; j++)
            if (!is_int(v[j], 0, FS_CASCADE_MAX_WINDOW))
                return LFAIL(L, FS_ERR_FORMAT, "%s: %s: %g is not a coordinate", L->name,
                               what, v[j]), -1;
        fs_haar_rect *hr = &out->r[ri];
        *hr = (fs_haar_rect){(int)v[0], (int)v[1], (int)v[2], (int)v[3], (float)v[4]};
        /* The four corners read from the integral image must lie inside the window. */
        int inside = out->tilted
                         ? hr->x - hr->h >= 0 && hr->x + hr->w <= c->win_w &&
                               hr->y + hr->w + hr->h <= c->win_h
                         : hr->x + hr->w <= c->win_w && hr->y + hr->h <= c->win_h;
        if (!inside)
            return LFAIL(L, FS_ERR_FORMAT, "%s: %s (%d %d %d %d%s) leaves the %dx%d window",
                           L->name, what, hr->x, hr->y, hr->w, hr->h,
                           out->tilted ? ", tilted" : "", c->win_w, c->win_h), -1;
    }
    if (ri < 1)
        return LFAIL(L, FS_ERR_FORMAT, "%s: feature %d has no rectangles", L->name, fi), -1;
    return 0;
}

static int read_lbp_feature(loader *L, const xmlNode *f, int fi, fs_lbp_feature *out) {
    const fs_cascade *c = L->c;
    xmlNode *r = child(f, "rect");
    if (!r) return LFAIL(L, FS_ERR_FORMAT, "%s: feature %d: <rect> is missing", L->name, fi), -1;
    char what[48];
    snprintf(what, sizeof what, "feature %d, rect", fi);
    long k = read_numbers(L, r, what);
    if (k < 0) return -1;
    const double *v = L->nums;
    if (k != 4 || !is_int(v[0], 0, FS_CASCADE_MAX_WINDOW) || !is_int(v[1], 0, FS_CASCADE_MAX_WINDOW) ||
        !is_int(v[2], 1, FS_CASCADE_MAX_WINDOW) || !is_int(v[3], 1, FS_CASCADE_MAX_WINDOW))
        return LFAIL(L, FS_ERR_FORMAT, "%s: %s must be 'x y w h' with w, h >= 1", L->name,
                       what), -1;
    *out = (fs_lbp_feature){(int)v[0], (int)v[1], (int)v[2], (int)v[3]};
    /* an LBP feature is a 3x3 grid of such blocks */
    if (out->x + 3 * out->w > c->win_w || out->y + 3 * out->h > c->win_h)
        return LFAIL(L, FS_ERR_FORMAT, "%s: %s: its 3x3 blocks leave the %dx%d window",
                       L->name, what, c->win_w, c->win_h), -1;
    return 0;
}

static int read_features(loader *L, const xmlNode *root) {
    fs_cascade *c = L->c;
    xmlNode *feats = child(root, "features");
    if (!feats) return LFAIL(L, FS_ERR_FORMAT, "%s: <features> is missing", L->name), -1;
    int nf = count_elements(feats);
    if (nf == 0) return LFAIL(L, FS_ERR_FORMAT, "%s: <features> is empty", L->name), -1;
    if (c->type == FS_CASCADE_HAAR)
        c->haar = calloc((size_t)nf, sizeof *c->haar);
    else
        c->lbp = calloc((size_t)nf, sizeof *c->lbp);
    if (!c->haar && !c->lbp) return LFAIL(L, FS_ERR_NOMEM, "%s: out of memory", L->name), -1;
    int fi = 0;
    for (xmlNode *f = first_element(feats); f; f = next_element(f), fi++) {
        if (c->type == FS_CASCADE_HAAR) {
            if (read_haar_feature(L, f, fi, &c->haar[fi])) return -1;
            c->has_tilted |= c->haar[fi].tilted;
        } else if (read_lbp_feature(L, f, fi, &c->lbp[fi])) {
            return -1;
        }
    }
    c->feature_count = nf;
    return 0;
}

/* ---- whole file ---- */

static int read_cascade(loader *L, const xmlNode *root) {
    fs_cascade *c = L->c;
    xmlNode *st = child(root, "stageType"), *ft = child(root, "featureType");
    if (!st || !ft) {
        xmlChar *tid = xmlGetProp(root, (const xmlChar *)"type_id");
        int old = tid && !strcmp((const char *)tid, "opencv-haar-classifier");
        xmlFree(tid);
        if (old)
            return LFAIL(L, FS_ERR_UNSUPPORTED,
                           "%s: old-style (opencv-haar-classifier) cascade; convert it with "
                           "OpenCV or use the new-format file of the same name", L->name), -1;
        return LFAIL(L, FS_ERR_FORMAT, "%s: <%s> is missing: not an OpenCV cascade",
                       L->name, st ? "featureType" : "stageType"), -1;
    }
    if (!text_equals(st, "BOOST"))
        return LFAIL(L, FS_ERR_UNSUPPORTED, "%s: stageType is not BOOST", L->name), -1;
    if (text_equals(ft, "HAAR"))
        c->type = FS_CASCADE_HAAR;
    else if (text_equals(ft, "LBP"))
        c->type = FS_CASCADE_LBP;
    else
        return LFAIL(L, FS_ERR_UNSUPPORTED, "%s: featureType must be HAAR or LBP",
                       L->name), -1;
    if (read_int_field(L, root, "width", 3, FS_CASCADE_MAX_WINDOW, &c->win_w) ||
        read_int_field(L, root, "height", 3, FS_CASCADE_MAX_WINDOW, &c->win_h))
        return -1;
    xmlNode *fp = child(root, "featureParams");
    if (!fp) return LFAIL(L, FS_ERR_FORMAT, "%s: <featureParams> is missing", L->name), -1;
    if (read_int_field(L, fp, "maxCatCount", 0, FS_CASCADE_MAX_CATEGORIES, &c->categories))
        return -1;
    if ((c->type == FS_CASCADE_LBP) != (c->categories > 0))
        return LFAIL(L, FS_ERR_UNSUPPORTED, "%s: %s features with maxCatCount %d are not "
                       "supported", L->name, c->type == FS_CASCADE_LBP ? "LBP" : "HAAR",
                       c->categories), -1;
    if (c->type == FS_CASCADE_LBP && c->categories != 256)
        return LFAIL(L, FS_ERR_UNSUPPORTED, "%s: LBP codes have 256 values, not "
                       "maxCatCount %d", L->name, c->categories), -1;
    c->subset_words = (c->categories + 31) / 32;
    if (read_stages(L, root) || read_features(L, root)) return -1;
    for (int i = 0; i < c->node_count; i++)
        if (c->nodes[i].feature >= c->feature_count) {
            int si = 0;
            while (si + 1 < c->stage_count &&
                   c->trees[c->stages[si + 1].first_tree].first_node <= i)
                si++;
            return LFAIL(L, FS_ERR_FORMAT, "%s: stage %d uses feature %d but only %d "
                           "features are defined", L->name, si, c->nodes[i].feature,
                           c->feature_count), -1;
        }
    return 0;
}

/* libxml2 wants its global state set up once before threads parse concurrently. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

fs_err fs_cascade_parse(const char *xml, size_t len, const char *name, fs_cascade **out,
                        fs_msg *msg) {
    *out = NULL;
    pthread_once(&xml_once, xml_init);
    if (!name) name = "cascade";
    if (len > FS_CASCADE_MAX_BYTES || len > INT_MAX)
        return fs_fail(msg, FS_ERR_LIMIT, "%s: %zu bytes is more than the %zu accepted", name,
                       len, FS_CASCADE_MAX_BYTES);
    xmlParserCtxtPtr ctx = xmlNewParserCtxt();
    if (!ctx) return fs_fail(msg, FS_ERR_NOMEM, "%s: out of memory", name);
    xmlDocPtr doc = xmlCtxtReadMemory(ctx, xml, (int)len, name, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(ctx);
        fs_err err = fs_fail(msg, FS_ERR_FORMAT, "%s: malformed XML at line %d: %s", name,
                             e ? e->line : 0, e && e->message ? e->message : "parse error");
        /* libxml2's messages end with a newline */
        if (msg) {
            size_t l = strlen(msg->text);
            while (l && (msg->text[l - 1] == '\n')) msg->text[--l] = 0;
        }
        xmlFreeParserCtxt(ctx);
        return err;
    }
    xmlFreeParserCtxt(ctx);

    fs_cascade *c = calloc(1, sizeof *c);
    if (!c) {
        xmlFreeDoc(doc);
        return fs_fail(msg, FS_ERR_NOMEM, "%s: out of memory", name);
    }
    fs_msg local;
    loader L = {.name = name, .msg = msg ? msg : &local, .c = c};
    xmlNode *top = xmlDocGetRootElement(doc);
    xmlNode *root = first_element(top);
    int rc;
    if (!top || !root)
        rc = LFAIL(&L, FS_ERR_FORMAT, "%s: no cascade element under the root", name);
    else
        rc = read_cascade(&L, root);
    free(L.nums);
    xmlFreeDoc(doc);
    if (rc) {
        fs_cascade_free(c);
        assert(L.err != FS_OK);
        return L.err;
    }
    *out = c;
    return FS_OK;
}

fs_err fs_cascade_load(const char *path, fs_cascade **out, fs_msg *msg) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fs_err err = fs_read_file(path, FS_CASCADE_MAX_BYTES, &data, &len, msg);
    if (err) return err;
    err = fs_cascade_parse((const char *)data, len, path, out, msg);
    free(data);
    return err;
}

void fs_cascade_free(fs_cascade *c) {
    if (!c) return;
    free(c->stages);
    free(c->trees);
    free(c->nodes);
    free(c->leaves);
    free(c->subsets);
    free(c->haar);
    free(c->lbp);
    free(c);
}

fs_cascade_type fs_cascade_feature_type(const fs_cascade *c) { return c->type; }
int fs_cascade_window_w(const fs_cascade *c) { return c->win_w; }
int fs_cascade_window_h(const fs_cascade *c) { return c->win_h; }
int fs_cascade_stage_count(const fs_cascade *c) { return c->stage_count; }

/* ---- finding the files ---- */

static const char *const SEARCH_DIRS[] = {
    "/usr/share/opencv4/haarcascades", "/usr/share/opencv4/lbpcascades",
    "/usr/share/opencv/haarcascades",  "/usr/share/opencv/lbpcascades",
};

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int try_dir(const char *dir, const char *name, char *buf, size_t cap) {
    size_t nl = strlen(name);
    int has_ext = nl > 4 && !strcmp(name + nl - 4, ".xml");
    int w = snprintf(buf, cap, "%s/%s%s", dir, name, has_ext ? "" : ".xml");
    return w > 0 && (size_t)w < cap && is_file(buf);
}

fs_err fs_cascade_find(const char *name, char *buf, size_t cap, fs_msg *msg) {
    if (!name || !*name) {
        const char *env = getenv("FAKESCOPE_CASCADE");
        name = env && *env ? env : FS_CASCADE_DEFAULT_NAME;
    }
    if (is_file(name)) {
        if (strlen(name) >= cap) return fs_fail(msg, FS_ERR_LIMIT, "cascade path too long");
        strcpy(buf, name);
        return FS_OK;
    }
    if (strchr(name, '/'))
        return fs_fail(msg, FS_ERR_NOTFOUND, "cascade %s does not exist", name);
    const char *env = getenv("FAKESCOPE_CASCADE_DIR");
    if (env && *env && try_dir(env, name, buf, cap)) return FS_OK;
    for (size_t i = 0; i < sizeof SEARCH_DIRS / sizeof SEARCH_DIRS[0]; i++)
        if (try_dir(SEARCH_DIRS[i], name, buf, cap)) return FS_OK;
    return fs_fail(msg, FS_ERR_NOTFOUND,
                   "cascade %s not found in $FAKESCOPE_CASCADE_DIR or /usr/share/opencv4/"
                   "{haar,lbp}cascades (install Debian's opencv-data)", name);
}
