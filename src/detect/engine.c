/* engine.c: shared models and a pool of scanners for long-running processes.
 *
 * Each model is a reference-counted slot: the engine holds one reference while the model is
 * listed, each borrowed network or scanner holds one more. Removing a model drops the engine's
 * reference, so a running scan keeps its network alive and the last release frees it.
 * Idle scanners are kept per model set (the names joined by ','), so a hot path finds a scanner
 * with planned buffers and no loading. All state is behind one mutex, held only for list
 * work: weight loading and scanner creation happen outside it. */
#include "fakescope/engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/blazeface.h"
#include "fakescope/model.h"

#include <openssl/evp.h>

typedef struct model_slot {
    char name[FS_DETECT_NAME_MAX];
    char arch[32];
    const fs_model_entry *entry; /* registry model, or NULL */
    fs_net *net;                 /* NULL until loaded */
    int output_is_fake;
    char digest[17];             /* run-time models: 16 hex digits of their weights' SHA-256 */
    int refs;                    /* engine's listing + borrowers */
    int removed;
    struct model_slot *next;
} model_slot;

typedef struct pooled {
    char key[FS_DETECT_MAX_MODELS * FS_DETECT_NAME_MAX];
    fs_detector *det;
    fs_scanner *scanner;
    model_slot *models[FS_DETECT_MAX_MODELS];
    int n_models;
    struct pooled *next;
} pooled;

struct fs_engine {
    pthread_mutex_t lock;
    fs_registry *registry;
    fs_cascade *cascade;
    fs_weights bf_weights; /* the learned detector, read once; empty with the cascade */
    int use_bf;
    int threads;
    model_slot *models; /* listed and removed-but-borrowed slots */
    pooled *idle;
    int n_idle;
    pooled *busy;
    fs_engine_resolver resolve; /* set once, before requests: read without the lock */
    void *resolve_ctx;
};

/* Caller must hold the lock. Drops one reference; frees the slot at zero. */
static void slot_unref(fs_engine *e, model_slot *m) {
    if (--m->refs > 0) return;
    for (model_slot **p = &e->models; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    fs_net_free(m->net);
    free(m);
}

/* Caller must hold the lock. */
static model_slot *slot_find(fs_engine *e, const char *name) {
    for (model_slot *m = e->models; m; m = m->next)
        if (!m->removed && !strcmp(m->name, name)) return m;
    return NULL;
}

/* Caller must hold the lock. Adds a listed slot (refs = 1). */
static model_slot *slot_add(fs_engine *e, const char *name, const char *arch,
                            const fs_model_entry *entry, int output_is_fake) {
    model_slot *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->entry = entry;
    m->output_is_fake = output_is_fake;
    m->refs = 1;
    m->next = e->models;
    e->models = m;
    return m;
}

fs_err fs_engine_create(const fs_engine_config *cfg, fs_engine **out, fs_msg *msg) {
    *out = NULL;
    fs_engine *e = calloc(1, sizeof *e);
    if (!e) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&e->lock, NULL);
    e->threads = cfg && cfg->threads_per_scan > 0 ? cfg->threads_per_scan : 1;
    fs_err err = fs_registry_open(cfg ? cfg->model_dirs : NULL, cfg ? cfg->n_model_dirs : 0,
                                  &e->registry, msg);
    char path[4096];
    if (!err) err = fs_cascade_find(cfg ? cfg->cascade : NULL, path, sizeof path, msg);
    if (!err) err = fs_cascade_load(path, &e->cascade, msg);
    const char *fd = cfg && cfg->face_detector ? cfg->face_detector : "blazeface";
    if (!err && strcmp(fd, "blazeface") && strcmp(fd, "haar"))
        err = fs_fail(msg, FS_ERR_INVALID, "face detector '%s': blazeface or haar", fd);
    e->use_bf = !strcmp(fd, "blazeface");
    if (!err && e->use_bf) {
        /* read once; checked by building it once, so a broken file fails at start-up */
        fs_blazeface *probe = NULL;
        err = fs_blazeface_find(cfg ? cfg->face_model : NULL, path, sizeof path, msg);
        if (!err) err = fs_blazeface_load(path, &probe, msg);
        if (!err) err = fs_weights_load_safetensors(path, &e->bf_weights, msg);
        fs_blazeface_free(probe);
    }
    for (size_t i = 0; !err && i < fs_registry_count(e->registry); i++) {
        const fs_model_entry *en = fs_registry_at(e->registry, i);
        if (!slot_add(e, en->card.name, en->card.architecture, en,
                      fs_card_p_fake(&en->card, 1.0) > 0.5))
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    }
    if (err) {
        fs_engine_free(e);
        return err;
    }
    *out = e;
    return FS_OK;
}

