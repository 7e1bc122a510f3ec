/* dataset.c: turns labelled media folders into item lists a trainer and an evaluation can
 * agree on. Scanning walks each class folder once with readdir (file types from d_type, stat
 * only when the file system does not say), keeps media files by extension and sorts the result
 * by path, so the same folders always give the same list in the same order.
 *
 * Grouping is what keeps figures honest: many sets hold several files of one person or one
 * source video, and a split that puts a person's frames on both sides measures memory, not
 * detection. Each source set has a rule (chosen by its name) that names one or two identities
 * per file; identities that appear together (an FF++ fake A_B shows A's scene with B's face)
 * are joined with union-find, and a group is a connected component named by its smallest
 * identity. Splits hash the group, never the file, so all of a group lands on one side and a
 * group keeps its side when files are added. */
#include "fakescope/dataset.h"
#include "train/dataset_internal.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define SCAN_MAX_DEPTH 32      /* nested folders below a class folder; also stops link loops */
#define SCAN_PATH_MAX 4096
#define POOL_CHUNK (64 * 1024)
#define ID_MAX 256             /* longest identity a grouping rule produces */
#define SPLIT_SUM_TOLERANCE 1e-6

/* ---- string pool -------------------------------------------------------------------------- */

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
} pool_chunk;

struct fs_strpool {
    pool_chunk *head;
};

const char *fs_pool_strndup(fs_dataset *ds, const char *s, size_t n) {
    if (!ds->pool && !(ds->pool = calloc(1, sizeof *ds->pool))) return NULL;
    pool_chunk *c = ds->pool->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > POOL_CHUNK ? n + 1 : POOL_CHUNK;
        pool_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        ds->pool->head = c = nc;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

const char *fs_pool_strdup(fs_dataset *ds, const char *s) {
    return fs_pool_strndup(ds, s, strlen(s));
}

void fs_dataset_free(fs_dataset *ds) {
    if (!ds) return;
    if (ds->pool) {
        for (pool_chunk *c = ds->pool->head, *next; c; c = next) {
            next = c->next;
            free(c);
        }
        free(ds->pool);
    }
    free(ds->items);
    memset(ds, 0, sizeof *ds);
}

fs_err fs_dataset_push(fs_dataset *ds, const fs_item *item, fs_msg *msg) {
    if (ds->count == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 256;
        fs_item *p = realloc(ds->items, cap * sizeof *p);
        if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for %zu dataset items", cap);
        ds->items = p;
        ds->cap = cap;
    }
    ds->items[ds->count++] = *item;
    return FS_OK;
}

static int cmp_item_path(const void *a, const void *b) {
    return strcmp(((const fs_item *)a)->path, ((const fs_item *)b)->path);
}

void fs_dataset_sort(fs_dataset *ds) {
    if (ds->count > 1) qsort(ds->items, ds->count, sizeof *ds->items, cmp_item_path);
}

/* ---- names -------------------------------------------------------------------------------- */

const char *fs_split_name(fs_split s) {
    switch (s) {
    case FS_SPLIT_TRAIN: return "train";
    case FS_SPLIT_VAL: return "val";
    case FS_SPLIT_TEST: return "test";
    }
    return "?";
}

const char *fs_item_kind_name(fs_item_kind k) { return k == FS_ITEM_VIDEO ? "video" : "image"; }

int fs_class_label(const char *name) {
    static const struct { const char *name; int label; } classes[] = {
        {"real", 0}, {"fake", 1}, {"df", 1}, {"ai", 1},
    };
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strcasecmp(name, classes[i].name) == 0) return classes[i].label;
    return -1;
}

