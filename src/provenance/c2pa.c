/* c2pa.c: reads a C2PA manifest store and validates it (include/fakescope/provenance.h).
 *
 * The store is a JUMBF superbox labelled "c2pa" whose children are manifests in order; the
 * last one is the active manifest, the others are normally the manifests of its ingredients.
 * Each manifest holds an assertion store ("c2pa.assertions"), a claim ("c2pa.claim" or
 * "c2pa.claim.v2", CBOR) and a claim signature ("c2pa.signature", COSE_Sign1). The claim lists
 * its assertions as hashed URIs; the hash of an assertion covers its superbox without the
 * superbox's own 8-byte header (description and content boxes). The hard binding of the
 * active manifest (c2pa.hash.data) hashes the file's bytes outside its exclusion ranges.
 *
 * Every manifest is validated on its own (signature, trust, assertion hashes); the hard
 * binding only for the active manifest, since the other manifests describe other files.
 * The outcomes are kept per manifest as specification status codes; a manifest is invalid
 * when any of its codes is a failure. */
#include "provenance/prov_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fakescope/jumbf.h"

#define BOX_CBOR FS_JUMBF_TYPE('c', 'b', 'o', 'r')
#define BOX_JSON FS_JUMBF_TYPE('j', 's', 'o', 'n')
#define MAX_EXCLUSIONS 1024
#define MAX_ACTIONS 256
#define MAX_INGREDIENTS 256
#define HINT_VALUE_MAX 512

static char *dupn(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* The item at index i, or NULL for FS_CBOR_NONE. */
static const fs_cbor_item *item_at(const fs_cbor_doc *d, uint32_t i) {
    return i != FS_CBOR_NONE && i < d->n ? &d->items[i] : NULL;
}

static char *dup_text(const fs_cbor_doc *d, uint32_t i) {
    if (i == FS_CBOR_NONE || FS_CBOR_AT(d, i)->type != FS_CBOR_TEXT) return NULL;
    return dupn(FS_CBOR_AT(d, i)->str, FS_CBOR_AT(d, i)->len);
}

/* Appends a status to m; allocation failures drop the status (and are reported by nomem). */
typedef struct ctx {
    const uint8_t *file;
    size_t file_len;
    const fs_jumbf_tree *tree;
    const fs_prov_options *opts;
    int nomem;
} ctx;

__attribute__((format(printf, 6, 7))) static void add_status(ctx *c, fs_prov_manifest *m,
                                                             const char *code, fs_prov_kind kind,
                                                             const char *url, const char *fmt, ...) {
    fs_prov_status *s = realloc(m->status, (m->n_status + 1) * sizeof *s);
    if (!s) {
        c->nomem = 1;
        return;
    }
    m->status = s;
    s = &m->status[m->n_status];
    memset(s, 0, sizeof *s);
    s->code = strdup(code);
    s->kind = kind;
    s->url = url ? strdup(url) : NULL;
    if (fmt) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        s->explanation = strdup(buf);
    }
    if (!s->code) {
        free(s->url), free(s->explanation);
        c->nomem = 1;
        return;
    }
    m->n_status++;
}

static int has_code(const fs_prov_manifest *m, const char *code) {
    for (size_t i = 0; i < m->n_status; i++)
        if (!strcmp(m->status[i].code, code)) return 1;
    return 0;
}

static const EVP_MD *hash_md(const char *alg) {
    if (!strcmp(alg, "sha256")) return EVP_sha256();
    if (!strcmp(alg, "sha384")) return EVP_sha384();
    if (!strcmp(alg, "sha512")) return EVP_sha512();
    return NULL;
}

/* 1 when the digest of p matches want, 0 when not, -1 when the algorithm is unknown. */
static int hash_matches(const char *alg, const uint8_t *p, size_t n, const fs_cbor_item *want) {
    const EVP_MD *md = hash_md(alg);
    if (!md) return -1;
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int gl = 0;
    if (EVP_Digest(p, n, got, &gl, md, NULL) != 1) return 0;
    return want && want->type == FS_CBOR_BYTES && want->len == gl && !memcmp(want->str, got, gl);
}

/* "self#jumbf=PATH" -> PATH; NULL for other URIs. */
static const char *jumbf_path(const char *url) {
    static const char pre[] = "self#jumbf=";
    return strncmp(url, pre, sizeof pre - 1) == 0 ? url + sizeof pre - 1 : NULL;
}

static void absolute_url(const ctx *c, uint32_t box, char *out, size_t cap) {
    /* /c2pa/<manifest>/c2pa.assertions/<label> from the box up to the root */
    const char *parts[8];
    int n = 0;
    for (uint32_t b = box; b != FS_JUMBF_NONE && n < 8; b = c->tree->boxes[b].parent)
        parts[n++] = c->tree->boxes[b].label;
    size_t o = (size_t)snprintf(out, cap, "self#jumbf=");
    for (int i = n - 1; i >= 0 && o < cap; i--) o += (size_t)snprintf(out + o, cap - o, "/%s", parts[i]);
}

/* The CBOR content of assertion superbox `box`, parsed into d. 0 on success. */
static int assertion_cbor(const ctx *c, uint32_t box, fs_cbor_doc *d) {
    uint32_t cb = fs_jumbf_content(c->tree, box, BOX_CBOR);
    if (cb == FS_JUMBF_NONE) return -1;
    const fs_jumbf_box *b = &c->tree->boxes[cb];
    return fs_cbor_parse(b->payload, b->payload_len, NULL, d, NULL) == FS_OK ? 0 : -1;
}