static void pooled_free(fs_engine *e, pooled *p) {
    fs_scanner_free(p->scanner);
    fs_detector_free(p->det);
    for (int i = 0; i < p->n_models; i++) slot_unref(e, p->models[i]);
    free(p);
}

void fs_engine_free(fs_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->lock);
    while (e->idle) {
        pooled *p = e->idle;
        e->idle = p->next;
        pooled_free(e, p);
    }
    /* Scanners still out are a caller bug; free them rather than leak. */
    while (e->busy) {
        pooled *p = e->busy;
        e->busy = p->next;
        pooled_free(e, p);
    }
    while (e->models) {
        model_slot *m = e->models;
        e->models = m->next;
        fs_net_free(m->net);
        free(m);
    }
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_destroy(&e->lock);
    fs_cascade_free(e->cascade);
    fs_weights_free(&e->bf_weights);
    fs_registry_free(e->registry);
    free(e);
}

void fs_engine_set_resolver(fs_engine *e, fs_engine_resolver fn, void *ctx) {
    e->resolve = fn;
    e->resolve_ctx = ctx;
}

/* Caller must not hold the lock. Asks the resolver to add an unknown model; 1 when it did (or
 * another thread did meanwhile). */
static int resolve(fs_engine *e, const char *name) {
    if (!e->resolve) return 0;
    fs_msg m;
    fs_err err = e->resolve(e->resolve_ctx, e, name, 0, &m);
    return err == FS_OK || err == FS_ERR_CONFLICT;
}

/* Caller must not hold the lock. 0 when the resolver says a run-time model it knows was
 * deleted (through another node); the model is then removed here too. */
static int still_there(fs_engine *e, const char *name) {
    if (!e->resolve) return 1;
    fs_msg m;
    if (e->resolve(e->resolve_ctx, e, name, 1, &m) != FS_ERR_NOTFOUND) return 1;
    fs_engine_remove(e, name, &m);
    return 0;
}

const fs_registry *fs_engine_registry(const fs_engine *e) { return e->registry; }
const fs_cascade *fs_engine_cascade(const fs_engine *e) { return e->cascade; }
const char *fs_engine_face_detector(const fs_engine *e) { return e->use_bf ? "blazeface" : "haar"; }

