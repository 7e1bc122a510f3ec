/* c2pa_forge.h: test-only writer of small C2PA files with a real signature, so the provenance
 * tests can check each validation outcome on files whose every byte they control (and the
 * fuzz seed generator can start from well-formed stores). It writes a JPEG whose APP11
 * segments carry a manifest store with one manifest: a c2pa.actions assertion (created, with
 * a digitalSourceType), a c2pa.hash.data hard binding that excludes the APP11 segments (or
 * a c2pa.hash.boxes binding the caller writes), a v1 claim listing both by hashed URI, and a COSE_Sign1 (ES256, Ed25519 or PS256) whose x5chain
 * holds a certificate the forge makes itself. Everything is static inline: include it once. */
#ifndef FS_C2PA_FORGE_H
#define FS_C2PA_FORGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "fakescope/cbor.h"

typedef struct forge_buf {
    uint8_t *p;
    size_t n, cap;
} forge_buf;

static inline void fb_put(forge_buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static inline void fb_u8(forge_buf *b, unsigned v) { uint8_t x = (uint8_t)v; fb_put(b, &x, 1); }
static inline void fb_be32(forge_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fb_put(b, x, 4);
}
static inline void fb_head(forge_buf *b, unsigned major, uint64_t arg) {
    uint8_t h[9];
    fb_put(b, h, fs_cbor_put_head(h, major, arg));
}
static inline void fb_text(forge_buf *b, const char *s) { fb_head(b, 3, strlen(s)), fb_put(b, s, strlen(s)); }
static inline void fb_bytes(forge_buf *b, const void *p, size_t n) { fb_head(b, 2, n), fb_put(b, p, n); }
static inline void fb_free(forge_buf *b) { free(b->p), memset(b, 0, sizeof *b); }

/* A JUMBF box of `type` around payload. */
static inline void fb_box(forge_buf *out, const char type[4], const uint8_t *payload, size_t n) {
    fb_be32(out, (uint32_t)(8 + n));
    fb_put(out, type, 4);
    fb_put(out, payload, n);
}
/* A superbox: description ('jumd' with the C2PA UUID tail and a label) then content. */
static inline void fb_super(forge_buf *out, const char uuid4[4], const char *label, const uint8_t *content, size_t n) {
    static const uint8_t tail[12] = {0x00, 0x11, 0x00, 0x10, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};
    forge_buf d = {0}, s = {0};
    fb_put(&d, uuid4, 4), fb_put(&d, tail, 12), fb_u8(&d, 0x03), fb_put(&d, label, strlen(label) + 1);
    fb_box(&s, "jumd", d.p, d.n);
    fb_put(&s, content, n);
    fb_box(out, "jumb", s.p, s.n);
    fb_free(&d), fb_free(&s);
}
/* A CBOR assertion superbox. */
static inline void fb_cbor_assertion(forge_buf *out, const char *label, const forge_buf *cbor) {
    forge_buf c = {0};
    fb_box(&c, "cbor", cbor->p, cbor->n);
    fb_super(out, "cbor", label, c.p, c.n);
    fb_free(&c);
}

static inline void forge_sha256(const void *p, size_t n, uint8_t out[32]) {
    unsigned int l = 32;
    EVP_Digest(p, n, out, &l, EVP_sha256(), NULL);
}

typedef enum { FORGE_ES256, FORGE_ED25519, FORGE_PS256 } forge_alg;

typedef struct forge_signer {
    EVP_PKEY *key;
    X509 *cert;
    forge_alg alg;
} forge_signer;

/* A key and a self-signed certificate valid from yesterday for a year, subject CN=cn. */
static inline int forge_signer_new(forge_signer *s, forge_alg alg, const char *cn) {
    memset(s, 0, sizeof *s);
    s->alg = alg;
    s->key = alg == FORGE_ES256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
           : alg == FORGE_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                                  : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (!s->key) return -1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_set_pubkey(x, s->key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"fakescope tests", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, s->key, alg == FORGE_ED25519 ? NULL : EVP_sha256())) return X509_free(x), -1;
    s->cert = x;
    return 0;
}
static inline void forge_signer_free(forge_signer *s) { EVP_PKEY_free(s->key), X509_free(s->cert); }