static void read_actions(ctx *c, fs_prov_manifest *m, uint32_t box) {
    fs_cbor_doc d;
    if (assertion_cbor(c, box, &d)) return;
    uint32_t arr = fs_cbor_map_get(&d, 0, "actions");
    if (arr != FS_CBOR_NONE && FS_CBOR_AT(&d, arr)->type == FS_CBOR_ARRAY) {
        for (uint32_t a = FS_CBOR_AT(&d, arr)->first; a != FS_CBOR_NONE && m->n_actions < MAX_ACTIONS;
             a = FS_CBOR_AT(&d, a)->next) {
            fs_prov_action *acts = realloc(m->actions, (m->n_actions + 1) * sizeof *acts);
            if (!acts) {
                c->nomem = 1;
                break;
            }
            m->actions = acts;
            fs_prov_action *x = &acts[m->n_actions++];
            x->action = dup_text(&d, fs_cbor_map_get(&d, a, "action"));
            x->digital_source_type = dup_text(&d, fs_cbor_map_get(&d, a, "digitalSourceType"));
            uint32_t sa = fs_cbor_map_get(&d, a, "softwareAgent");
            if (sa != FS_CBOR_NONE && FS_CBOR_AT(&d, sa)->type == FS_CBOR_MAP) sa = fs_cbor_map_get(&d, sa, "name");
            x->software_agent = dup_text(&d, sa);
        }
    }
    fs_cbor_doc_free(&d);
}

static void read_ingredient(ctx *c, fs_prov_manifest *m, uint32_t box, const char *claim_alg) {
    if (m->n_ingredients >= MAX_INGREDIENTS) return;
    fs_cbor_doc d;
    if (assertion_cbor(c, box, &d)) return;
    fs_prov_ingredient *ings = realloc(m->ingredients, (m->n_ingredients + 1) * sizeof *ings);
    if (!ings) {
        c->nomem = 1;
        fs_cbor_doc_free(&d);
        return;
    }
    m->ingredients = ings;
    fs_prov_ingredient *g = &ings[m->n_ingredients++];
    memset(g, 0, sizeof *g);
    g->title = dup_text(&d, fs_cbor_map_get(&d, 0, "dc:title"));
    g->format = dup_text(&d, fs_cbor_map_get(&d, 0, "dc:format"));
    g->relationship = dup_text(&d, fs_cbor_map_get(&d, 0, "relationship"));
    uint32_t ref = fs_cbor_map_get(&d, 0, "activeManifest"); /* v3 */
    if (ref == FS_CBOR_NONE) ref = fs_cbor_map_get(&d, 0, "c2pa_manifest");
    char url[512], alg[16];
    fs_cbor_text(&d, fs_cbor_map_get(&d, ref, "url"), url, sizeof url);
    const char *path = jumbf_path(url);
    char assertion_url[600];
    absolute_url(c, box, assertion_url, sizeof assertion_url);
    if (ref != FS_CBOR_NONE && path) {
        /* "/c2pa/<manifest>[/c2pa.claim...]": the manifest is the part after the root */
        uint32_t target = fs_jumbf_resolve(c->tree, 0, path);
        const char *lab = path[0] == '/' ? strchr(path + 1, '/') : NULL;
        lab = lab ? lab + 1 : path;
        size_t ll = strcspn(lab, "/");
        g->manifest = dupn(lab, ll);
        uint32_t mb = FS_JUMBF_NONE;
        for (uint32_t b = c->tree->boxes[0].first; g->manifest && b != FS_JUMBF_NONE; b = c->tree->boxes[b].next)
            if (c->tree->boxes[b].is_super && !strcmp(c->tree->boxes[b].label, g->manifest)) mb = b;
        if (mb == FS_JUMBF_NONE || target == FS_JUMBF_NONE) {
            add_status(c, m, "ingredient.manifest.missing", FS_PROV_FAILURE, assertion_url,
                       "the ingredient's manifest %s is not in the store", url);
        } else {
            g->manifest_found = 1;
            fs_cbor_text(&d, fs_cbor_map_get(&d, ref, "alg"), alg, sizeof alg);
            const fs_jumbf_box *b = &c->tree->boxes[mb];
            const fs_cbor_item *want = item_at(&d, fs_cbor_map_get(&d, ref, "hash"));
            const char *use = alg[0] ? alg : claim_alg;
            /* the manifest's superbox without its header (also when the URI names its claim) */
            int ok = hash_matches(use, b->payload, b->payload_len, want);
            if (ok != 1) { /* 1.0 ingredients hashed the ingredient's claim bytes */
                uint32_t cl = fs_jumbf_child(c->tree, mb, "c2pa.claim");
                uint32_t cb = cl == FS_JUMBF_NONE ? FS_JUMBF_NONE : fs_jumbf_content(c->tree, cl, BOX_CBOR);
                if (cb != FS_JUMBF_NONE &&
                    hash_matches(use, c->tree->boxes[cb].payload, c->tree->boxes[cb].payload_len, want) == 1)
                    ok = 2;
            }
            if (ok >= 1)
                add_status(c, m, "ingredient.hashedURI.match", FS_PROV_SUCCESS, assertion_url,
                           "ingredient manifest hash matched%s: %s", ok == 2 ? " (1.0 claim hashing)" : "", url);
            else
                add_status(c, m, "ingredient.hashedURI.mismatch", FS_PROV_INFO, assertion_url,
                           "ingredient manifest hash does not match: %s", url);
        }
    }
    fs_cbor_doc_free(&d);
}

