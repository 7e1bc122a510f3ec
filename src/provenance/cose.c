/* cose.c: the claim signature of a C2PA manifest, a COSE_Sign1 (RFC 9052) with a detached
 * payload (the claim's CBOR bytes), verified with OpenSSL; the signer's X.509 chain judged
 * against a PEM trust list; the RFC 3161 time stamp's message imprint checked and its time
 * used as the signing time.
 *
 * Sig_structure = ["Signature1", protected (bstr), external_aad (empty bstr), payload]. ECDSA
 * signatures are raw r||s in COSE and are converted to DER for OpenSSL; PS* is RSASSA-PSS with
 * MGF1 over the same hash and a salt as long as the hash. A v1 time stamp ("sigTst") is over
 * ["CounterSignature", protected, h'', claim], a v2 one ("sigTst2") over the same structure with
 * the CBOR-encoded signature as payload (as the reference SDK computes them).
 *
 * Trust: the chain is built with OpenSSL's verifier from the x5chain certificates to any
 * certificate of the trust list (partial chains allowed, so a list of allowed end-entity
 * certificates works too); time validity of the signing certificate is judged separately at
 * the signing time (the time stamp's, else now), so an expired test certificate reads as
 * "outside validity", not as "untrusted". Nothing is fetched: no OCSP, no CRL. */
#include "provenance/prov_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct fs_prov_trust {
    X509_STORE *store;
    size_t n_certs;
};

fs_err fs_prov_trust_load(const char *pem_path, fs_prov_trust **trust, fs_msg *msg) {
    BIO *bio = BIO_new_file(pem_path, "r");
    if (!bio) return fs_fail(msg, FS_ERR_NOTFOUND, "cannot open trust list %s", pem_path);
    fs_prov_trust *t = *trust;
    int fresh = 0;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || !(t->store = X509_STORE_new())) {
            free(t);
            BIO_free(bio);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory loading %s", pem_path);
        }
        fresh = 1;
    }
    size_t added = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(t->store, x) == 1) added++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (!added) {
        if (fresh) fs_prov_trust_free(t);
        return fs_fail(msg, FS_ERR_FORMAT, "no PEM certificate in trust list %s", pem_path);
    }
    t->n_certs += added;
    *trust = t;
    return FS_OK;
}

void fs_prov_trust_free(fs_prov_trust *trust) {
    if (!trust) return;
    X509_STORE_free(trust->store);
    free(trust);
}

typedef struct alg_info {
    int id;
    const char *name;
    const EVP_MD *(*md)(void);
    int kind; /* 0 ECDSA, 1 RSA-PSS, 2 Ed25519 */
    size_t ec_len; /* bytes of r (and of s) */
} alg_info;

static const alg_info algs[] = {
    {-7, "ES256", EVP_sha256, 0, 32},  {-35, "ES384", EVP_sha384, 0, 48},
    {-36, "ES512", EVP_sha512, 0, 66}, {-37, "PS256", EVP_sha256, 1, 0},
    {-38, "PS384", EVP_sha384, 1, 0},  {-39, "PS512", EVP_sha512, 1, 0},
    {-8, "Ed25519", NULL, 2, 0},
};

static const alg_info *find_alg(int64_t id) {
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].id == id) return &algs[i];
    return NULL;
}

/* ["<context>", protected, h'', payload] encoded into a new buffer. */
static uint8_t *sig_structure(const char *context, const uint8_t *prot, size_t prot_len,
                              const uint8_t *payload, size_t payload_len, size_t *out_len) {
    size_t clen = strlen(context);
    size_t cap = 1 + 9 + clen + 9 + prot_len + 1 + 9 + payload_len;
    uint8_t *b = malloc(cap);
    if (!b) return NULL;
    size_t n = fs_cbor_put_head(b, 4, 4);
    n += fs_cbor_put_head(b + n, 3, clen);
    memcpy(b + n, context, clen), n += clen;
    n += fs_cbor_put_head(b + n, 2, prot_len);
    if (prot_len) memcpy(b + n, prot, prot_len), n += prot_len;
    n += fs_cbor_put_head(b + n, 2, 0);
    n += fs_cbor_put_head(b + n, 2, payload_len);
    if (payload_len) memcpy(b + n, payload, payload_len), n += payload_len;
    *out_len = n;
    return b;
}