/* FS_ITEM_IMAGE / FS_ITEM_VIDEO by extension, or -1 for a file that is not media. */
static int media_kind(const char *name) {
    static const char *const images[] = {"jpg", "jpeg", "png", "webp"};
    static const char *const videos[] = {"mp4", "mov", "avi", "mkv", "webm"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return -1;
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        if (strcasecmp(dot + 1, images[i]) == 0) return FS_ITEM_IMAGE;
    for (size_t i = 0; i < sizeof videos / sizeof videos[0]; i++)
        if (strcasecmp(dot + 1, videos[i]) == 0) return FS_ITEM_VIDEO;
    return -1;
}

/* ---- scanning ----------------------------------------------------------------------------- */

typedef struct scan_ctx {
    fs_dataset *ds;
    const char *source; /* pooled */
    int label;
    /* folders on the current path, so a link back to an ancestor is not walked again */
    dev_t dev[SCAN_MAX_DEPTH + 2];
    ino_t ino[SCAN_MAX_DEPTH + 2];
    char path[SCAN_PATH_MAX];
} scan_ctx;

/* Entry type: 1 directory, 2 regular file, 0 other. Follows symbolic links. */
static int entry_type(const char *path, const struct dirent *e) {
    if (e->d_type == DT_DIR) return 1;
    if (e->d_type == DT_REG) return 2;
    if (e->d_type != DT_LNK && e->d_type != DT_UNKNOWN) return 0;
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 2 : 0;
}

/* Walks ctx->path (length len) recursively. Caller holds the path in ctx->path. */
static fs_err walk(scan_ctx *ctx, size_t len, int depth, fs_msg *msg) {
    if (depth > SCAN_MAX_DEPTH)
        return fs_fail(msg, FS_ERR_LIMIT, "%s: folders nested deeper than %d levels", ctx->path,
                       SCAN_MAX_DEPTH);
    struct stat st;
    if (stat(ctx->path, &st) != 0)
        return fs_fail(msg, FS_ERR_IO, "cannot read folder %s: %s", ctx->path, strerror(errno));
    for (int i = 0; i < depth; i++)
        if (ctx->dev[i] == st.st_dev && ctx->ino[i] == st.st_ino) return FS_OK; /* a link loop */
    ctx->dev[depth] = st.st_dev;
    ctx->ino[depth] = st.st_ino;
    DIR *d = opendir(ctx->path);
    if (!d) return fs_fail(msg, FS_ERR_IO, "cannot open folder %s: %s", ctx->path, strerror(errno));
    fs_err err = FS_OK;
    struct dirent *e;
    while (!err && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        size_t nl = strlen(e->d_name);
        if (len + 1 + nl >= sizeof ctx->path) {
            err = fs_fail(msg, FS_ERR_LIMIT, "path too long under %s", ctx->path);
            break;
        }
        ctx->path[len] = '/';
        memcpy(ctx->path + len + 1, e->d_name, nl + 1);
        int type = entry_type(ctx->path, e);
        if (type == 1) {
            err = walk(ctx, len + 1 + nl, depth + 1, msg);
        } else if (type == 2) {
            int kind = media_kind(e->d_name);
            if (kind >= 0) {
                fs_item it = {.source = ctx->source, .label = ctx->label,
                              .kind = (fs_item_kind)kind, .split = FS_SPLIT_TRAIN};
                it.path = fs_pool_strndup(ctx->ds, ctx->path, len + 1 + nl);
                err = it.path ? fs_dataset_push(ctx->ds, &it, msg)
                              : fs_fail(msg, FS_ERR_NOMEM, "out of memory for paths");
            }
        }
        ctx->path[len] = '\0';
    }
    closedir(d);
    return err;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

fs_err fs_dataset_scan(fs_dataset *ds, const char *folder, const char *source, fs_msg *msg) {
    assert(ds && folder);
    struct stat st;
    if (stat(folder, &st) != 0)
        return fs_fail(msg, errno == ENOENT ? FS_ERR_NOTFOUND : FS_ERR_IO,
                       "dataset folder %s: %s", folder, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fs_fail(msg, FS_ERR_INVALID, "dataset %s is not a folder", folder);

    /* Source name: given, or the folder's last component (trailing slashes ignored). */
    size_t flen = strlen(folder);
    while (flen > 1 && folder[flen - 1] == '/') flen--;
    char name[SCAN_PATH_MAX];
    if (!source) {
        size_t b = flen;
        while (b > 0 && folder[b - 1] != '/') b--;
        if (flen - b == 0 || flen - b >= sizeof name)
            return fs_fail(msg, FS_ERR_INVALID, "cannot name the source set of %s", folder);
        memcpy(name, folder + b, flen - b);
        name[flen - b] = '\0';
        source = name;
    }
    if (!*source || strchr(source, ':') || strpbrk(source, "\n\r,\""))
        return fs_fail(msg, FS_ERR_INVALID,
                       "source set name \"%s\" must be non-empty, without ':', ',', quotes or newlines",
                       source);
    for (size_t i = 0; i < ds->count; i++)
        if (strcmp(ds->items[i].source, source) == 0)
            return fs_fail(msg, FS_ERR_CONFLICT, "source set %s is already in the dataset", source);

    /* First level: class folders, listed and sorted so errors are reported deterministically. */
    DIR *d = opendir(folder);
    if (!d) return fs_fail(msg, FS_ERR_IO, "cannot open dataset folder %s: %s", folder, strerror(errno));
    char *classes[64];
    size_t nclasses = 0;
    fs_err err = FS_OK;
    struct dirent *e;
    scan_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        closedir(d);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory scanning %s", folder);
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int n = snprintf(ctx->path, sizeof ctx->path, "%.*s/%s", (int)flen, folder, e->d_name);
        if (n < 0 || (size_t)n >= sizeof ctx->path) continue;
        if (entry_type(ctx->path, e) != 1) continue; /* LICENSE, notes */
        if (fs_class_label(e->d_name) < 0) {
            err = fs_fail(msg, FS_ERR_FORMAT,
                          "%s: sub-folder \"%s\" names no class (expected real, fake, df or ai)",
                          folder, e->d_name);
            break;
        }
        if (nclasses == sizeof classes / sizeof classes[0]) {
            err = fs_fail(msg, FS_ERR_LIMIT, "%s: too many class folders", folder);
            break;
        }
        if (!(classes[nclasses] = strdup(e->d_name))) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory scanning %s", folder);
            break;
        }
        nclasses++;
    }
    closedir(d);
    qsort(classes, nclasses, sizeof classes[0], cmp_str);

    const size_t before = ds->count;
    if (!err) {
        ctx->ds = ds;
        ctx->source = fs_pool_strdup(ds, source);
        if (!ctx->source) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory scanning %s", folder);
    }
    for (size_t i = 0; !err && i < nclasses; i++) {
        ctx->label = fs_class_label(classes[i]);
        int n = snprintf(ctx->path, sizeof ctx->path, "%.*s/%s", (int)flen, folder, classes[i]);
        assert(n > 0 && (size_t)n < sizeof ctx->path);
        err = walk(ctx, (size_t)n, 0, msg);
    }
    if (!err && ds->count == before)
        err = fs_fail(msg, FS_ERR_FORMAT,
                      "%s holds no images or videos under real/, fake/, df/ or ai/", folder);
    if (!err) err = fs_dataset_assign_groups(ds, before, flen + 1, msg);
    if (err) ds->count = before; /* strings stay in the pool until the dataset is freed */
    for (size_t i = 0; i < nclasses; i++) free(classes[i]);
    free(ctx);
    if (!err) fs_dataset_sort(ds);
    return err;
}

/* ---- grouping rules ----------------------------------------------------------------------- */

typedef struct ids {
    char id[2][ID_MAX];
    int n;
} ids;

typedef void (*group_rule)(const char *rel, const char *parent, const char *stem, ids *out);

static int all_digits(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

static void set_id(ids *out, int i, const char *s, size_t n) {
    if (n >= ID_MAX) n = ID_MAX - 1;
    memcpy(out->id[i], s, n);
    out->id[i][n] = '\0';
}

static void rule_default(const char *rel, const char *parent, const char *stem, ids *out) {
    (void)rel;
    snprintf(out->id[0], ID_MAX, "%s/%s", parent, stem);
    out->n = 1;
}

/* One group per file: the path inside the set without its extension. */
static void rule_file(const char *rel, const char *parent, const char *stem, ids *out) {
    (void)parent, (void)stem;
    const char *dot = strrchr(rel, '.');
    set_id(out, 0, rel, dot ? (size_t)(dot - rel) : strlen(rel));
    out->n = 1;
}

/* MesoNet crops are named video_frame: the source video is the number before '_'. */
static void rule_mesonet(const char *rel, const char *parent, const char *stem, ids *out) {
    const char *us = strchr(stem, '_');
    if (us && all_digits(stem, (size_t)(us - stem))) {
        set_id(out, 0, stem, (size_t)(us - stem));
        out->n = 1;
    } else {
        rule_default(rel, parent, stem, out);
    }
}

/* RMFD crops are named N_N_person_NNNN: drop leading and trailing all-digit tokens. */
static void rule_rmfd(const char *rel, const char *parent, const char *stem, ids *out) {
    const char *b = stem, *e = stem + strlen(stem);
    for (;;) {
        const char *us = strchr(b, '_');
        if (!us || us >= e || !all_digits(b, (size_t)(us - b))) break;
        b = us + 1;
    }
    for (;;) {
        const char *us = e;
        while (us > b && us[-1] != '_') us--;
        if (us == b || !all_digits(us, (size_t)(e - us))) break;
        e = us - 1;
    }
    if (e > b && !all_digits(b, (size_t)(e - b))) {
        set_id(out, 0, b, (size_t)(e - b));
        out->n = 1;
    } else {
        rule_default(rel, parent, stem, out);
    }
}

/* Web faces carry no person names. The augmented_image_N files are rotated, flipped, cropped
 * and recoloured variants of a few dozen photos, in runs of nearby N whose boundaries the names
 * do not show (N does not match the photo N.jpg), so they form one group together; every other
 * file is its own group. */
static void rule_web(const char *rel, const char *parent, const char *stem, ids *out) {
    (void)rel, (void)parent;
    static const char prefix[] = "augmented_image_";
    const char *key = strncmp(stem, prefix, sizeof prefix - 1) == 0 ? "augmented" : stem;
    set_id(out, 0, key, strlen(key));
    out->n = 1;
}

/* WebMorph (Face Research Lab London) files are london_NNN_EE: person NNN, expression EE
 * (03 neutral, 08 smiling); both pictures of a person share a group. */
static void rule_webmorph(const char *rel, const char *parent, const char *stem, ids *out) {
    const char *a = strchr(stem, '_');
    const char *b = a ? strchr(a + 1, '_') : NULL;
    if (b && b > a + 1 && all_digits(a + 1, (size_t)(b - a - 1))) {
        set_id(out, 0, a + 1, (size_t)(b - a - 1));
        out->n = 1;
    } else {
        rule_default(rel, parent, stem, out);
    }
}

/* FaceForensics++: originals are N, fakes target_source (A_B), DeepFakeDetection actor clips
 * NN__scene. A pair's ids are joined by union-find so A, B, A_B and B_A share one group. */
static void rule_ffpp(const char *rel, const char *parent, const char *stem, ids *out) {
    size_t n = strlen(stem);
    const char *dd = strstr(stem, "__");
    const char *us = strchr(stem, '_');
    if (dd && all_digits(stem, (size_t)(dd - stem))) {
        snprintf(out->id[0], ID_MAX, "actor%.*s", (int)(dd - stem), stem);
        out->n = 1;
    } else if (all_digits(stem, n)) {
        set_id(out, 0, stem, n);
        out->n = 1;
    } else if (us && all_digits(stem, (size_t)(us - stem)) && all_digits(us + 1, strlen(us + 1))) {
        set_id(out, 0, stem, (size_t)(us - stem));
        set_id(out, 1, us + 1, strlen(us + 1));
        out->n = 2;
    } else {
        rule_default(rel, parent, stem, out);
    }
}

static const struct {
    const char *source; /* exact name, or a prefix when it ends in '*' */
    const char *rule_name;
    group_rule rule;
} RULES[] = {
    {"mesonet-real-faces", "mesonet-video", rule_mesonet},
    {"rmfd-real-faces", "rmfd-person", rule_rmfd},
    {"web-real-faces", "web-stem", rule_web},
    {"ffpp*", "ffpp-identity", rule_ffpp},
    {"hardfake-vs-real", "file", rule_file},
    {"basemax-fakefaces", "file", rule_file},
    {"sdfd-sd21-faces", "file", rule_file},
    {"webmorph-real-faces", "webmorph-person", rule_webmorph},
};

static int rule_index(const char *source) {
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        const char *r = RULES[i].source;
        size_t n = strlen(r);
        if (r[n - 1] == '*' ? strncmp(source, r, n - 1) == 0 : strcmp(source, r) == 0)
            return (int)i;
    }
    return -1;
}

const char *fs_dataset_group_rule(const char *source) {
    int i = rule_index(source);
    return i < 0 ? "default" : RULES[i].rule_name;
}

/* Identity order: numbers by value (shorter first, ignoring leading zeros is not needed for the
 * sets we know), then bytes; the smallest identity names a component. */
static int id_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (all_digits(a, la) && all_digits(b, lb) && la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* ---- union-find over identity strings ---- */

typedef struct id_table {
    char **keys;  /* open addressing, cap a power of two */
    int *slot_id; /* index of the identity in a slot */
    size_t cap, n;
    char **names; /* by identity index */
    int *parent;
} id_table;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int id_intern(id_table *t, const char *s) {
    size_t mask = t->cap - 1, i = (size_t)fnv1a(s) & mask;
    while (t->keys[i]) {
        if (strcmp(t->keys[i], s) == 0) return t->slot_id[i];
        i = (i + 1) & mask;
    }
    assert(t->n < t->cap / 2);
    char *copy = strdup(s);
    if (!copy) return -1;
    t->keys[i] = copy;
    t->slot_id[i] = (int)t->n;
    t->names[t->n] = copy;
    t->parent[t->n] = (int)t->n;
    return (int)t->n++;
}

static int uf_find(int *parent, int x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

/* Joins two components, keeping the smaller identity as the root so it names the group. */
static void uf_union(id_table *t, int a, int b) {
    a = uf_find(t->parent, a), b = uf_find(t->parent, b);
    if (a == b) return;
    if (id_cmp(t->names[a], t->names[b]) < 0) t->parent[b] = a;
    else t->parent[a] = b;
}

fs_err fs_dataset_assign_groups(fs_dataset *ds, size_t first, size_t prefix_len, fs_msg *msg) {
    const size_t n = ds->count - first;
    if (n == 0) return FS_OK;
    const char *source = ds->items[first].source;
    const int ri = rule_index(source);
    group_rule rule = ri < 0 ? rule_default : RULES[ri].rule;

    id_table t = {0};
    t.cap = 16;
    while (t.cap < 4 * n) t.cap *= 2; /* at most 2n identities, load <= 1/2 */
    t.keys = calloc(t.cap, sizeof *t.keys);
    t.slot_id = calloc(t.cap, sizeof *t.slot_id);
    t.names = calloc(2 * n, sizeof *t.names);
    t.parent = calloc(2 * n, sizeof *t.parent);
    int(*item_ids)[2] = calloc(n, sizeof *item_ids);
    ids *tmp = malloc(sizeof *tmp);
    fs_err err = FS_OK;
    if (!t.keys || !t.slot_id || !t.names || !t.parent || !item_ids || !tmp) {
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping %zu items", n);
        goto done;
    }
    for (size_t i = 0; i < n && !err; i++) {
        const char *path = ds->items[first + i].path;
        assert(strlen(path) > prefix_len);
        const char *rel = path + prefix_len;
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        const char *dot = strrchr(base, '.');
        char stem[ID_MAX], parent[ID_MAX];
        snprintf(stem, sizeof stem, "%.*s", (int)(dot ? dot - base : (ptrdiff_t)strlen(base)), base);
        const char *pe = base - 1, *pb = pe;
        while (pb > rel && pb[-1] != '/') pb--;
        snprintf(parent, sizeof parent, "%.*s", (int)(pe > rel ? pe - pb : 0), pb);
        memset(tmp, 0, sizeof *tmp);
        rule(rel, parent, stem, tmp);
        assert(tmp->n == 1 || tmp->n == 2);
        for (int k = 0; k < 2; k++) {
            item_ids[i][k] = id_intern(&t, tmp->id[k < tmp->n ? k : 0]);
            if (item_ids[i][k] < 0) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping");
        }
        if (!err) uf_union(&t, item_ids[i][0], item_ids[i][1]);
    }
    for (size_t i = 0; i < n && !err; i++) {
        const char *root = t.names[uf_find(t.parent, item_ids[i][0])];
        char key[2 * ID_MAX + SCAN_PATH_MAX];
        snprintf(key, sizeof key, "%s:%s", source, root);
        if (!(ds->items[first + i].group = fs_pool_strdup(ds, key)))
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory grouping");
    }
done:
    for (size_t i = 0; t.keys && i < t.cap; i++) free(t.keys[i]);
    free(t.keys);
    free(t.slot_id);
    free(t.names);
    free(t.parent);
    free(item_ids);
    free(tmp);
    return err;
}

/* ---- splitting ---------------------------------------------------------------------------- */

/* FF++ identities of the shared data README's suggested split. */
static const char *const FFPP_TRAIN_IDS[] = {"183", "253", "469", "481"};
static const char *const FFPP_HELD_OUT_IDS[] = {"585", "599", "672", "720"};
#define FFPP_LAST_TRAIN_ACTOR 9
/* ffpp-val moves one training pair and the last training actors to validation, so choices can
 * be made on FF++ videos without looking at the held-out ones. */
static const char *const FFPP_VAL_IDS[] = {"469", "481"};
#define FFPP_FIRST_VAL_ACTOR 8

/* Groups pinned to a split under every policy. web-real-faces' augmented variants come from
 * photos that are also in the set under other names: in test they would be near-copies of
 * training photos, so they are training material only. */
static const struct { const char *group; fs_split split; } PINNED[] = {
    {"web-real-faces:augmented", FS_SPLIT_TRAIN},
};

int fs_split_override(const char *policy, const char *group) {
    if (!group) return -1;
    for (size_t i = 0; i < sizeof PINNED / sizeof PINNED[0]; i++)
        if (strcmp(group, PINNED[i].group) == 0) return PINNED[i].split;
    const int val = policy && strcmp(policy, "ffpp-val") == 0;
    if (!policy || (strcmp(policy, "ffpp-suggested") != 0 && !val)) return -1;
    const char *colon = strchr(group, ':');
    if (!colon || strncmp(group, "ffpp", 4) != 0) return -1;
    const char *id = colon + 1;
    /* ffpp-val: the suggested split with a validation part cut from its training side */
    for (size_t i = 0; val && i < sizeof FFPP_VAL_IDS / sizeof FFPP_VAL_IDS[0]; i++)
        if (strcmp(id, FFPP_VAL_IDS[i]) == 0) return FS_SPLIT_VAL;
    if (val && strncmp(id, "actor", 5) == 0 && all_digits(id + 5, strlen(id + 5)) &&
        atoi(id + 5) >= FFPP_FIRST_VAL_ACTOR && atoi(id + 5) <= FFPP_LAST_TRAIN_ACTOR)
        return FS_SPLIT_VAL;
    for (size_t i = 0; i < sizeof FFPP_TRAIN_IDS / sizeof FFPP_TRAIN_IDS[0]; i++)
        if (strcmp(id, FFPP_TRAIN_IDS[i]) == 0) return FS_SPLIT_TRAIN;
    for (size_t i = 0; i < sizeof FFPP_HELD_OUT_IDS / sizeof FFPP_HELD_OUT_IDS[0]; i++)
        if (strcmp(id, FFPP_HELD_OUT_IDS[i]) == 0) return FS_SPLIT_TEST;
    if (strncmp(id, "actor", 5) == 0 && all_digits(id + 5, strlen(id + 5)))
        return atoi(id + 5) <= FFPP_LAST_TRAIN_ACTOR ? FS_SPLIT_TRAIN : FS_SPLIT_TEST;
    return -1;
}

fs_err fs_dataset_split(fs_dataset *ds, const fs_split_config *cfg, fs_msg *msg) {
    assert(ds && cfg);
    const double tr = cfg->train, va = cfg->val, te = cfg->test;
    if (!(tr >= 0 && va >= 0 && te >= 0) || fabs(tr + va + te - 1.0) > SPLIT_SUM_TOLERANCE)
        return fs_fail(msg, FS_ERR_INVALID,
                       "split fractions %g/%g/%g must be non-negative and sum to 1", tr, va, te);
    if (cfg->policy && strcmp(cfg->policy, "hash") != 0 &&
        strcmp(cfg->policy, "ffpp-suggested") != 0 && strcmp(cfg->policy, "ffpp-val") != 0)
        return fs_fail(msg, FS_ERR_INVALID,
                       "unknown split policy \"%s\" (known: hash, ffpp-suggested, ffpp-val)",
                       cfg->policy);
    for (size_t i = 0; i < ds->count; i++) {
        fs_item *it = &ds->items[i];
        int s = fs_split_override(cfg->policy, it->group);
        if (s < 0) {
            const uint64_t h = fs_seed_mix(cfg->seed, fnv1a(it->group));
            const double u = (double)(h >> 11) * 0x1.0p-53;
            s = u < tr ? FS_SPLIT_TRAIN : u < tr + va ? FS_SPLIT_VAL : FS_SPLIT_TEST;
            /* Rounding at the edge must not put a group into a split of fraction 0. */
            if (s == FS_SPLIT_TEST && te == 0) s = va > 0 ? FS_SPLIT_VAL : FS_SPLIT_TRAIN;
        }
        it->split = (fs_split)s;
    }
    return FS_OK;
}

/* ---- statistics --------------------------------------------------------------------------- */

static int cmp_group_then_split(const void *a, const void *b) {
    const fs_item *x = *(const fs_item *const *)a, *y = *(const fs_item *const *)b;
    int c = strcmp(x->group, y->group);
    return c ? c : (int)x->split - (int)y->split;
}

fs_err fs_dataset_stats_get(const fs_dataset *ds, fs_dataset_stats *st, fs_msg *msg) {
    memset(st, 0, sizeof *st);
    st->items = ds->count;
    if (ds->count == 0) return FS_OK;
    const fs_item **v = malloc(ds->count * sizeof *v);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for statistics");
    for (size_t i = 0; i < ds->count; i++) {
        const fs_item *it = &ds->items[i];
        v[i] = it;
        if (it->kind == FS_ITEM_VIDEO) st->videos++;
        else st->images++;
        st->by_split[it->split][it->label ? 1 : 0]++;
        if (i == 0 || strcmp(it->source, ds->items[i - 1].source) != 0) {
            int seen = 0; /* sources interleave after sorting by path only if names nest */
            for (size_t j = 0; j < i && !seen; j++) seen = strcmp(ds->items[j].source, it->source) == 0;
            if (!seen) st->sources++;
        }
    }
    qsort(v, ds->count, sizeof *v, cmp_group_then_split);
    for (size_t i = 0; i < ds->count; i++) {
        int new_group = i == 0 || strcmp(v[i]->group, v[i - 1]->group) != 0;
        if (new_group) st->groups++;
        if (new_group || v[i]->split != v[i - 1]->split) st->groups_by_split[v[i]->split]++;
    }
    free(v);
    return FS_OK;
}