typedef struct range {
    uint64_t start, len;
} range;

static int range_cmp(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* A hard binding's URL and parsed CBOR; -1 (with the malformed status `code`) when unreadable. */
static int binding_cbor(ctx *c, fs_prov_manifest *m, uint32_t box, const char *code, const char *what,
                        char *url, size_t cap, fs_cbor_doc *d) {
    absolute_url(c, box, url, cap);
    if (!assertion_cbor(c, box, d)) return 0;
    add_status(c, m, code, FS_PROV_FAILURE, url, "%s is not readable CBOR", what);
    return -1;
}

/* c2pa.hash.data against the file. */
static void check_data_hash(ctx *c, fs_prov_manifest *m, uint32_t box, const char *claim_alg) {
    char url[600];
    fs_cbor_doc d;
    if (binding_cbor(c, m, box, "assertion.dataHash.malformed", "data hash", url, sizeof url, &d)) return;
    char alg[16];
    fs_cbor_text(&d, fs_cbor_map_get(&d, 0, "alg"), alg, sizeof alg);
    const EVP_MD *md = hash_md(alg[0] ? alg : claim_alg);
    const fs_cbor_item *want = NULL;
    want = item_at(&d, fs_cbor_map_get(&d, 0, "hash"));
    range ex[MAX_EXCLUSIONS];
    size_t n = 0;
    int malformed = !want || want->type != FS_CBOR_BYTES;
    uint32_t exs = fs_cbor_map_get(&d, 0, "exclusions");
    if (exs != FS_CBOR_NONE) {
        if (FS_CBOR_AT(&d, exs)->type != FS_CBOR_ARRAY || FS_CBOR_AT(&d, exs)->count > MAX_EXCLUSIONS) malformed = 1;
        else
            for (uint32_t e = FS_CBOR_AT(&d, exs)->first; e != FS_CBOR_NONE; e = FS_CBOR_AT(&d, e)->next) {
                int64_t s, l;
                if (fs_cbor_int(&d, fs_cbor_map_get(&d, e, "start"), &s) || fs_cbor_int(&d, fs_cbor_map_get(&d, e, "length"), &l) ||
                    s < 0 || l < 0) {
                    malformed = 1;
                    break;
                }
                ex[n].start = (uint64_t)s, ex[n].len = (uint64_t)l, n++;
            }
    }
    if (!md) {
        add_status(c, m, "algorithm.unsupported", FS_PROV_FAILURE, url, "data hash algorithm '%s' is not supported",
                   alg[0] ? alg : claim_alg);
        fs_cbor_doc_free(&d);
        return;
    }
    if (malformed) {
        add_status(c, m, "assertion.dataHash.malformed", FS_PROV_FAILURE, url, "data hash without a hash or with bad exclusions");
        fs_cbor_doc_free(&d);
        return;
    }
    qsort(ex, n, sizeof ex[0], range_cmp);
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    int ok = h && EVP_DigestInit_ex(h, md, NULL) == 1;
    uint64_t pos = 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (ex[i].start > c->file_len || ex[i].len > c->file_len - ex[i].start || ex[i].start < pos) {
            ok = 0;
            break;
        }
        ok = EVP_DigestUpdate(h, c->file + pos, (size_t)(ex[i].start - pos)) == 1;
        pos = ex[i].start + ex[i].len;
    }
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int gl = 0;
    if (ok) ok = EVP_DigestUpdate(h, c->file + pos, (size_t)(c->file_len - pos)) == 1 && EVP_DigestFinal_ex(h, got, &gl) == 1;
    EVP_MD_CTX_free(h);
    if (ok && gl == want->len && !memcmp(got, want->str, gl))
        add_status(c, m, "assertion.dataHash.match", FS_PROV_SUCCESS, url, "data hash valid");
    else
        add_status(c, m, "assertion.dataHash.mismatch", FS_PROV_FAILURE, url,
                   "the file's bytes do not match the signed data hash");
    fs_cbor_doc_free(&d);
}

/* Digest of [start, start + len) of the file with md; 0 on success. */
static int digest_range(const ctx *c, const EVP_MD *md, uint64_t start, uint64_t len, unsigned char *out,
                        unsigned int *out_len) {
    if (start > c->file_len || len > c->file_len - start) return -1;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    int ok = h && EVP_DigestInit_ex(h, md, NULL) == 1 && EVP_DigestUpdate(h, c->file + start, (size_t)len) == 1 &&
             EVP_DigestFinal_ex(h, out, out_len) == 1;
    EVP_MD_CTX_free(h);
    return ok ? 0 : -1;
}

/* c2pa.hash.boxes: the asserted boxes, in order, each naming one or more consecutive boxes of
 * the file (boxes.c) and hashing their span, unless it is the "C2PA" box or marked excluded.
 * As the reference SDK: a PNG's signature box may be left out of the list. Beyond it: every
 * box of the file must be listed, so nothing can be appended after the last hashed box. */