/* COSE r||s into a DER ECDSA-Sig-Value. NULL when the length is wrong. */
static uint8_t *ecdsa_der(const uint8_t *sig, size_t len, size_t half, size_t *der_len) {
    if (len != 2 * half) return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    uint8_t *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        if (n <= 0) der = NULL;
        else *der_len = (size_t)n;
    }
    BN_free(r), BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static int verify_sig(const alg_info *a, EVP_PKEY *key, const uint8_t *tbs, size_t tbs_len,
                      const uint8_t *sig, size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;
    uint8_t *der = NULL;
    if (!ctx) return 0;
    int type = EVP_PKEY_get_base_id(key);
    if ((a->kind == 0 && type != EVP_PKEY_EC) || (a->kind == 1 && type != EVP_PKEY_RSA && type != EVP_PKEY_RSA_PSS) ||
        (a->kind == 2 && type != EVP_PKEY_ED25519))
        goto done;
    if (EVP_DigestVerifyInit(ctx, &pctx, a->md ? a->md() : NULL, NULL, key) != 1) goto done;
    if (a->kind == 1) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) != 1)
            goto done;
    }
    if (a->kind == 0) {
        size_t der_len = 0;
        der = ecdsa_der(sig, sig_len, a->ec_len, &der_len);
        if (!der) goto done;
        sig = der, sig_len = der_len;
    }
    ok = EVP_DigestVerify(ctx, sig, sig_len, tbs, tbs_len) == 1;
done:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static void name_text(X509_NAME *name, char *out, size_t cap) {
    char cn[128] = "", o[128] = "";
    X509_NAME_get_text_by_NID(name, NID_commonName, cn, sizeof cn);
    X509_NAME_get_text_by_NID(name, NID_organizationName, o, sizeof o);
    if (cn[0] && o[0]) snprintf(out, cap, "%s, %s", cn, o);
    else snprintf(out, cap, "%s", cn[0] ? cn : o);
}

/* The certificates of an x5chain value (one bstr, or an array of them). */
static fs_err read_chain(const fs_cbor_doc *d, uint32_t v, STACK_OF(X509) *chain, fs_msg *msg) {
    v = fs_cbor_untag(d, v);
    uint32_t n = 1, c = v;
    if (FS_CBOR_AT(d, v)->type == FS_CBOR_ARRAY) {
        n = FS_CBOR_AT(d, v)->count;
        c = FS_CBOR_AT(d, v)->first;
        if (n == 0) return fs_fail(msg, FS_ERR_FORMAT, "COSE x5chain is empty");
    }
    if (n > PROV_MAX_CHAIN)
        return fs_fail(msg, FS_ERR_LIMIT, "COSE x5chain has %u certificates; at most %d are read", n, PROV_MAX_CHAIN);
    for (uint32_t i = 0; i < n && c != FS_CBOR_NONE; i++, c = FS_CBOR_AT(d, c)->next) {
        const fs_cbor_item *it = FS_CBOR_AT(d, c);
        if (it->type != FS_CBOR_BYTES) return fs_fail(msg, FS_ERR_FORMAT, "COSE x5chain entry %u is not a byte string", i);
        const unsigned char *p = it->str;
        X509 *x = d2i_X509(NULL, &p, (long)it->len);
        if (!x || p != it->str + it->len) {
            X509_free(x);
            ERR_clear_error();
            return fs_fail(msg, FS_ERR_FORMAT, "COSE x5chain certificate %u is not DER X.509", i);
        }
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            return fs_fail(msg, FS_ERR_NOMEM, "out of memory reading x5chain");
        }
    }
    return FS_OK;
}