/* Writes the signer's certificate as PEM to path. */
static inline int forge_signer_pem(const forge_signer *s, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = PEM_write_X509(f, s->cert) == 1;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* COSE_Sign1 (tag 18) over the claim with the detached-payload Sig_structure. */
static inline void forge_cose(forge_buf *out, const forge_signer *s, const uint8_t *claim, size_t claim_len) {
    forge_buf prot = {0}, tbs = {0};
    int alg = s->alg == FORGE_ES256 ? -7 : s->alg == FORGE_ED25519 ? -8 : -37;
    unsigned char *der = NULL;
    int der_len = i2d_X509(s->cert, &der);
    fb_head(&prot, 5, 2);
    fb_head(&prot, 0, 1), fb_head(&prot, 1, (uint64_t)(-1 - alg));
    fb_head(&prot, 0, 33), fb_bytes(&prot, der, (size_t)der_len);
    OPENSSL_free(der);
    fb_head(&tbs, 4, 4), fb_text(&tbs, "Signature1"), fb_bytes(&tbs, prot.p, prot.n), fb_bytes(&tbs, "", 0);
    fb_bytes(&tbs, claim, claim_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    EVP_DigestSignInit(ctx, &pctx, s->alg == FORGE_ED25519 ? NULL : EVP_sha256(), NULL, s->key);
    if (s->alg == FORGE_PS256) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t sl = 0;
    EVP_DigestSign(ctx, NULL, &sl, tbs.p, tbs.n);
    uint8_t *sig = malloc(sl);
    EVP_DigestSign(ctx, sig, &sl, tbs.p, tbs.n);
    EVP_MD_CTX_free(ctx);
    uint8_t raw[64];
    if (s->alg == FORGE_ES256) { /* DER -> r||s */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
    }
    fb_head(out, 6, 18), fb_head(out, 4, 4);
    fb_bytes(out, prot.p, prot.n);
    fb_head(out, 5, 1), fb_text(out, "pad"), fb_bytes(out, "\0\0\0\0", 4);
    fb_u8(out, 0xf6); /* detached payload */
    if (s->alg == FORGE_ES256) fb_bytes(out, raw, 64);
    else fb_bytes(out, sig, sl);
    free(sig);
    fb_free(&prot), fb_free(&tbs);
}

typedef struct forge_opts {
    const forge_signer *signer;
    const char *source_type; /* digitalSourceType URI, NULL for none */
    int split;               /* store over two APP11 segments */
    /* when set, the hard binding is this c2pa.hash.boxes assertion (its CBOR) instead of
     * c2pa.hash.data; forge_store's exclusion and data hash are then unused */
    const forge_buf *box_hash;
} forge_opts;

static inline void forge_store(forge_buf *store, const forge_opts *o, uint64_t ex_start, uint64_t ex_len,
                               const uint8_t data_hash[32]) {
    forge_buf acts = {0}, dh = {0}, a1 = {0}, a2 = {0}, astore = {0}, claim = {0}, cc = {0}, sig = {0}, sc = {0},
              man = {0}, mc = {0}, mcontent = {0};
    fb_head(&acts, 5, 1), fb_text(&acts, "actions"), fb_head(&acts, 4, 1);
    fb_head(&acts, 5, o->source_type ? 2 : 1), fb_text(&acts, "action"), fb_text(&acts, "c2pa.created");
    if (o->source_type) fb_text(&acts, "digitalSourceType"), fb_text(&acts, o->source_type);
    fb_head(&dh, 5, 4), fb_text(&dh, "exclusions"), fb_head(&dh, 4, 1);
    fb_head(&dh, 5, 2), fb_text(&dh, "start"), fb_head(&dh, 0, ex_start), fb_text(&dh, "length"), fb_head(&dh, 0, ex_len);
    fb_text(&dh, "name"), fb_text(&dh, "jumbf manifest"), fb_text(&dh, "alg"), fb_text(&dh, "sha256");
    fb_text(&dh, "hash"), fb_bytes(&dh, data_hash, 32);
    fb_cbor_assertion(&a1, "c2pa.actions", &acts);
    const char *binding = o->box_hash ? "c2pa.hash.boxes" : "c2pa.hash.data";
    fb_cbor_assertion(&a2, binding, o->box_hash ? o->box_hash : &dh);
    uint8_t h1[32], h2[32];
    forge_sha256(a1.p + 8, a1.n - 8, h1); /* superbox without its own header */
    forge_sha256(a2.p + 8, a2.n - 8, h2);
    fb_put(&astore, a1.p, a1.n), fb_put(&astore, a2.p, a2.n);
    fb_head(&claim, 5, 6);
    fb_text(&claim, "claim_generator"), fb_text(&claim, "fakescope-forge/1.0");
    fb_text(&claim, "signature"), fb_text(&claim, "self#jumbf=c2pa.signature");
    fb_text(&claim, "assertions"), fb_head(&claim, 4, 2);
    fb_head(&claim, 5, 2), fb_text(&claim, "url"), fb_text(&claim, "self#jumbf=c2pa.assertions/c2pa.actions"),
        fb_text(&claim, "hash"), fb_bytes(&claim, h1, 32);
    char url2[64];
    snprintf(url2, sizeof url2, "self#jumbf=c2pa.assertions/%s", binding);
    fb_head(&claim, 5, 2), fb_text(&claim, "url"), fb_text(&claim, url2), fb_text(&claim, "hash"), fb_bytes(&claim, h2, 32);
    fb_text(&claim, "dc:format"), fb_text(&claim, "image/jpeg");
    fb_text(&claim, "instanceID"), fb_text(&claim, "xmp:iid:forge-0001");
    fb_text(&claim, "alg"), fb_text(&claim, "sha256");
    forge_cose(&sig, o->signer, claim.p, claim.n);
    fb_super(&mcontent, "c2as", "c2pa.assertions", astore.p, astore.n);
    fb_box(&cc, "cbor", claim.p, claim.n);
    fb_super(&mcontent, "c2cl", "c2pa.claim", cc.p, cc.n);
    fb_box(&sc, "cbor", sig.p, sig.n);
    fb_super(&mcontent, "c2cs", "c2pa.signature", sc.p, sc.n);
    fb_super(&man, "c2ma", "urn:uuid:00000000-0000-4000-8000-000000000001", mcontent.p, mcontent.n);
    fb_super(store, "c2pa", "c2pa", man.p, man.n);
    forge_buf *all[] = {&acts, &dh, &a1, &a2, &astore, &claim, &cc, &sig, &sc, &man, &mc, &mcontent};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fb_free(all[i]);
}

/* APP11 segments carrying the store (one, or two when split). */
static inline void forge_app11(forge_buf *out, const forge_buf *store, int split) {
    size_t half = split ? store->n / 2 : store->n;
    for (int seg = 0; seg < (split ? 2 : 1); seg++) {
        const uint8_t *p = store->p + (seg ? half : 0);
        size_t n = seg ? store->n - half : half;
        size_t payload = 8 + (seg ? 8 : 0) + n;
        fb_u8(out, 0xff), fb_u8(out, 0xeb), fb_u8(out, (unsigned)((payload + 2) >> 8)), fb_u8(out, (unsigned)(payload + 2));
        fb_put(out, "JP", 2), fb_u8(out, 0x02), fb_u8(out, 0x11), fb_be32(out, (uint32_t)seg + 1);
        if (seg) fb_put(out, store->p, 8); /* LBox/TBox repeated */
        fb_put(out, p, n);
    }
}

/* A JPEG-shaped file: SOI, the C2PA APP11 segment(s), a COM segment with `body`, EOI. */
static inline void forge_jpeg(forge_buf *out, const forge_opts *o, const char *body) {
    forge_buf tail = {0}, store = {0}, app = {0}, hashed = {0};
    size_t bl = strlen(body);
    fb_u8(&tail, 0xff), fb_u8(&tail, 0xfe), fb_u8(&tail, (unsigned)((bl + 2) >> 8)), fb_u8(&tail, (unsigned)(bl + 2));
    fb_put(&tail, body, bl);
    fb_u8(&tail, 0xff), fb_u8(&tail, 0xd9);
    uint8_t zero[32] = {0}, h[32];
    forge_store(&store, o, 2, 4096, zero); /* same encoded sizes as the real values */
    forge_app11(&app, &store, o->split);
    size_t ex_len = app.n;
    fb_put(&hashed, "\xff\xd8", 2), fb_put(&hashed, tail.p, tail.n);
    forge_sha256(hashed.p, hashed.n, h);
    store.n = 0, app.n = 0;
    forge_store(&store, o, 2, ex_len, h);
    forge_app11(&app, &store, o->split);
    if (app.n != ex_len) abort(); /* the exclusion must cover exactly the APP11 segments */
    fb_put(out, "\xff\xd8", 2), fb_put(out, app.p, app.n), fb_put(out, tail.p, tail.n);
    fb_free(&tail), fb_free(&store), fb_free(&app), fb_free(&hashed);
}

/* A PNG chunk: length, type, data, CRC-32 (ISO 3309, as PNG computes it). */
static inline void forge_png_chunk(forge_buf *out, const char type[4], const void *data, size_t n) {
    fb_be32(out, (uint32_t)n);
    size_t at = out->n;
    fb_put(out, type, 4), fb_put(out, data, n);
    uint32_t crc = 0xffffffffu;
    for (size_t i = at; i < out->n; i++) {
        crc ^= out->p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    fb_be32(out, crc ^ 0xffffffffu);
}

#endif