static void check_box_hash(ctx *c, fs_prov_manifest *m, uint32_t box, const char *claim_alg) {
    char url[600];
    fs_cbor_doc d;
    if (binding_cbor(c, m, box, "assertion.boxesHash.malformed", "box hash", url, sizeof url, &d)) return;
    uint32_t boxes = fs_cbor_map_get(&d, 0, "boxes");
    prov_box *src = NULL;
    size_t ns = 0;
    fs_msg msg;
    if (boxes == FS_CBOR_NONE || FS_CBOR_AT(&d, boxes)->type != FS_CBOR_ARRAY || FS_CBOR_AT(&d, boxes)->count == 0) {
        add_status(c, m, "assertion.boxesHash.malformed", FS_PROV_FAILURE, url, "box hash without a list of boxes");
        goto done;
    }
    fs_err e = prov_box_map(c->file, c->file_len, &src, &ns, &msg);
    if (e == FS_ERR_NOMEM) {
        c->nomem = 1;
        goto done;
    }
    if (e) {
        add_status(c, m, "assertion.boxesHash.mismatch", FS_PROV_FAILURE, url, "%s", msg.text);
        goto done;
    }
    size_t si = 0;
    uint32_t b0 = FS_CBOR_AT(&d, boxes)->first;
    uint32_t names0 = fs_cbor_map_get(&d, b0, "names");
    if (ns && !strcmp(src[0].name, "PNGh") && names0 != FS_CBOR_NONE && FS_CBOR_AT(&d, names0)->type == FS_CBOR_ARRAY &&
        !fs_cbor_text_is(&d, fs_cbor_array_at(&d, names0, 0), "PNGh"))
        si = 1;
    for (uint32_t b = b0; b != FS_CBOR_NONE; b = FS_CBOR_AT(&d, b)->next) {
        uint32_t names = fs_cbor_map_get(&d, b, "names");
        const fs_cbor_item *want = item_at(&d, fs_cbor_map_get(&d, b, "hash"));
        uint32_t exv = fs_cbor_map_get(&d, b, "excluded");
        int excluded = exv != FS_CBOR_NONE && FS_CBOR_AT(&d, exv)->type == FS_CBOR_SIMPLE && FS_CBOR_AT(&d, exv)->u == 21;
        char alg[16] = "";
        fs_cbor_text(&d, fs_cbor_map_get(&d, b, "alg"), alg, sizeof alg);
        if (FS_CBOR_AT(&d, b)->type != FS_CBOR_MAP || names == FS_CBOR_NONE ||
            FS_CBOR_AT(&d, names)->type != FS_CBOR_ARRAY || FS_CBOR_AT(&d, names)->count == 0 || !want ||
            want->type != FS_CBOR_BYTES) {
            add_status(c, m, "assertion.boxesHash.malformed", FS_PROV_FAILURE, url, "a listed box has no names or no hash");
            goto done;
        }
        uint64_t start = 0, end = 0;
        int is_c2pa = 0;
        char first[64] = "";
        for (uint32_t nm = FS_CBOR_AT(&d, names)->first; nm != FS_CBOR_NONE; nm = FS_CBOR_AT(&d, nm)->next) {
            char name[64];
            fs_cbor_text(&d, nm, name, sizeof name);
            if (si >= ns || strcmp(name, src[si].name)) {
                if (si >= ns)
                    add_status(c, m, "assertion.boxesHash.unknownBox", FS_PROV_FAILURE, url,
                               "box '%s' is listed after the file's last box", name);
                else
                    add_status(c, m, "assertion.boxesHash.unknownBox", FS_PROV_FAILURE, url,
                               "box '%s' is listed where the file has '%s' (offset %llu)", name, src[si].name,
                               (unsigned long long)src[si].start);
                goto done;
            }
            if (!first[0]) {
                snprintf(first, sizeof first, "%s", name);
                start = src[si].start;
                if (!strcmp(name, "C2PA")) is_c2pa = 1;
            } else if (is_c2pa) {
                add_status(c, m, "assertion.boxesHash.malformed", FS_PROV_FAILURE, url,
                           "the C2PA box is listed together with other boxes");
                goto done;
            }
            end = src[si].start + src[si].len;
            si++;
        }
        if (is_c2pa || excluded) continue;
        const char *use = alg[0] ? alg : claim_alg;
        const EVP_MD *md = hash_md(use);
        if (!md) {
            add_status(c, m, "algorithm.unsupported", FS_PROV_FAILURE, url, "box hash algorithm '%s' is not supported", use);
            goto done;
        }
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned int gl = 0;
        if (end < start || digest_range(c, md, start, end - start, got, &gl) || gl != want->len ||
            memcmp(got, want->str, gl)) {
            add_status(c, m, "assertion.boxesHash.mismatch", FS_PROV_FAILURE, url,
                       "the file's bytes do not match the signed hash of box '%s'%s (offset %llu, %llu bytes)", first,
                       FS_CBOR_AT(&d, names)->count > 1 ? " and the boxes after it" : "", (unsigned long long)start,
                       (unsigned long long)(end - start));
            goto done;
        }
    }
    if (si < ns) {
        add_status(c, m, "assertion.boxesHash.mismatch", FS_PROV_FAILURE, url,
                   "box '%s' at offset %llu is not covered by the box hash", src[si].name,
                   (unsigned long long)src[si].start);
        goto done;
    }
    add_status(c, m, "assertion.boxesHash.match", FS_PROV_SUCCESS, url, "box hash valid");
done:
    free(src);
    fs_cbor_doc_free(&d);
}