/* Verifies a time stamp token's CMS signature with OpenSSL's TS verifier against a store of
 * `anchors` (taking them as trust anchors, partial chains allowed, validity periods not
 * checked: the token is judged as of its own time). 1 verified, 0 not (reason in err). */
static int tst_verify(PKCS7 *p7, STACK_OF(X509) *anchors, char *err, size_t cap) {
    X509_STORE *st = X509_STORE_new();
    TS_VERIFY_CTX *vc = TS_VERIFY_CTX_new();
    int ok = 0;
    if (!st || !vc) {
        X509_STORE_free(st);
        goto done;
    }
    for (int i = 0; i < sk_X509_num(anchors); i++) X509_STORE_add_cert(st, sk_X509_value(anchors, i));
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
    TS_VERIFY_CTX_set_store(vc, st); /* the context owns it now */
    TS_VERIFY_CTX_set_flags(vc, TS_VFY_SIGNATURE);
    ok = TS_RESP_verify_token(vc, p7) == 1;
    if (!ok) {
        unsigned long e = ERR_peek_last_error();
        snprintf(err, cap, "%s", e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error"
                                   : "unknown error");
    }
done:
    TS_VERIFY_CTX_free(vc);
    ERR_clear_error();
    return ok;
}

/* The token's signature (against its own signing certificate) and its authority's chain
 * (against the trust list). */
static void judge_tst(PKCS7 *p7, const fs_prov_trust *trust, prov_cose_result *res) {
    res->tst_signature = res->tst_trust = -1;
    if (!PKCS7_type_is_signed(p7)) return;
    STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
    ERR_clear_error();
    if (!signers || sk_X509_num(signers) != 1) {
        snprintf(res->tst_error, sizeof res->tst_error, "the time stamp token names no single signer");
        res->tst_signature = 0;
        sk_X509_free(signers);
        return;
    }
    res->tst_signature = tst_verify(p7, signers, res->tst_error, sizeof res->tst_error);
    sk_X509_free(signers);
    if (res->tst_signature != 1 || !trust) return;
    STACK_OF(X509) *anchors = X509_STORE_get1_all_certs(trust->store);
    res->tst_trust = anchors ? tst_verify(p7, anchors, res->tst_error, sizeof res->tst_error) : 0;
    sk_X509_pop_free(anchors, X509_free);
}

/* The first time stamp token of a sigTst/sigTst2 value: checks its imprint against tbs, reads
 * its time, and judges its signature and authority. */
static void check_tst(const fs_cbor_doc *d, uint32_t v, const uint8_t *tbs, size_t tbs_len,
                      const fs_prov_trust *trust, prov_cose_result *res) {
    res->has_tst = 1;
    res->tst_status = -1;
    res->tst_signature = res->tst_trust = -1;
    uint32_t toks = fs_cbor_map_get(d, v, "tstTokens");
    if (toks == FS_CBOR_NONE || FS_CBOR_AT(d, toks)->type != FS_CBOR_ARRAY || FS_CBOR_AT(d, toks)->count != 1)
        return; /* missing, or more than the single token allowed */
    uint32_t val = fs_cbor_map_get(d, fs_cbor_array_at(d, toks, 0), "val");
    if (val == FS_CBOR_NONE || FS_CBOR_AT(d, val)->type != FS_CBOR_BYTES) return;
    /* a time stamp token (v2, and most v1), or a whole TimeStampResp (some v1 writers) */
    const unsigned char *p = FS_CBOR_AT(d, val)->str;
    long plen = (long)FS_CBOR_AT(d, val)->len;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, plen);
    TS_TST_INFO *info = p7 ? PKCS7_to_TS_TST_INFO(p7) : NULL;
    if (!info) {
        p = FS_CBOR_AT(d, val)->str;
        TS_RESP *resp = d2i_TS_RESP(NULL, &p, plen);
        TS_TST_INFO *ri = resp ? TS_RESP_get_tst_info(resp) : NULL;
        if (ri) info = TS_TST_INFO_dup(ri);
        if (ri && TS_RESP_get_token(resp)) {
            PKCS7_free(p7);
            p7 = PKCS7_dup(TS_RESP_get_token(resp));
        }
        TS_RESP_free(resp);
    }
    if (info) {
        TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(info);
        X509_ALGOR *algo = TS_MSG_IMPRINT_get_algo(mi);
        ASN1_OCTET_STRING *want = TS_MSG_IMPRINT_get_msg(mi);
        const ASN1_OBJECT *obj = NULL;
        X509_ALGOR_get0(&obj, NULL, NULL, algo);
        const EVP_MD *md = obj ? EVP_get_digestbyobj(obj) : NULL;
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned int got_len = 0;
        if (md && EVP_Digest(tbs, tbs_len, got, &got_len, md, NULL) == 1) {
            res->tst_status = (int)got_len == ASN1_STRING_length(want) &&
                              memcmp(got, ASN1_STRING_get0_data(want), got_len) == 0;
        }
        const ASN1_GENERALIZEDTIME *gt = TS_TST_INFO_get_time(info);
        struct tm tm;
        if (gt && ASN1_TIME_to_tm(gt, &tm) == 1) {
            res->signed_at = timegm(&tm);
            strftime(res->time, sizeof res->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
        } else {
            res->tst_status = -1; /* a time that is no time (minute 63, ...): malformed */
        }
        if (p7) judge_tst(p7, trust, res);
    }
    TS_TST_INFO_free(info);
    PKCS7_free(p7);
    ERR_clear_error();
}