fs_err fs_engine_lookup(fs_engine *e, const char *name, fs_engine_model *out, fs_msg *msg) {
    pthread_mutex_lock(&e->lock);
    model_slot *m = slot_find(e, name);
    if (!m) {
        /* A registry id also names its model. */
        const fs_model_entry *en = fs_registry_find(e->registry, name);
        if (en) m = slot_find(e, en->card.name);
    }
    if (!m) {
        pthread_mutex_unlock(&e->lock);
        int added = resolve(e, name);
        pthread_mutex_lock(&e->lock);
        if (added) m = slot_find(e, name);
    } else if (!m->entry && e->resolve) {
        /* A run-time model may have been deleted through another node sharing the store:
         * requests name their models through this lookup, so it asks before each use. */
        char own[FS_DETECT_NAME_MAX];
        snprintf(own, sizeof own, "%s", m->name);
        pthread_mutex_unlock(&e->lock);
        int there = still_there(e, own);
        pthread_mutex_lock(&e->lock);
        m = there ? slot_find(e, own) : NULL;
    }
    if (m) {
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", m->name);
        snprintf(out->arch, sizeof out->arch, "%s", m->arch);
        out->output_is_fake = m->output_is_fake;
        out->entry = m->entry;
        memcpy(out->digest, m->digest, sizeof out->digest);
    }
    pthread_mutex_unlock(&e->lock);
    return m ? FS_OK : fs_fail(msg, FS_ERR_NOTFOUND, "no model named '%s'", name);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fs_err fs_engine_names(fs_engine *e, char ***names, size_t *n, fs_msg *msg) {
    pthread_mutex_lock(&e->lock);
    size_t count = 0;
    for (model_slot *m = e->models; m; m = m->next) count += !m->removed;
    /* One block: the pointer array, then the strings. */
    char **arr = malloc(count * (sizeof *arr + FS_DETECT_NAME_MAX) + 1);
    if (arr) {
        char *text = (char *)(arr + count);
        size_t i = 0;
        for (model_slot *m = e->models; m; m = m->next) {
            if (m->removed) continue;
            arr[i] = text + i * FS_DETECT_NAME_MAX;
            snprintf(arr[i], FS_DETECT_NAME_MAX, "%s", m->name);
            i++;
        }
        qsort(arr, count, sizeof *arr, cmp_str);
    }
    pthread_mutex_unlock(&e->lock);
    if (!arr) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    *names = arr;
    *n = count;
    return FS_OK;
}

/* 16 hex digits of the SHA-256 of every tensor's name, shape and values, in order: what a
 * run-time model is, whatever it is called ("" if hashing fails). */
static void weights_digest(const fs_weights *w, char out[17]) {
    out[0] = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < w->count; i++) {
        const fs_weight *t = &w->items[i];
        ok = EVP_DigestUpdate(c, t->name, strlen(t->name) + 1) == 1 &&
             EVP_DigestUpdate(c, t->shape, sizeof t->shape[0] * (size_t)t->ndim) == 1 &&
             EVP_DigestUpdate(c, t->data, sizeof t->data[0] * (size_t)t->count) == 1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (ok && EVP_DigestFinal_ex(c, md, &len) == 1 && len >= 8)
        for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
}

fs_err fs_engine_add(fs_engine *e, const char *name, const fs_weights *w, const char *arch,
                     int output_is_fake, fs_msg *msg) {
    if (!name || !*name || strlen(name) >= FS_DETECT_NAME_MAX)
        return fs_fail(msg, FS_ERR_INVALID, "model names have 1 to %d characters",
                       FS_DETECT_NAME_MAX - 1);
    fs_net *net = NULL;
    fs_err err = fs_net_create(w, arch, &net, msg);
    if (err) return err;
    char digest[17];
    weights_digest(w, digest);
    pthread_mutex_lock(&e->lock);
    model_slot *m = NULL;
    if (slot_find(e, name))
        err = fs_fail(msg, FS_ERR_CONFLICT, "a model named '%s' exists", name);
    else if (!(m = slot_add(e, name, fs_net_arch(net)->name, NULL, output_is_fake)))
        err = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    else {
        m->net = net;
        memcpy(m->digest, digest, sizeof digest);
    }
    pthread_mutex_unlock(&e->lock);
    if (err) fs_net_free(net);
    return err;
}

fs_err fs_engine_remove(fs_engine *e, const char *name, fs_msg *msg) {
    pthread_mutex_lock(&e->lock);
    fs_err err = FS_OK;
    model_slot *m = slot_find(e, name);
    if (!m)
        err = fs_fail(msg, FS_ERR_NOTFOUND, "no model named '%s'", name);
    else if (m->entry)
        err = fs_fail(msg, FS_ERR_INVALID, "'%s' comes from a model folder and stays", name);
    else {
        m->removed = 1;
        /* Idle scanners on it will never be handed out again. */
        for (pooled **p = &e->idle; *p;) {
            int uses = 0;
            for (int i = 0; i < (*p)->n_models; i++) uses |= (*p)->models[i] == m;
            if (uses) {
                pooled *dead = *p;
                *p = dead->next;
                e->n_idle--;
                pooled_free(e, dead);
            } else {
                p = &(*p)->next;
            }
        }
        slot_unref(e, m);
    }
    pthread_mutex_unlock(&e->lock);
    return err;
}

/* Takes a reference on the named slot and makes sure its network is loaded. */
static fs_err slot_acquire(fs_engine *e, const char *name, model_slot **out, fs_msg *msg) {
    pthread_mutex_lock(&e->lock);
    model_slot *m = slot_find(e, name);
    if (!m) {
        const fs_model_entry *en = fs_registry_find(e->registry, name);
        if (en) m = slot_find(e, en->card.name);
    }
    if (!m) {
        pthread_mutex_unlock(&e->lock);
        int added = resolve(e, name);
        pthread_mutex_lock(&e->lock);
        if (added) m = slot_find(e, name);
    }
    if (m) m->refs++;
    int loaded = m && m->net;
    pthread_mutex_unlock(&e->lock);
    if (!m) return fs_fail(msg, FS_ERR_NOTFOUND, "no model named '%s'", name);
    if (!loaded) {
        /* Load outside the lock; if two threads race, the first to store wins. */
        fs_weights w = {0};
        fs_net *net = NULL;
        fs_err err = fs_model_load_weights(m->entry, &w, msg);
        if (!err) err = fs_net_create(&w, m->entry->card.architecture, &net, msg);
        fs_weights_free(&w);
        pthread_mutex_lock(&e->lock);
        if (!err && !m->net)
            m->net = net;
        else
            fs_net_free(net);
        if (err) slot_unref(e, m);
        pthread_mutex_unlock(&e->lock);
        if (err) {
            fs_msg_prefix(msg, "model %s: ", name);
            return err;
        }
    }
    *out = m;
    return FS_OK;
}

fs_err fs_engine_net(fs_engine *e, const char *name, const fs_net **net, fs_msg *msg) {
    model_slot *m = NULL;
    fs_err err = slot_acquire(e, name, &m, msg);
    if (err) return err;
    *net = m->net;
    return FS_OK;
}

void fs_engine_net_release(fs_engine *e, const fs_net *net) {
    pthread_mutex_lock(&e->lock);
    for (model_slot *m = e->models; m; m = m->next)
        if (m->net == net) {
            slot_unref(e, m);
            break;
        }
    pthread_mutex_unlock(&e->lock);
}

fs_err fs_engine_acquire(fs_engine *e, const char *const *names, int n, fs_scanner **out,
                         fs_msg *msg) {
    *out = NULL;
    if (n < 1 || n > FS_DETECT_MAX_MODELS)
        return fs_fail(msg, FS_ERR_INVALID, "1 to %d models per scan", FS_DETECT_MAX_MODELS);
    char key[sizeof ((pooled *)0)->key] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(key + used, sizeof key - used, "%s%s", i ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof key - used)
            return fs_fail(msg, FS_ERR_INVALID, "model names too long");
        used += (size_t)w;
    }
    pthread_mutex_lock(&e->lock);
    for (pooled **p = &e->idle; *p; p = &(*p)->next)
        if (!strcmp((*p)->key, key)) {
            pooled *hit = *p;
            *p = hit->next;
            e->n_idle--;
            hit->next = e->busy;
            e->busy = hit;
            pthread_mutex_unlock(&e->lock);
            *out = hit->scanner;
            return FS_OK;
        }
    pthread_mutex_unlock(&e->lock);

    pooled *p = calloc(1, sizeof *p);
    if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    snprintf(p->key, sizeof p->key, "%s", key);
    fs_err err = fs_detector_create(&p->det, msg);
    for (int i = 0; !err && i < n; i++) {
        model_slot *m = NULL;
        err = slot_acquire(e, names[i], &m, msg);
        if (err) break;
        p->models[p->n_models++] = m;
        err = fs_detector_add_net(p->det, m->name, m->net, m->output_is_fake, msg);
        if (!err && m->entry) fs_detector_set_card(p->det, p->n_models - 1, &m->entry->card);
    }
    if (!err) {
        fs_detector_set_cascade(p->det, e->cascade);
        if (e->use_bf) {
            fs_blazeface *bf = NULL;
            err = fs_blazeface_from_weights(&e->bf_weights, &bf, msg);
            if (!err) fs_detector_set_blazeface(p->det, bf, 1);
        }
    }
    if (!err) {
        err = fs_scanner_create(p->det, e->threads, &p->scanner, msg);
    }
    pthread_mutex_lock(&e->lock);
    if (err) {
        pooled_free(e, p);
    } else {
        p->next = e->busy;
        e->busy = p;
    }
    pthread_mutex_unlock(&e->lock);
    if (!err) *out = p->scanner;
    return err;
}

void fs_engine_release(fs_engine *e, fs_scanner *s) {
    if (!s) return;
    pthread_mutex_lock(&e->lock);
    for (pooled **p = &e->busy; *p; p = &(*p)->next) {
        if ((*p)->scanner != s) continue;
        pooled *done = *p;
        *p = done->next;
        int stale = 0;
        for (int i = 0; i < done->n_models; i++) stale |= done->models[i]->removed;
        if (stale || e->n_idle >= FS_ENGINE_MAX_IDLE) {
            pooled_free(e, done);
        } else {
            done->next = e->idle;
            e->idle = done;
            e->n_idle++;
        }
        break;
    }
    pthread_mutex_unlock(&e->lock);
}