/* One hashed URI of the claim's assertion list. */
static void check_assertion(ctx *c, fs_prov_manifest *m, uint32_t mbox, const fs_cbor_doc *cd,
                            uint32_t ref, const char *claim_alg, int active, int *hard_bindings) {
    char url[512], alg[16];
    fs_cbor_text(cd, fs_cbor_map_get(cd, ref, "url"), url, sizeof url);
    fs_cbor_text(cd, fs_cbor_map_get(cd, ref, "alg"), alg, sizeof alg);
    const char *path = jumbf_path(url);
    uint32_t box = path ? fs_jumbf_resolve(c->tree, mbox, path) : FS_JUMBF_NONE;
    const char *label = path ? strrchr(path, '/') : NULL;
    label = label ? label + 1 : path ? path : url;
    if (box == FS_JUMBF_NONE && path) { /* a link the store does not spell the same way: by label */
        uint32_t as = fs_jumbf_child(c->tree, mbox, "c2pa.assertions");
        box = as == FS_JUMBF_NONE ? FS_JUMBF_NONE : fs_jumbf_child(c->tree, as, label);
    }
    if (m->n_assertions < FS_PROV_MAX_ASSERTIONS) {
        char **as = realloc(m->assertions, (m->n_assertions + 1) * sizeof *as);
        if (as) {
            m->assertions = as;
            if ((as[m->n_assertions] = strdup(label))) m->n_assertions++;
        } else {
            c->nomem = 1;
        }
    }
    if (box == FS_JUMBF_NONE) {
        add_status(c, m, "assertion.missing", FS_PROV_FAILURE, url, "assertion %s is not in the manifest", url);
        return;
    }
    char aurl[600];
    absolute_url(c, box, aurl, sizeof aurl);
    const fs_jumbf_box *b = &c->tree->boxes[box];
    const char *use = alg[0] ? alg : claim_alg;
    const fs_cbor_item *want = item_at(cd, fs_cbor_map_get(cd, ref, "hash"));
    int ok = hash_matches(use, b->payload, b->payload_len, want);
    uint32_t first = b->first;
    if (ok < 0)
        add_status(c, m, "algorithm.unsupported", FS_PROV_FAILURE, aurl, "hash algorithm '%s' is not supported", use);
    else if (ok)
        add_status(c, m, "assertion.hashedURI.match", FS_PROV_SUCCESS, aurl, "hashed uri matched: %s", url);
    else if (first != FS_JUMBF_NONE &&
             hash_matches(use, c->tree->boxes[first].payload, c->tree->boxes[first].payload_len, want) == 1) {
        /* pre-release manifests hashed an assertion's data alone; the reference SDK refuses them
         * with this code */
        if (!has_code(m, "com.adobe.prerelease"))
            add_status(c, m, "com.adobe.prerelease", FS_PROV_FAILURE, aurl,
                       "manifest from a pre-release of the specification (assertions hashed by their data only)");
    } else
        add_status(c, m, "assertion.hashedURI.mismatch", FS_PROV_FAILURE, aurl, "hash does not match assertion data: %s", url);

    const char *l = b->label;
    if (!strncmp(l, "c2pa.actions", 12)) read_actions(c, m, box);
    else if (!strncmp(l, "c2pa.ingredient", 15)) read_ingredient(c, m, box, use);
    else if (!strncmp(l, "c2pa.hash.data", 14) || !strncmp(l, "c2pa.hash.boxes", 15) || !strncmp(l, "c2pa.hash.bmff", 14)) {
        (*hard_bindings)++;
        if (active && !strncmp(l, "c2pa.hash.data", 14)) check_data_hash(c, m, box, use);
        else if (active && !strncmp(l, "c2pa.hash.boxes", 15)) check_box_hash(c, m, box, use);
        else if (active)
            add_status(c, m, "assertion.hardBinding.unchecked", FS_PROV_INFO, aurl,
                       "%s bindings are not checked by this reader", l);
    }
}

