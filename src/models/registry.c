/* registry.c: the model library, built by scanning model folders for card + weights pairs.
 *
 * A registry is built once (at server start or per CLI run) and never changes afterwards, so
 * worker threads share it without locks. Scanning is forgiving: one broken or orphaned card is
 * skipped with a warning instead of hiding every other model, because a models/ folder is
 * edited by hand. Entries are sorted by name so listings are stable. */
#include "fakescope/card.h"

#include <dirent.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifndef FS_SOURCE_DIR
#define FS_SOURCE_DIR "."
#endif
#define REGISTRY_ENV "FAKESCOPE_MODELS"
#define REGISTRY_MAX_WARNINGS 256
#define PATH_CAP 4096

struct fs_registry {
    fs_model_entry *entries;
    size_t count, cap;
    char **warnings;
    size_t nwarnings;
    char **dirs;
    size_t ndirs;
};

void fs_registry_free(fs_registry *r) {
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) {
        fs_card_free(&r->entries[i].card);
        free(r->entries[i].card_path);
        free(r->entries[i].weights_path);
    }
    free(r->entries);
    for (size_t i = 0; i < r->nwarnings; i++) free(r->warnings[i]);
    free(r->warnings);
    for (size_t i = 0; i < r->ndirs; i++) free(r->dirs[i]);
    free(r->dirs);
    free(r);
}

size_t fs_registry_count(const fs_registry *r) { return r->count; }
const fs_model_entry *fs_registry_at(const fs_registry *r, size_t i) {
    return i < r->count ? &r->entries[i] : NULL;
}
size_t fs_registry_warning_count(const fs_registry *r) { return r->nwarnings; }
const char *fs_registry_warning(const fs_registry *r, size_t i) {
    return i < r->nwarnings ? r->warnings[i] : NULL;
}
size_t fs_registry_dir_count(const fs_registry *r) { return r->ndirs; }
const char *fs_registry_dir(const fs_registry *r, size_t i) {
    return i < r->ndirs ? r->dirs[i] : NULL;
}

const fs_model_entry *fs_registry_find(const fs_registry *r, const char *name_or_id) {
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->entries[i].card.name, name_or_id)) return &r->entries[i];
    for (size_t i = 0; i < r->count; i++)
        if (!strcasecmp(r->entries[i].card.id, name_or_id)) return &r->entries[i];
    return NULL;
}