#define OCSP_MAX_RESPONSES 8

/* One embedded OCSP response about leaf: 1 good, 2 revoked, -1 anything else (why in res). */
static int ocsp_one(const uint8_t *der, size_t len, STACK_OF(X509) *chain, time_t at,
                    prov_cose_result *res) {
    int out = -1;
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = resp && OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL
                             ? OCSP_response_get1_basic(resp)
                             : NULL;
    X509 *leaf = sk_X509_value(chain, 0), *issuer = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
    OCSP_CERTID *id = issuer ? OCSP_cert_to_id(NULL, leaf, issuer) : NULL;
    X509_STORE *st = X509_STORE_new();
    const char *why = NULL;
    if (!bs) why = "an OCSP response that is not a successful basic response";
    else if (!id || !st) why = "no issuer certificate in the chain to check the OCSP response with";
    if (!why) {
        /* the response must be signed by the issuer, or by a responder the issuer delegated */
        for (int i = 1; i < sk_X509_num(chain); i++) X509_STORE_add_cert(st, sk_X509_value(chain, i));
        X509_VERIFY_PARAM *vp = X509_STORE_get0_param(st);
        X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
        if (OCSP_basic_verify(bs, chain, st, 0) != 1) why = "the OCSP response's signature does not verify against the chain";
    }
    int status = -1, reason = 0;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    if (!why && OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd) != 1)
        why = "the OCSP response is about another certificate";
    if (!why) {
        if (status == V_OCSP_CERTSTATUS_REVOKED && (!rev || X509_cmp_time(rev, &at) <= 0)) out = 2;
        else if (status == V_OCSP_CERTSTATUS_UNKNOWN) why = "the OCSP responder does not know the certificate";
        else if (X509_cmp_time(thisupd, &at) > 0 || (nextupd && X509_cmp_time(nextupd, &at) < 0))
            why = "the OCSP response was not current at the signing time";
        else out = 1;
    }
    if (why) snprintf(res->ocsp_error, sizeof res->ocsp_error, "%s", why);
    X509_STORE_free(st);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return out;
}

/* rVals.ocspVals of the unprotected header: the first response that decides (good or revoked)
 * wins; without one, -1 with the last reason. At most OCSP_MAX_RESPONSES are looked at. */