static void check_signature(ctx *c, fs_prov_manifest *m, uint32_t mbox, const uint8_t *claim, size_t claim_len) {
    uint32_t sb = fs_jumbf_child(c->tree, mbox, "c2pa.signature");
    char url[600];
    uint32_t cb = sb == FS_JUMBF_NONE ? FS_JUMBF_NONE : fs_jumbf_content(c->tree, sb, BOX_CBOR);
    if (cb == FS_JUMBF_NONE) {
        snprintf(url, sizeof url, "self#jumbf=/c2pa/%s/c2pa.signature", m->label ? m->label : "");
        add_status(c, m, "claimSignature.missing", FS_PROV_FAILURE, url, "the claim has no signature");
        return;
    }
    absolute_url(c, sb, url, sizeof url);
    prov_cose_result r;
    fs_msg msg;
    const fs_jumbf_box *b = &c->tree->boxes[cb];
    fs_err e = prov_cose_verify(b->payload, b->payload_len, claim, claim_len,
                                c->opts ? c->opts->trust : NULL, &r, &msg);
    if (e == FS_ERR_NOMEM) {
        c->nomem = 1;
        return;
    }
    if (r.alg_name[0]) m->sig_alg = strdup(r.alg_name);
    if (e == FS_ERR_UNSUPPORTED) {
        add_status(c, m, "algorithm.unsupported", FS_PROV_FAILURE, url, "%s", msg.text);
        return;
    }
    if (e == FS_ERR_LIMIT) {
        add_status(c, m, "signingCredential.invalid", FS_PROV_FAILURE, url, "%s", msg.text);
        return;
    }
    if (e) {
        add_status(c, m, "claimSignature.mismatch", FS_PROV_FAILURE, url, "%s", msg.text);
        return;
    }
    if (r.signer[0]) m->signer = strdup(r.signer);
    if (r.issuer[0]) m->issuer = strdup(r.issuer);
    if (r.time[0]) m->time = strdup(r.time);
    if (r.has_tst) {
        if (r.tst_status == 1) {
            add_status(c, m, "timeStamp.validated", FS_PROV_SUCCESS, url, "timestamp message digest matched");
            if (r.tst_signature == 0)
                add_status(c, m, "timeStamp.untrusted", FS_PROV_INFO, url, "the time stamp's own signature does not verify: %s",
                           r.tst_error);
            else if (r.tst_trust == 1)
                add_status(c, m, "timeStamp.trusted", FS_PROV_SUCCESS, url, "the time stamp authority chains to the trust list");
            else if (r.tst_trust == 0)
                add_status(c, m, "timeStamp.untrusted", FS_PROV_INFO, url, "the time stamp authority is not on the trust list: %s",
                           r.tst_error);
            else if (r.tst_signature == 1)
                add_status(c, m, "timeStamp.untrusted", FS_PROV_INFO, url,
                           "the time stamp's signature verifies; without a trust list its authority is not judged");
            else
                add_status(c, m, "timeStamp.untrusted", FS_PROV_INFO, url, "the time stamp's signature could not be checked");
        } else if (r.tst_status == 0) {
            add_status(c, m, "timeStamp.mismatch", FS_PROV_INFO, url, "the time stamp does not cover this claim");
        } else {
            add_status(c, m, "timeStamp.malformed", FS_PROV_INFO, url, "the time stamp could not be read");
        }
    }
    if (r.verified) {
        add_status(c, m, r.in_validity ? "claimSignature.insideValidity" : "claimSignature.outsideValidity",
                   r.in_validity ? FS_PROV_SUCCESS : FS_PROV_FAILURE, url,
                   r.in_validity ? "signing certificate valid at the signing time"
                                 : "signing certificate not valid at the signing time");
        add_status(c, m, "claimSignature.validated", FS_PROV_SUCCESS, url, "claim signature valid (%s)", r.alg_name);
    } else {
        add_status(c, m, "claimSignature.mismatch", FS_PROV_FAILURE, url, "claim signature does not match (%s)", r.alg_name);
    }
    if (r.trust == 1)
        add_status(c, m, "signingCredential.trusted", FS_PROV_SUCCESS, url, "signing certificate chains to the trust list");
    else if (r.trust == 0)
        add_status(c, m, "signingCredential.untrusted", FS_PROV_FAILURE, url, "signing certificate untrusted: %s", r.trust_error);
    if (r.ocsp == 1)
        add_status(c, m, "signingCredential.ocsp.notRevoked", FS_PROV_SUCCESS, url,
                   "embedded OCSP response: the signing certificate was not revoked at the signing time");
    else if (r.ocsp == 2)
        add_status(c, m, "signingCredential.ocsp.revoked", FS_PROV_FAILURE, url,
                   "embedded OCSP response: the signing certificate was revoked at the signing time");
    else if (r.ocsp == -1)
        add_status(c, m, "signingCredential.ocsp.unknown", FS_PROV_INFO, url, "embedded OCSP response not usable: %s",
                   r.ocsp_error);
}

static char *generator_name(const fs_cbor_doc *d, uint32_t info) {
    info = fs_cbor_untag(d, info);
    if (info == FS_CBOR_NONE) return NULL;
    if (FS_CBOR_AT(d, info)->type == FS_CBOR_ARRAY) info = fs_cbor_array_at(d, info, 0);
    char name[200], ver[64], buf[300];
    fs_cbor_text(d, fs_cbor_map_get(d, info, "name"), name, sizeof name);
    fs_cbor_text(d, fs_cbor_map_get(d, info, "version"), ver, sizeof ver);
    if (!name[0]) return NULL;
    snprintf(buf, sizeof buf, "%s%s%s", name, ver[0] ? "/" : "", ver);
    return strdup(buf);
}

static void read_manifest(ctx *c, fs_prov_manifest *m, uint32_t mbox, int active) {
    const fs_jumbf_box *mb = &c->tree->boxes[mbox];
    m->label = strdup(mb->label);
    uint32_t claim = fs_jumbf_child(c->tree, mbox, "c2pa.claim.v2");
    m->claim_version = 2;
    if (claim == FS_JUMBF_NONE) claim = fs_jumbf_child(c->tree, mbox, "c2pa.claim"), m->claim_version = 1;
    char url[600];
    snprintf(url, sizeof url, "self#jumbf=/c2pa/%s", mb->label);
    uint32_t cb = claim == FS_JUMBF_NONE ? FS_JUMBF_NONE : fs_jumbf_content(c->tree, claim, BOX_CBOR);
    if (cb == FS_JUMBF_NONE) {
        add_status(c, m, "claim.missing", FS_PROV_FAILURE, url, "the manifest has no claim");
        return;
    }
    const uint8_t *claim_bytes = c->tree->boxes[cb].payload;
    size_t claim_len = c->tree->boxes[cb].payload_len;
    fs_cbor_doc d;
    fs_msg msg;
    if (fs_cbor_parse(claim_bytes, claim_len, NULL, &d, &msg)) {
        add_status(c, m, "claim.cbor.invalid", FS_PROV_FAILURE, url, "claim: %s", msg.text);
        return;
    }
    m->claim_generator = dup_text(&d, fs_cbor_map_get(&d, 0, "claim_generator"));
    if (!m->claim_generator) m->claim_generator = generator_name(&d, fs_cbor_map_get(&d, 0, "claim_generator_info"));
    m->title = dup_text(&d, fs_cbor_map_get(&d, 0, "dc:title"));
    m->format = dup_text(&d, fs_cbor_map_get(&d, 0, "dc:format"));
    m->instance_id = dup_text(&d, fs_cbor_map_get(&d, 0, "instanceID"));
    char alg[16];
    fs_cbor_text(&d, fs_cbor_map_get(&d, 0, "alg"), alg, sizeof alg);

    check_signature(c, m, mbox, claim_bytes, claim_len);
    int hard = 0;
    static const char *const lists[] = {"assertions", "created_assertions", "gathered_assertions"};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        uint32_t arr = fs_cbor_map_get(&d, 0, lists[k]);
        if (arr == FS_CBOR_NONE || FS_CBOR_AT(&d, arr)->type != FS_CBOR_ARRAY) continue;
        for (uint32_t r = FS_CBOR_AT(&d, arr)->first; r != FS_CBOR_NONE; r = FS_CBOR_AT(&d, r)->next)
            check_assertion(c, m, mbox, &d, r, alg, active, &hard);
    }
    /* update manifests ("c2um") carry no hard binding */
    if (!hard && memcmp(mb->uuid, "c2um", 4) != 0)
        add_status(c, m, "claim.hardBindings.missing", FS_PROV_FAILURE, url, "the claim has no hard binding");
    fs_cbor_doc_free(&d);
}