/* Logs a warning and keeps it for callers that show or test them. */
static void warn(fs_registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(fs_registry *r, const char *fmt, ...) {
    char text[FS_MSG_MAX + PATH_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fs_log(FS_LOG_WARN, "models: %s", text);
    if (r->nwarnings >= REGISTRY_MAX_WARNINGS) return;
    char **w = realloc(r->warnings, (r->nwarnings + 1) * sizeof *w);
    if (!w) return;
    r->warnings = w;
    if ((w[r->nwarnings] = strdup(text))) r->nwarnings++;
}

static fs_err add_dir(fs_registry *r, const char *dir, fs_msg *msg) {
    if (r->ndirs >= FS_REGISTRY_MAX_DIRS)
        return fs_fail(msg, FS_ERR_LIMIT, "more than %d model folders", FS_REGISTRY_MAX_DIRS);
    char **d = realloc(r->dirs, (r->ndirs + 1) * sizeof *d);
    if (!d) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    r->dirs = d;
    if (!(d[r->ndirs] = strdup(dir))) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    r->ndirs++;
    return FS_OK;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A JSON file that names neither weights nor an architecture is some other document kept in
 * the folder (a data manifest, a training log), not a broken card: it is skipped quietly. So
 * is the card of a pretrained backbone ("kind": "backbone", `models import --arch
 * mobilenetv2`), a starting point for training, a landmark network ("kind": "landmarks",
 * `models import --arch landmark68`), which locates points and judges nothing, and any other
 * imported network that judges no faces ("kind": "face-detector", ...). */
static int looks_like_card(const char *path) {
    json_t *root = json_load_file(path, 0, NULL);
    json_t *kind = root ? json_object_get(root, "kind") : NULL;
    int card = !root || !json_is_object(root) || json_object_get(root, "weights") ||
               json_object_get(root, "architecture") || json_object_get(root, "sha256");
    /* a detector's card has no kind; backbones, face detectors and landmark networks do */
    if (json_is_string(kind) && strcmp(json_string_value(kind), "detector")) card = 0;
    json_decref(root);
    return card;
}

static void consider(fs_registry *r, const char *dir, const char *file) {
    char path[PATH_CAP], wpath[PATH_CAP];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        warn(r, "skipping %s/%s: path too long", dir, file);
        return;
    }
    if (!is_file(path) || !looks_like_card(path)) return;
    fs_card card;
    fs_msg m;
    if (fs_card_load(path, &card, &m)) {
        warn(r, "skipping card %s", m.text);
        return;
    }
    if (snprintf(wpath, sizeof wpath, "%s/%s", dir, card.weights) >= (int)sizeof wpath ||
        !is_file(wpath)) {
        warn(r, "skipping card %s: its weights file %s is missing", path, wpath);
        fs_card_free(&card);
        return;
    }
    for (size_t i = 0; i < r->count; i++) {
        const fs_card *o = &r->entries[i].card;
        if (!strcmp(o->name, card.name) || !strcasecmp(o->id, card.id)) {
            warn(r, "skipping card %s: its %s repeats that of %s", path,
                 strcmp(o->name, card.name) ? "id" : "name", r->entries[i].card_path);
            fs_card_free(&card);
            return;
        }
    }
    if (r->count >= FS_REGISTRY_MAX_MODELS) {
        warn(r, "skipping card %s: more than %d models", path, FS_REGISTRY_MAX_MODELS);
        fs_card_free(&card);
        return;
    }
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        fs_model_entry *e = realloc(r->entries, cap * sizeof *e);
        if (!e) {
            warn(r, "skipping card %s: out of memory", path);
            fs_card_free(&card);
            return;
        }
        r->entries = e;
        r->cap = cap;
    }
    fs_model_entry *e = &r->entries[r->count];
    e->card = card;
    e->card_path = strdup(path);
    e->weights_path = strdup(wpath);
    if (!e->card_path || !e->weights_path) {
        free(e->card_path);
        free(e->weights_path);
        fs_card_free(&e->card);
        warn(r, "skipping card %s: out of memory", path);
        return;
    }
    r->count++;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan(fs_registry *r, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        warn(r, "cannot read model folder %s", dir);
        return;
    }
    /* Read names first and sort them, so which of two clashing cards wins is predictable. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_string);
    for (size_t i = 0; i < n; i++) {
        consider(r, dir, names[i]);
        free(names[i]);
    }
    free(names);
}

static int by_name(const void *a, const void *b) {
    const fs_model_entry *x = a, *y = b;
    return strcmp(x->card.name, y->card.name);
}

fs_err fs_registry_open(const char *const *dirs, size_t ndirs, fs_registry **out, fs_msg *msg) {
    *out = NULL;
    fs_registry *r = calloc(1, sizeof *r);
    if (!r) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    fs_err err = FS_OK;
    if (dirs) {
        for (size_t i = 0; i < ndirs && !err; i++) {
            if (!is_dir(dirs[i]))
                err = fs_fail(msg, FS_ERR_NOTFOUND, "model folder %s does not exist", dirs[i]);
            else
                err = add_dir(r, dirs[i], msg);
        }
    } else {
        const char *env = getenv(REGISTRY_ENV);
        if (env) {
            char *copy = strdup(env), *save = NULL;
            if (!copy) err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            for (char *p = copy ? strtok_r(copy, ":", &save) : NULL; p && !err;
                 p = strtok_r(NULL, ":", &save)) {
                if (is_dir(p))
                    err = add_dir(r, p, msg);
                else
                    warn(r, "%s names %s, which is not a folder", REGISTRY_ENV, p);
            }
            free(copy);
        }
        if (!err && is_dir(FS_SOURCE_DIR "/models")) err = add_dir(r, FS_SOURCE_DIR "/models", msg);
    }
    for (size_t i = 0; i < r->ndirs && !err; i++) scan(r, r->dirs[i]);
    if (err) {
        fs_registry_free(r);
        return err;
    }
    if (r->count) qsort(r->entries, r->count, sizeof *r->entries, by_name);
    *out = r;
    return FS_OK;
}

fs_err fs_model_load_weights(const fs_model_entry *e, fs_weights *out, fs_msg *msg) {
    memset(out, 0, sizeof *out);
    char hex[FS_SHA256_HEX];
    fs_err err = fs_sha256_file(e->weights_path, hex, msg);
    if (err) return err;
    if (strcmp(hex, e->card.sha256))
        return fs_fail(msg, FS_ERR_FORMAT,
                       "%s: SHA-256 %s differs from %s in its card %s (file changed or replaced)",
                       e->weights_path, hex, e->card.sha256, e->card_path);
    err = fs_weights_load(e->weights_path, e->card.architecture, out, msg);
    if (err) fs_msg_prefix(msg, "model %s: ", e->card.name);
    return err;
}