static void check_ocsp(const fs_cbor_doc *d, uint32_t unprot, STACK_OF(X509) *chain,
                       prov_cose_result *res) {
    uint32_t rv = fs_cbor_map_get(d, unprot, "rVals");
    uint32_t ov = rv == FS_CBOR_NONE ? FS_CBOR_NONE : fs_cbor_map_get(d, rv, "ocspVals");
    if (ov == FS_CBOR_NONE) return;
    res->ocsp = -1;
    snprintf(res->ocsp_error, sizeof res->ocsp_error, "rVals.ocspVals holds no OCSP response");
    if (FS_CBOR_AT(d, ov)->type != FS_CBOR_ARRAY) return;
    time_t at = res->signed_at ? res->signed_at : time(NULL);
    uint32_t n = FS_CBOR_AT(d, ov)->count;
    for (uint32_t i = 0; i < n && i < OCSP_MAX_RESPONSES; i++) {
        uint32_t it = fs_cbor_array_at(d, ov, i);
        if (it == FS_CBOR_NONE || FS_CBOR_AT(d, it)->type != FS_CBOR_BYTES) continue;
        int r = ocsp_one(FS_CBOR_AT(d, it)->str, FS_CBOR_AT(d, it)->len, chain, at, res);
        if (r > 0) {
            res->ocsp = r;
            res->ocsp_error[0] = 0;
            return;
        }
    }
}