static fs_prov_state state_of(const fs_prov_manifest *m) {
    int trusted = 0;
    for (size_t i = 0; i < m->n_status; i++) {
        if (m->status[i].kind == FS_PROV_FAILURE) return FS_PROV_INVALID;
        if (!strcmp(m->status[i].code, "signingCredential.trusted")) trusted = 1;
    }
    return trusted ? FS_PROV_TRUSTED : FS_PROV_VALID;
}

static int is_ai_type(const char *t) {
    if (!t) return 0;
    const char *last = strrchr(t, '/');
    last = last ? last + 1 : t;
    return !strcmp(last, "trainedAlgorithmicMedia") || !strcmp(last, "compositeWithTrainedAlgorithmicMedia") ||
           !strcmp(last, "compositeSynthetic") || !strcmp(last, "algorithmicallyEnhanced") ||
           !strcmp(last, "trainedAlgorithmicData");
}

/* ---- unsigned hints ---- */
static void add_hint(ctx *c, fs_prov_report *r, const char *source, const char *key, const uint8_t *v, size_t n) {
    if (r->n_hints >= FS_PROV_MAX_HINTS || n == 0) return;
    fs_prov_hint *h = realloc(r->hints, (r->n_hints + 1) * sizeof *h);
    if (!h) {
        c->nomem = 1;
        return;
    }
    r->hints = h;
    h = &h[r->n_hints];
    h->source = strdup(source), h->key = strdup(key);
    h->value = dupn(v, n < HINT_VALUE_MAX ? n : HINT_VALUE_MAX);
    if (!h->source || !h->key || !h->value) {
        free(h->source), free(h->key), free(h->value);
        c->nomem = 1;
        return;
    }
    r->n_hints++;
}

/* PNG text keys that image generators write (AUTOMATIC1111 and Forge "parameters", ComfyUI
 * "prompt"/"workflow", InvokeAI "invokeai_metadata"/"sd-metadata"/"Dream", NovelAI "Software"/
 * "Comment"/"Source", and the generic "Software", "Description", "Comment", "Title"). */
static const char *const png_keys[] = {"parameters", "prompt", "workflow", "invokeai_metadata",
                                       "sd-metadata", "Dream", "Software", "Source", "Description",
                                       "Comment", "Title", "generation_data", "Make", "Model"};

static void collect_hints(ctx *c, const prov_container *pc, fs_prov_report *r) {
    char buf[HINT_VALUE_MAX];
    static const char *const xmp_props[] = {"Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool",
                                            "tiff:Software", "photoshop:Credit", "dc:creator",
                                            "dcterms:provenance"};
    for (size_t i = 0; pc->xmp && i < sizeof xmp_props / sizeof xmp_props[0]; i++)
        if (prov_xmp_get(pc->xmp, pc->xmp_len, xmp_props[i], buf, sizeof buf))
            add_hint(c, r, "xmp", xmp_props[i], (const uint8_t *)buf, strlen(buf));
    static const struct { unsigned tag; const char *name; } exif_tags[] = {
        {0x0131, "Software"}, {0x010E, "ImageDescription"}, {0x013B, "Artist"}, {0x010F, "Make"}, {0x0110, "Model"}};
    for (size_t i = 0; pc->exif && i < sizeof exif_tags / sizeof exif_tags[0]; i++)
        if (prov_exif_ascii(pc->exif, pc->exif_len, exif_tags[i].tag, buf, sizeof buf))
            add_hint(c, r, "exif", exif_tags[i].name, (const uint8_t *)buf, strlen(buf));
    for (size_t i = 0; i < pc->n_text; i++) {
        const prov_text *t = &pc->text[i];
        for (size_t k = 0; k < sizeof png_keys / sizeof png_keys[0]; k++) {
            if (strcmp(t->key, png_keys[k]) != 0) continue;
            if (t->compressed) add_hint(c, r, "png:text", t->key, (const uint8_t *)"(compressed)", 12);
            else add_hint(c, r, "png:text", t->key, t->value, t->len);
        }
    }
    /* a hint that names generative AI: an IPTC type, or a generator's own marker */
    for (size_t i = 0; i < r->n_hints && !r->ai_hint; i++) {
        const fs_prov_hint *h = &r->hints[i];
        if (!strcmp(h->key, "Iptc4xmpExt:DigitalSourceType") && is_ai_type(h->value)) r->ai_hint = h->value;
        else if (!strcmp(h->source, "png:text") &&
                 (!strcmp(h->key, "parameters") || !strcmp(h->key, "prompt") || !strcmp(h->key, "workflow") ||
                  !strcmp(h->key, "invokeai_metadata") || !strcmp(h->key, "sd-metadata") || !strcmp(h->key, "Dream")))
            r->ai_hint = h->key;
        else if (strstr(h->value, "Stable Diffusion") || strstr(h->value, "NovelAI") || strstr(h->value, "Midjourney") ||
                 strstr(h->value, "DALL-E") || strstr(h->value, "DALL\xc2\xb7" "E") || strstr(h->value, "Firefly"))
            r->ai_hint = h->value;
    }
}

fs_err fs_prov_read(const uint8_t *data, size_t len, const fs_prov_options *opts,
                    fs_prov_report *report, fs_msg *msg) {
    memset(report, 0, sizeof *report);
    report->active = -1;
    if (len > FS_PROV_MAX_FILE)
        return fs_fail(msg, FS_ERR_LIMIT, "file of %zu bytes is larger than %zu", len, FS_PROV_MAX_FILE);
    prov_container pc;
    fs_err e = prov_container_read(data, len, &pc, msg);
    if (e) return e;
    report->mime = pc.mime;
    ctx c = {.file = data, .file_len = len, .opts = opts};
    collect_hints(&c, &pc, report);
    fs_jumbf_tree tree = {0};
    if (!pc.store) {
        if (pc.store_error[0]) {
            report->state = FS_PROV_INVALID;
            report->store_error = strdup(pc.store_error);
        }
        goto done;
    }
    fs_msg jm;
    e = fs_jumbf_parse(pc.store, pc.store_len, &tree, &jm);
    if (e == FS_ERR_NOMEM) goto done;
    if (!e && (!tree.boxes[0].is_super || memcmp(tree.boxes[0].uuid, "c2pa", 4) != 0))
        e = fs_fail(&jm, FS_ERR_FORMAT, "the JUMBF box is not a C2PA manifest store");
    if (e) {
        report->state = FS_PROV_INVALID;
        report->store_error = strdup(jm.text);
        e = FS_OK;
        goto done;
    }
    c.tree = &tree;
    size_t n = 0;
    for (uint32_t b = tree.boxes[0].first; b != FS_JUMBF_NONE; b = tree.boxes[b].next)
        if (tree.boxes[b].is_super) n++;
    if (n > FS_PROV_MAX_MANIFESTS) n = FS_PROV_MAX_MANIFESTS;
    if (n == 0) {
        report->state = FS_PROV_INVALID;
        report->store_error = strdup("the manifest store holds no manifest");
        goto done;
    }
    report->manifests = calloc(n, sizeof *report->manifests);
    if (!report->manifests) {
        c.nomem = 1;
        goto done;
    }
    /* the active manifest is the last one in the store */
    uint32_t boxes[FS_PROV_MAX_MANIFESTS];
    size_t k = 0, total = 0;
    for (uint32_t b = tree.boxes[0].first; b != FS_JUMBF_NONE; b = tree.boxes[b].next)
        if (tree.boxes[b].is_super) {
            if (k < n) boxes[k++] = b;
            else boxes[n - 1] = b; /* keep the last as the active one */
            total++;
        }
    (void)total;
    report->n_manifests = n;
    report->active = (int)n - 1;
    for (size_t i = 0; i < n; i++) {
        read_manifest(&c, &report->manifests[i], boxes[i], (int)i == report->active);
        report->manifests[i].state = state_of(&report->manifests[i]);
    }
    for (size_t i = 0; i < n; i++) {
        fs_prov_manifest *m = &report->manifests[i];
        for (size_t g = 0; g < m->n_ingredients; g++) {
            fs_prov_ingredient *ing = &m->ingredients[g];
            for (size_t j = 0; ing->manifest && j < n; j++)
                if (report->manifests[j].label && !strcmp(report->manifests[j].label, ing->manifest))
                    ing->state = report->manifests[j].state;
        }
    }
    fs_prov_manifest *am = &report->manifests[report->active];
    report->state = am->state;
    for (size_t i = 0; i < am->n_actions && !report->ai_source_type; i++)
        if (is_ai_type(am->actions[i].digital_source_type)) report->ai_source_type = am->actions[i].digital_source_type;
done:
    fs_jumbf_tree_free(&tree);
    prov_container_free(&pc);
    if (c.nomem) e = FS_ERR_NOMEM;
    if (e) {
        fs_prov_report_free(report);
        return e == FS_ERR_NOMEM ? fs_fail(msg, FS_ERR_NOMEM, "out of memory reading Content Credentials") : e;
    }
    return FS_OK;
}

fs_err fs_prov_read_file(const char *path, const fs_prov_options *opts, fs_prov_report *report,
                         fs_msg *msg) {
    memset(report, 0, sizeof *report);
    report->active = -1;
    uint8_t *data;
    size_t len;
    fs_err e = fs_read_file(path, FS_PROV_MAX_FILE, &data, &len, msg);
    if (e) return e;
    e = fs_prov_read(data, len, opts, report, msg);
    free(data);
    return e;
}