static void judge_chain(STACK_OF(X509) *chain, const fs_prov_trust *trust, prov_cose_result *res) {
    X509 *leaf = sk_X509_value(chain, 0);
    time_t at = res->signed_at ? res->signed_at : time(NULL);
    res->in_validity = X509_cmp_time(X509_get0_notBefore(leaf), &at) < 0 &&
                       X509_cmp_time(X509_get0_notAfter(leaf), &at) > 0;
    if (!trust) {
        res->trust = -1;
        return;
    }
    res->trust = 0;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *rest = sk_X509_new_null();
    if (!ctx || !rest) goto done;
    for (int i = 1; i < sk_X509_num(chain); i++) sk_X509_push(rest, sk_X509_value(chain, i));
    if (X509_STORE_CTX_init(ctx, trust->store, leaf, rest) != 1) goto done;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
    X509_VERIFY_PARAM_set_depth(param, PROV_MAX_CHAIN);
    if (X509_verify_cert(ctx) == 1) res->trust = 1;
    else snprintf(res->trust_error, sizeof res->trust_error, "%s",
                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
done:
    sk_X509_free(rest);
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
}

fs_err prov_cose_verify(const uint8_t *sig, size_t sig_len, const uint8_t *payload,
                        size_t payload_len, const fs_prov_trust *trust, prov_cose_result *res,
                        fs_msg *msg) {
    memset(res, 0, sizeof *res);
    res->trust = -1;
    fs_cbor_doc d = {0}, ph = {0};
    STACK_OF(X509) *chain = NULL;
    uint8_t *tbs = NULL, *ctbs = NULL;
    fs_err e = fs_cbor_parse(sig, sig_len, NULL, &d, msg);
    if (e) {
        fs_msg_prefix(msg, "COSE_Sign1: ");
        return e == FS_ERR_NOMEM ? e : FS_ERR_FORMAT;
    }
    uint32_t root = fs_cbor_untag(&d, 0);
    if (root == FS_CBOR_NONE || FS_CBOR_AT(&d, root)->type != FS_CBOR_ARRAY || FS_CBOR_AT(&d, root)->count != 4) {
        e = fs_fail(msg, FS_ERR_FORMAT, "COSE_Sign1 is not an array of four items");
        goto done;
    }
    uint32_t prot = fs_cbor_array_at(&d, root, 0), unprot = fs_cbor_array_at(&d, root, 1),
             sigv = fs_cbor_array_at(&d, root, 3);
    if (FS_CBOR_AT(&d, prot)->type != FS_CBOR_BYTES || FS_CBOR_AT(&d, unprot)->type != FS_CBOR_MAP ||
        FS_CBOR_AT(&d, sigv)->type != FS_CBOR_BYTES) {
        e = fs_fail(msg, FS_ERR_FORMAT, "COSE_Sign1 headers or signature of the wrong type");
        goto done;
    }
    const fs_cbor_item *pi = FS_CBOR_AT(&d, prot);
    if (pi->len && (e = fs_cbor_parse(pi->str, pi->len, NULL, &ph, msg))) {
        fs_msg_prefix(msg, "COSE protected header: ");
        if (e != FS_ERR_NOMEM) e = FS_ERR_FORMAT;
        goto done;
    }
    int64_t alg_id = 0;
    if (!ph.n || fs_cbor_int(&ph, fs_cbor_map_get_int(&ph, 0, 1), &alg_id) != 0) {
        e = fs_fail(msg, FS_ERR_FORMAT, "COSE protected header has no algorithm");
        goto done;
    }
    res->alg = (int)alg_id;
    const alg_info *a = find_alg(alg_id);
    if (!a) {
        e = fs_fail(msg, FS_ERR_UNSUPPORTED, "COSE algorithm %lld is not supported", (long long)alg_id);
        goto done;
    }
    snprintf(res->alg_name, sizeof res->alg_name, "%s", a->name);
    /* x5chain: label 33, protected (current) or unprotected (older), or "x5chain" (oldest) */
    const fs_cbor_doc *xd = &ph;
    uint32_t x5 = fs_cbor_map_get_int(&ph, 0, 33);
    if (x5 == FS_CBOR_NONE) {
        xd = &d;
        x5 = fs_cbor_map_get_int(&d, unprot, 33);
        if (x5 == FS_CBOR_NONE) x5 = fs_cbor_map_get(&d, unprot, "x5chain");
    }
    if (x5 == FS_CBOR_NONE) {
        e = fs_fail(msg, FS_ERR_FORMAT, "COSE_Sign1 carries no x5chain certificate");
        goto done;
    }
    if (!(chain = sk_X509_new_null())) {
        e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((e = read_chain(xd, x5, chain, msg))) goto done;
    X509 *leaf = sk_X509_value(chain, 0);
    name_text(X509_get_subject_name(leaf), res->signer, sizeof res->signer);
    name_text(X509_get_issuer_name(leaf), res->issuer, sizeof res->issuer);
    BIGNUM *sn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *dec = sn ? BN_bn2dec(sn) : NULL;
    if (dec) snprintf(res->serial, sizeof res->serial, "%s", dec);
    OPENSSL_free(dec);
    BN_free(sn);

    size_t tbs_len;
    if (!(tbs = sig_structure("Signature1", pi->str, pi->len, payload, payload_len, &tbs_len))) {
        e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
        goto done;
    }
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    res->verified = key && verify_sig(a, key, tbs, tbs_len, FS_CBOR_AT(&d, sigv)->str, FS_CBOR_AT(&d, sigv)->len);

    uint32_t tst = fs_cbor_map_get(&d, unprot, "sigTst2");
    if (tst != FS_CBOR_NONE) { /* over the signature, CBOR-encoded as a byte string */
        const fs_cbor_item *si = FS_CBOR_AT(&d, sigv);
        size_t ctbs_len;
        if (!(ctbs = sig_structure("CounterSignature", pi->str, pi->len, sig + si->off, si->end - si->off, &ctbs_len))) {
            e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            goto done;
        }
        check_tst(&d, tst, ctbs, ctbs_len, trust, res);
    } else if ((tst = fs_cbor_map_get(&d, unprot, "sigTst")) != FS_CBOR_NONE) {
        size_t ctbs_len;
        if (!(ctbs = sig_structure("CounterSignature", pi->str, pi->len, payload, payload_len, &ctbs_len))) {
            e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            goto done;
        }
        check_tst(&d, tst, ctbs, ctbs_len, trust, res);
    }
    judge_chain(chain, trust, res);
    check_ocsp(&d, unprot, chain, res);
done:
    free(tbs);
    free(ctbs);
    sk_X509_pop_free(chain, X509_free);
    fs_cbor_doc_free(&ph);
    fs_cbor_doc_free(&d);
    return e;
}
