/* Tests of provenance/: the CBOR and JUMBF readers on good and hostile input, COSE_Sign1
 * verification with keys and certificates made here, whole forged C2PA files (one byte
 * changed in the right place must give the right status code), the unsigned hints, and the
 * reference SDK's own test images (shared data, skipped when absent) with the outcomes its
 * tests expect (docs/provenance.md cites each). */
#include "fs_test.h"

#include <dirent.h>
#include <time.h>

#include "fakescope/cbor.h"
#include "fakescope/jumbf.h"
#include "fakescope/provenance.h"
#include "provenance/prov_internal.h"
#include "tools/c2pa_forge.h"

#include <openssl/ocsp.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

/* ---- CBOR ---- */
static void cbor_basics(void **state) {
    (void)state;
    /* {"a": 1, "b": [-2, h'0102', "xy"], 3: true, "f": 1.5} */
    static const uint8_t doc[] = {0xa4, 0x61, 'a', 0x01, 0x61, 'b', 0x83, 0x21, 0x42, 0x01, 0x02,
                                  0x62, 'x', 'y', 0x03, 0xf5, 0x61, 'f', 0xf9, 0x3e, 0x00};
    fs_cbor_doc d;
    fs_msg m;
    assert_int_equal(fs_cbor_parse(doc, sizeof doc, NULL, &d, &m), FS_OK);
    assert_int_equal(FS_CBOR_AT(&d, 0)->type, FS_CBOR_MAP);
    assert_int_equal(FS_CBOR_AT(&d, 0)->count, 4);
    int64_t v;
    assert_int_equal(fs_cbor_int(&d, fs_cbor_map_get(&d, 0, "a"), &v), 0);
    assert_int_equal(v, 1);
    uint32_t b = fs_cbor_map_get(&d, 0, "b");
    assert_int_equal(FS_CBOR_AT(&d, b)->count, 3);
    assert_int_equal(fs_cbor_int(&d, fs_cbor_array_at(&d, b, 0), &v), 0);
    assert_int_equal(v, -2);
    uint32_t bs = fs_cbor_array_at(&d, b, 1);
    assert_int_equal(FS_CBOR_AT(&d, bs)->type, FS_CBOR_BYTES);
    assert_int_equal(FS_CBOR_AT(&d, bs)->len, 2);
    assert_true(fs_cbor_text_is(&d, fs_cbor_array_at(&d, b, 2), "xy"));
    assert_int_equal(fs_cbor_array_at(&d, b, 3), FS_CBOR_NONE);
    uint32_t t = fs_cbor_map_get_int(&d, 0, 3);
    assert_int_equal(FS_CBOR_AT(&d, t)->type, FS_CBOR_SIMPLE);
    assert_int_equal(FS_CBOR_AT(&d, t)->u, 21);
    assert_true(FS_CBOR_AT(&d, fs_cbor_map_get(&d, 0, "f"))->f == 1.5);
    assert_int_equal(fs_cbor_map_get(&d, 0, "zz"), FS_CBOR_NONE);
    /* encoded spans: the "b" array covers its own bytes */
    assert_int_equal(FS_CBOR_AT(&d, b)->off, 6);
    assert_int_equal(FS_CBOR_AT(&d, b)->end, 14);
    fs_cbor_doc_free(&d);
    /* indefinite array of two */
    static const uint8_t indef[] = {0x9f, 0x01, 0x02, 0xff};
    assert_int_equal(fs_cbor_parse(indef, sizeof indef, NULL, &d, &m), FS_OK);
    assert_int_equal(FS_CBOR_AT(&d, 0)->count, 2);
    fs_cbor_doc_free(&d);
    /* heads round-trip */
    uint8_t h[9];
    assert_int_equal(fs_cbor_put_head(h, 2, 23), 1);
    assert_int_equal(fs_cbor_put_head(h, 2, 24), 2);
    assert_int_equal(fs_cbor_put_head(h, 2, 70000), 5);
    assert_int_equal(h[0], 0x5a);
}

static void cbor_hostile(void **state) {
    (void)state;
    fs_cbor_doc d;
    fs_msg m;
    /* a million nested arrays, definite and indefinite: refused at the depth limit */
    size_t n = 1000000;
    uint8_t *deep = malloc(n + 1);
    assert_non_null(deep);
    memset(deep, 0x81, n);
    deep[n] = 0x00;
    double t0 = fs_now_ms();
    assert_int_equal(fs_cbor_parse(deep, n + 1, NULL, &d, &m), FS_ERR_LIMIT);
    assert_non_null(strstr(m.text, "nested deeper than 64"));
    memset(deep, 0x9f, n);
    assert_int_equal(fs_cbor_parse(deep, n + 1, NULL, &d, &m), FS_ERR_LIMIT);
    assert_true(fs_now_ms() - t0 < 1000);
    assert_null(d.items);
    free(deep);
    /* lengths past the end: a 4 GiB byte string, an array of 2^64-1 items, a map of 2^32 */
    static const uint8_t big_str[] = {0x5a, 0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(fs_cbor_parse(big_str, sizeof big_str, NULL, &d, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "runs past the end"));
    static const uint8_t big_arr[] = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(fs_cbor_parse(big_arr, sizeof big_arr, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t big_map[] = {0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(fs_cbor_parse(big_map, sizeof big_map, NULL, &d, &m), FS_ERR_FORMAT);
    /* truncated heads and items, trailing bytes, reserved heads, stray break, odd maps */
    static const uint8_t trunc_head[] = {0x19, 0x01};
    assert_int_equal(fs_cbor_parse(trunc_head, sizeof trunc_head, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t trunc_arr[] = {0x83, 0x01, 0x02};
    assert_int_equal(fs_cbor_parse(trunc_arr, sizeof trunc_arr, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t trailing[] = {0x01, 0x02};
    assert_int_equal(fs_cbor_parse(trailing, sizeof trailing, NULL, &d, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "trailing"));
    static const uint8_t reserved[] = {0x1c};
    assert_int_equal(fs_cbor_parse(reserved, 1, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t brk[] = {0xff};
    assert_int_equal(fs_cbor_parse(brk, 1, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t odd_map[] = {0xbf, 0x01, 0xff};
    assert_int_equal(fs_cbor_parse(odd_map, sizeof odd_map, NULL, &d, &m), FS_ERR_FORMAT);
    static const uint8_t indef_str[] = {0x5f, 0x41, 0x00, 0xff};
    assert_int_equal(fs_cbor_parse(indef_str, sizeof indef_str, NULL, &d, &m), FS_ERR_UNSUPPORTED);
    assert_int_equal(fs_cbor_parse(NULL, 0, NULL, &d, &m), FS_ERR_FORMAT);
    /* the item limit */
    static const uint8_t five[] = {0x84, 0x01, 0x02, 0x03, 0x04};
    fs_cbor_limits lim = {.max_items = 4};
    assert_int_equal(fs_cbor_parse(five, sizeof five, &lim, &d, &m), FS_ERR_LIMIT);
    lim.max_items = 5;
    assert_int_equal(fs_cbor_parse(five, sizeof five, &lim, &d, &m), FS_OK);
    fs_cbor_doc_free(&d);
}

/* ---- JUMBF ---- */
static void jumbf_tree_and_truncation(void **state) {
    (void)state;
    forge_buf inner = {0}, cbor = {0}, store = {0}, as = {0};
    fb_head(&cbor, 0, 7);
    fb_cbor_assertion(&as, "c2pa.test", &cbor);
    fb_super(&inner, "c2as", "c2pa.assertions", as.p, as.n);
    forge_buf man = {0};
    fb_super(&man, "c2ma", "urn:uuid:m1", inner.p, inner.n);
    fb_super(&store, "c2pa", "c2pa", man.p, man.n);
    fs_jumbf_tree t;
    fs_msg m;
    assert_int_equal(fs_jumbf_parse(store.p, store.n, &t, &m), FS_OK);
    assert_string_equal(t.boxes[0].label, "c2pa");
    assert_memory_equal(t.boxes[0].uuid, "c2pa", 4);
    uint32_t a = fs_jumbf_resolve(&t, 0, "/c2pa/urn:uuid:m1/c2pa.assertions/c2pa.test");
    assert_int_not_equal(a, FS_JUMBF_NONE);
    uint32_t mb = fs_jumbf_child(&t, 0, "urn:uuid:m1");
    assert_int_equal(fs_jumbf_resolve(&t, mb, "c2pa.assertions/c2pa.test"), a);
    assert_int_equal(fs_jumbf_resolve(&t, mb, "c2pa.assertions/nope"), FS_JUMBF_NONE);
    uint32_t cb = fs_jumbf_content(&t, a, FS_JUMBF_TYPE('c', 'b', 'o', 'r'));
    assert_int_equal(t.boxes[cb].payload_len, 1);
    assert_int_equal(t.boxes[cb].payload[0], 7);
    fs_jumbf_tree_free(&t);
    /* every truncation of the store is a clear format error */
    for (size_t cut = 0; cut < store.n; cut++) {
        fs_err e = fs_jumbf_parse(store.p, cut, &t, &m);
        assert_int_equal(e, FS_ERR_FORMAT);
        assert_true(strstr(m.text, "JUMBF") != NULL);
        assert_null(t.boxes);
    }
    /* a child length past its parent: the manifest box (after the root's 8-byte header and its
     * 30-byte description) claims the whole store */
    forge_buf bad = {0};
    fb_put(&bad, store.p, store.n);
    assert_memory_equal(bad.p + 38 + 4, "jumb", 4);
    bad.p[38] = (uint8_t)(store.n >> 24), bad.p[39] = (uint8_t)(store.n >> 16);
    bad.p[40] = (uint8_t)(store.n >> 8), bad.p[41] = (uint8_t)store.n;
    assert_int_equal(fs_jumbf_parse(bad.p, bad.n, &t, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "runs past its container"));
    fb_free(&bad);
    fb_free(&inner), fb_free(&cbor), fb_free(&store), fb_free(&as), fb_free(&man);
}

static void jumbf_hostile(void **state) {
    (void)state;
    fs_jumbf_tree t;
    fs_msg m;
    /* superboxes nested 100000 deep: refused at FS_JUMBF_MAX_DEPTH */
    size_t depth = 100000, per = 8 + 8 + 17;
    size_t len = depth * per;
    uint8_t *p = calloc(len, 1);
    assert_non_null(p);
    for (size_t i = 0; i < depth; i++) {
        uint8_t *b = p + i * per;
        uint32_t l = (uint32_t)(len - i * per);
        b[0] = (uint8_t)(l >> 24), b[1] = (uint8_t)(l >> 16), b[2] = (uint8_t)(l >> 8), b[3] = (uint8_t)l;
        memcpy(b + 4, "jumb", 4);
        b[11] = 25, memcpy(b + 12, "jumd", 4);
    }
    assert_int_equal(fs_jumbf_parse(p, len, &t, &m), FS_ERR_LIMIT);
    assert_non_null(strstr(m.text, "deeper"));
    free(p);
    /* LBox smaller than its header, XLBox beyond the data, superbox without description */
    static const uint8_t small[] = {0, 0, 0, 4, 'j', 'u', 'm', 'b'};
    assert_int_equal(fs_jumbf_parse(small, sizeof small, &t, &m), FS_ERR_FORMAT);
    static const uint8_t xl[] = {0, 0, 0, 1, 'j', 'u', 'm', 'b', 0xff, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(fs_jumbf_parse(xl, sizeof xl, &t, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "runs past"));
    static const uint8_t nodesc[] = {0, 0, 0, 16, 'j', 'u', 'm', 'b', 0, 0, 0, 8, 'c', 'b', 'o', 'r'};
    assert_int_equal(fs_jumbf_parse(nodesc, sizeof nodesc, &t, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "description"));
    /* a label without its NUL */
    static const uint8_t nolabel[] = {0, 0, 0, 35, 'j', 'u', 'm', 'b', 0, 0, 0, 27, 'j', 'u', 'm', 'd',
                                      'c', '2', 'p', 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b'};
    assert_int_equal(fs_jumbf_parse(nolabel, sizeof nolabel, &t, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "NUL"));
}

/* ---- COSE ---- */
static void cose_chain_of_1000(void **state) {
    (void)state;
    /* protected {1: -7, 33: [1000 x h'00']}: refused before any certificate is parsed */
    forge_buf prot = {0}, cose = {0};
    fb_head(&prot, 5, 2), fb_head(&prot, 0, 1), fb_head(&prot, 1, 6), fb_head(&prot, 0, 33), fb_head(&prot, 4, 1000);
    for (int i = 0; i < 1000; i++) fb_bytes(&prot, "\x30\x00", 2);
    fb_head(&cose, 6, 18), fb_head(&cose, 4, 4), fb_bytes(&cose, prot.p, prot.n), fb_head(&cose, 5, 0);
    fb_u8(&cose, 0xf6), fb_bytes(&cose, "sig", 3);
    prov_cose_result r;
    fs_msg m;
    double t0 = fs_now_ms();
    assert_int_equal(prov_cose_verify(cose.p, cose.n, (const uint8_t *)"x", 1, NULL, &r, &m), FS_ERR_LIMIT);
    assert_non_null(strstr(m.text, "1000 certificates"));
    assert_true(fs_now_ms() - t0 < 1000);
    fb_free(&prot), fb_free(&cose);
    /* other malformed structures */
    static const uint8_t not_array[] = {0xa0};
    assert_int_equal(prov_cose_verify(not_array, 1, (const uint8_t *)"x", 1, NULL, &r, &m), FS_ERR_FORMAT);
    static const uint8_t no_alg[] = {0x84, 0x41, 0xa0, 0xa0, 0xf6, 0x40};
    assert_int_equal(prov_cose_verify(no_alg, sizeof no_alg, (const uint8_t *)"x", 1, NULL, &r, &m), FS_ERR_FORMAT);
    static const uint8_t bad_alg[] = {0x84, 0x43, 0xa1, 0x01, 0x20, 0xa0, 0xf6, 0x40};
    assert_int_equal(prov_cose_verify(bad_alg, sizeof bad_alg, (const uint8_t *)"x", 1, NULL, &r, &m), FS_ERR_UNSUPPORTED);
    static const uint8_t no_x5[] = {0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf6, 0x40};
    assert_int_equal(prov_cose_verify(no_x5, sizeof no_x5, (const uint8_t *)"x", 1, NULL, &r, &m), FS_ERR_FORMAT);
    assert_non_null(strstr(m.text, "x5chain"));
}

static void cose_algorithms(void **state) {
    (void)state;
    char dir[64], pem[128], other_pem[128];
    assert_int_equal(fs_test_mkdtemp(dir, sizeof dir, "prov"), 0);
    static const uint8_t claim[] = "a claim's bytes";
    forge_signer other;
    assert_int_equal(forge_signer_new(&other, FORGE_ES256, "Someone Else"), 0);
    snprintf(other_pem, sizeof other_pem, "%s/other.pem", dir);
    assert_int_equal(forge_signer_pem(&other, other_pem), 0);
    static const forge_alg algs[] = {FORGE_ES256, FORGE_ED25519, FORGE_PS256};
    static const char *const names[] = {"ES256", "Ed25519", "PS256"};
    for (size_t i = 0; i < 3; i++) {
        forge_signer s;
        assert_int_equal(forge_signer_new(&s, algs[i], "Forge Signer"), 0);
        snprintf(pem, sizeof pem, "%s/signer%zu.pem", dir, i);
        assert_int_equal(forge_signer_pem(&s, pem), 0);
        fs_prov_trust *trust = NULL, *wrong = NULL;
        fs_msg m;
        assert_int_equal(fs_prov_trust_load(pem, &trust, &m), FS_OK);
        assert_int_equal(fs_prov_trust_load(other_pem, &wrong, &m), FS_OK);
        forge_buf cose = {0};
        forge_cose(&cose, &s, claim, sizeof claim);
        prov_cose_result r;
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, trust, &r, &m), FS_OK);
        assert_string_equal(r.alg_name, names[i]);
        assert_int_equal(r.verified, 1);
        assert_int_equal(r.trust, 1);
        assert_int_equal(r.in_validity, 1);
        assert_string_equal(r.signer, "Forge Signer, fakescope tests");
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, wrong, &r, &m), FS_OK);
        assert_int_equal(r.verified, 1);
        assert_int_equal(r.trust, 0);
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
        assert_int_equal(r.trust, -1);
        /* another payload, or one changed signature byte: no longer verified */
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim - 1, NULL, &r, &m), FS_OK);
        assert_int_equal(r.verified, 0);
        cose.p[cose.n - 5] ^= 1;
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
        assert_int_equal(r.verified, 0);
        fb_free(&cose);
        fs_prov_trust_free(trust), fs_prov_trust_free(wrong);
        forge_signer_free(&s);
    }
    forge_signer_free(&other);
    /* a trust list without certificates, and a missing one */
    fs_prov_trust *t = NULL;
    fs_msg m;
    snprintf(pem, sizeof pem, "%s/empty.pem", dir);
    assert_int_equal(fs_write_file(pem, "nothing\n", 8, &m), FS_OK);
    assert_int_equal(fs_prov_trust_load(pem, &t, &m), FS_ERR_FORMAT);
    assert_null(t);
    snprintf(pem, sizeof pem, "%s/absent.pem", dir);
    assert_int_equal(fs_prov_trust_load(pem, &t, &m), FS_ERR_NOTFOUND);
    fs_test_rmtree(dir);
}

/* ---- whole forged files ---- */
static const char *const trained = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

static void forged_files(void **state) {
    (void)state;
    char dir[64], pem[128];
    assert_int_equal(fs_test_mkdtemp(dir, sizeof dir, "prov"), 0);
    forge_signer s;
    assert_int_equal(forge_signer_new(&s, FORGE_ES256, "Forge Signer"), 0);
    snprintf(pem, sizeof pem, "%s/signer.pem", dir);
    assert_int_equal(forge_signer_pem(&s, pem), 0);
    fs_prov_trust *trust = NULL;
    fs_msg m;
    assert_int_equal(fs_prov_trust_load(pem, &trust, &m), FS_OK);
    fs_prov_options opts = {.trust = trust};
    for (int split = 0; split < 2; split++) {
        forge_opts fo = {.signer = &s, .source_type = trained, .split = split};
        forge_buf f = {0};
        forge_jpeg(&f, &fo, "the pixels");
        fs_prov_report r;
        /* intact: trusted, with the AI statement */
        assert_int_equal(fs_prov_read(f.p, f.n, &opts, &r, &m), FS_OK);
        assert_string_equal(r.mime, "image/jpeg");
        assert_int_equal(r.n_manifests, 1);
        assert_int_equal(r.state, FS_PROV_TRUSTED);
        assert_true(fs_prov_has_status(&r, -1, "claimSignature.validated"));
        assert_true(fs_prov_has_status(&r, -1, "assertion.dataHash.match"));
        assert_true(fs_prov_has_status(&r, -1, "assertion.hashedURI.match"));
        assert_true(fs_prov_has_status(&r, -1, "signingCredential.trusted"));
        assert_non_null(r.ai_source_type);
        assert_string_equal(r.ai_source_type, trained);
        assert_string_equal(r.manifests[0].claim_generator, "fakescope-forge/1.0");
        assert_string_equal(r.manifests[0].signer, "Forge Signer, fakescope tests");
        json_t *j = fs_prov_report_json(&r);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "trusted");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ai_generated"), "signed")), trained);
        json_decref(j);
        fs_prov_report_free(&r);
        /* without a trust list: valid, not trusted */
        assert_int_equal(fs_prov_read(f.p, f.n, NULL, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_VALID);
        assert_false(fs_prov_has_status(&r, -1, "signingCredential.untrusted"));
        fs_prov_report_free(&r);
        /* a pixel byte changed: the data hash fails, the signature still holds */
        forge_buf g = {0};
        fb_put(&g, f.p, f.n);
        uint8_t *px = memmem(g.p, g.n, "the pixels", 10);
        px[4] = 'P';
        assert_int_equal(fs_prov_read(g.p, g.n, &opts, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_INVALID);
        assert_true(fs_prov_has_status(&r, -1, "assertion.dataHash.mismatch"));
        assert_true(fs_prov_has_status(&r, -1, "claimSignature.validated"));
        fs_prov_report_free(&r);
        /* an assertion changed: its hashed URI fails */
        memcpy(g.p, f.p, f.n);
        uint8_t *act = memmem(g.p, g.n, "c2pa.created", 12);
        act[11] = 'x';
        assert_int_equal(fs_prov_read(g.p, g.n, &opts, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_INVALID);
        assert_true(fs_prov_has_status(&r, -1, "assertion.hashedURI.mismatch"));
        fs_prov_report_free(&r);
        /* the claim changed: the signature fails */
        memcpy(g.p, f.p, f.n);
        uint8_t *gen = memmem(g.p, g.n, "fakescope-forge", 15);
        gen[0] = 'F';
        assert_int_equal(fs_prov_read(g.p, g.n, &opts, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_INVALID);
        assert_true(fs_prov_has_status(&r, -1, "claimSignature.mismatch"));
        fs_prov_report_free(&r);
        /* every truncation: a report or a clear error, never a crash */
        for (size_t cut = 0; cut < f.n; cut += 7) {
            fs_err e = fs_prov_read(f.p, cut, &opts, &r, &m);
            if (e) assert_true(e == FS_ERR_UNSUPPORTED);
            else assert_true(r.state == FS_PROV_NONE || r.state == FS_PROV_INVALID || cut == f.n);
            fs_prov_report_free(&r);
        }
        fb_free(&g);
        fb_free(&f);
    }
    fs_prov_trust_free(trust);
    forge_signer_free(&s);
    fs_test_rmtree(dir);
}

/* ---- hints ---- */
static void unsigned_hints(void **state) {
    (void)state;
    static const char xmp[] =
        "<x:xmpmeta><rdf:RDF><rdf:Description xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
        "  Iptc4xmpExt:DigitalSourceType=\"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia\"\n"
        "  xmp:CreatorTool = 'Gen &amp; Co'>\n"
        "<tiff:Software>Paint &lt;3</tiff:Software><dc:creator><rdf:Seq><rdf:li>Ann</rdf:li></rdf:Seq></dc:creator>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>";
    char out[128];
    size_t n = strlen(xmp);
    assert_true(prov_xmp_get((const uint8_t *)xmp, n, "Iptc4xmpExt:DigitalSourceType", out, sizeof out));
    assert_string_equal(out, trained);
    assert_true(prov_xmp_get((const uint8_t *)xmp, n, "xmp:CreatorTool", out, sizeof out));
    assert_string_equal(out, "Gen & Co");
    assert_true(prov_xmp_get((const uint8_t *)xmp, n, "tiff:Software", out, sizeof out));
    assert_string_equal(out, "Paint <3");
    assert_true(prov_xmp_get((const uint8_t *)xmp, n, "dc:creator", out, sizeof out));
    assert_string_equal(out, "Ann");
    assert_false(prov_xmp_get((const uint8_t *)xmp, n, "xmp:Rating", out, sizeof out));
    /* the namespace declaration "xmlns:Iptc4xmpExt" is not the property */
    assert_false(prov_xmp_get((const uint8_t *)xmp, 80, "Iptc4xmpExt:DigitalSourceType", out, sizeof out));
    /* every truncation is safe; a cut value is not reported */
    for (size_t cut = 0; cut < n; cut++) prov_xmp_get((const uint8_t *)xmp, cut, "tiff:Software", out, sizeof out);
    size_t in_value = (size_t)(strstr(xmp, "Gen &amp;") - xmp) + 3;
    assert_false(prov_xmp_get((const uint8_t *)xmp, in_value, "xmp:CreatorTool", out, sizeof out));

    /* EXIF IFD0 Software, big-endian, value outside the entry */
    static const uint8_t tiff[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x31, 0, 2, 0, 0, 0, 8,
                                   0, 0, 0, 26, 0, 0, 0, 0, 'G', 'e', 'n', 'A', 'I', ' ', '1', 0};
    assert_true(prov_exif_ascii(tiff, sizeof tiff, 0x0131, out, sizeof out));
    assert_string_equal(out, "GenAI 1");
    assert_false(prov_exif_ascii(tiff, sizeof tiff - 3, 0x0131, out, sizeof out));
    assert_false(prov_exif_ascii(tiff, sizeof tiff, 0x010E, out, sizeof out));

    /* a PNG with a generator's "parameters" text chunk and no C2PA */
    forge_buf png = {0};
    fb_put(&png, "\x89PNG\r\n\x1a\n", 8);
    static const char txt[] = "parameters\0a cat, Steps: 20, Sampler: Euler";
    fb_be32(&png, sizeof txt - 1), fb_put(&png, "tEXt", 4), fb_put(&png, txt, sizeof txt - 1), fb_be32(&png, 0);
    fb_be32(&png, 0), fb_put(&png, "IEND", 4), fb_be32(&png, 0);
    fs_prov_report r;
    fs_msg m;
    assert_int_equal(fs_prov_read(png.p, png.n, NULL, &r, &m), FS_OK);
    assert_int_equal(r.state, FS_PROV_NONE);
    assert_int_equal(r.n_hints, 1);
    assert_string_equal(r.hints[0].key, "parameters");
    assert_string_equal(r.hints[0].value, "a cat, Steps: 20, Sampler: Euler");
    assert_string_equal(r.ai_hint, "parameters");
    assert_null(r.ai_source_type);
    fs_prov_report_free(&r);
    fb_free(&png);
    /* not an image at all */
    assert_int_equal(fs_prov_read((const uint8_t *)"GIF89a....", 10, NULL, &r, &m), FS_ERR_UNSUPPORTED);
}

/* ---- the reference SDK's test images ---- */
typedef struct expect {
    const char *file;
    fs_prov_state state;  /* with the SDK's test anchors (certs/test_cert_root_bundle.pem) */
    const char *codes[4]; /* status codes the active manifest must carry */
    int ingredients;      /* ingredients of the active manifest, -1: not checked */
    const char *other;    /* a code some other manifest of the store must carry, or NULL */
    const char *hint;     /* an unsigned hint key that must be there, or NULL */
} expect;

/* One row per file of c2pa/images; docs/provenance.md cites the SDK test behind each. */
static const expect expects[] = {
    {"C.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match", "timeStamp.validated", "signingCredential.trusted"}, 0, NULL, NULL},
    {"CA.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match", "assertion.hashedURI.match"}, 1, NULL, NULL},
    {"CACA.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "ingredient.hashedURI.match"}, 1, "signingCredential.trusted", NULL},
    {"CACAE-uri-CA.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match"}, 1, "assertion.hashedURI.mismatch", NULL},
    {"CA_ct.jpg", FS_PROV_TRUSTED, {"timeStamp.malformed", "claimSignature.validated"}, 1, NULL, NULL},
    {"CIE-sig-CA.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match"}, 1, "claimSignature.mismatch", NULL},
    {"C_with_CAWG_data.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match"}, 0, NULL, NULL},
    {"E-sig-CA.jpg", FS_PROV_INVALID, {"claimSignature.mismatch", "timeStamp.mismatch"}, 1, NULL, NULL},
    {"IMG_0003.jpg", FS_PROV_NONE, {NULL}, -1, NULL, "xmp:CreatorTool"},
    {"P1000827.jpg", FS_PROV_NONE, {NULL}, -1, NULL, "Software"},
    {"XCA.jpg", FS_PROV_INVALID, {"assertion.dataHash.mismatch", "claimSignature.validated"}, 1, NULL, NULL},
    {"adobe-20220124-E-clm-CAICAI.jpg", FS_PROV_INVALID, {"assertion.hashedURI.mismatch", "ingredient.manifest.missing"}, 2, NULL, NULL},
    {"boxhash.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "assertion.dataHash.match"}, 1, NULL, NULL},
    {"cloud.jpg", FS_PROV_NONE, {NULL}, -1, NULL, "dcterms:provenance"},
    {"cloudx.jpg", FS_PROV_NONE, {NULL}, -1, NULL, "dcterms:provenance"},
    {"earth_apollo17.jpg", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"legacy_ingredient_hash.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "ingredient.hashedURI.match"}, 2, NULL, NULL},
    {"libpng-test.png", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"libpng-test_with_url.png", FS_PROV_NONE, {NULL}, -1, NULL, "dcterms:provenance"},
    {"mars.webp", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"no_alg.jpg", FS_PROV_INVALID, {"algorithm.unsupported"}, -1, NULL, NULL},
    {"no_manifest.jpg", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"ocsp.jpg", FS_PROV_INVALID, {"claimSignature.validated", "signingCredential.untrusted", "assertion.dataHash.match", "signingCredential.ocsp.notRevoked"}, 1, NULL, NULL},
    {"ocsp_with_assertion.jpg", FS_PROV_INVALID, {"claimSignature.validated", "signingCredential.untrusted", "signingCredential.ocsp.notRevoked"}, 1, "signingCredential.trusted", NULL},
    {"prerelease.jpg", FS_PROV_INVALID, {"com.adobe.prerelease"}, -1, NULL, NULL},
    {"sample1.png", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"sample1.webp", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"test.webp", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"test_lossless.webp", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"test_xmp.webp", FS_PROV_NONE, {NULL}, -1, NULL, "xmp:CreatorTool"},
    {"thumbnail.jpg", FS_PROV_NONE, {NULL}, -1, NULL, NULL},
    {"update_manifest.jpg", FS_PROV_TRUSTED, {"claimSignature.validated", "ingredient.hashedURI.match"}, 1, NULL, NULL},
};

static void sdk_fixtures(void **state) {
    (void)state;
    char buf[1024], trustbuf[1024];
    const char *tp = fs_test_shared("c2pa/certs/test_cert_root_bundle.pem", trustbuf, sizeof trustbuf);
    if (!tp) return;
    fs_prov_trust *trust = NULL;
    fs_msg m;
    assert_int_equal(fs_prov_trust_load(tp, &trust, &m), FS_OK);
    fs_prov_options opts = {.trust = trust};
    size_t checked = 0;
    for (size_t i = 0; i < sizeof expects / sizeof expects[0]; i++) {
        const expect *x = &expects[i];
        char rel[256];
        snprintf(rel, sizeof rel, "c2pa/images/%s", x->file);
        const char *p = fs_test_shared(rel, buf, sizeof buf);
        if (!p) continue;
        fs_prov_report r;
        if (fs_prov_read_file(p, &opts, &r, &m)) fail_msg("%s: %s", x->file, m.text);
        if (r.state != x->state)
            fail_msg("%s: state %s, expected %s", x->file, fs_prov_state_name(r.state), fs_prov_state_name(x->state));
        for (int k = 0; k < 4 && x->codes[k]; k++)
            if (!fs_prov_has_status(&r, -1, x->codes[k])) fail_msg("%s: no %s", x->file, x->codes[k]);
        if (x->ingredients >= 0) {
            assert_true(r.active >= 0);
            if ((int)r.manifests[r.active].n_ingredients != x->ingredients)
                fail_msg("%s: %zu ingredients, expected %d", x->file, r.manifests[r.active].n_ingredients, x->ingredients);
        }
        if (x->other) {
            int found = 0;
            for (int k = 0; k < r.active; k++) found |= fs_prov_has_status(&r, k, x->other);
            if (!found) fail_msg("%s: no other manifest with %s", x->file, x->other);
        }
        if (x->hint) {
            int found = 0;
            for (size_t k = 0; k < r.n_hints; k++) found |= !strcmp(r.hints[k].key, x->hint);
            if (!found) fail_msg("%s: no unsigned hint %s", x->file, x->hint);
        }
        fs_prov_report_free(&r);
        checked++;
    }
    /* every file of the folder has its row */
    char dirbuf[1024];
    const char *dir = fs_test_shared("c2pa/images", dirbuf, sizeof dirbuf);
    size_t files = 0;
    if (dir) {
        DIR *dh = opendir(dir);
        assert_non_null(dh);
        struct dirent *de;
        while ((de = readdir(dh)))
            if (de->d_name[0] != '.') files++;
        closedir(dh);
    }
    assert_int_equal(files, checked);
    /* without a trust list a good manifest is valid, and trust is not judged */
    fs_prov_report r;
    if (fs_test_shared("c2pa/images/C.jpg", buf, sizeof buf)) {
        assert_int_equal(fs_prov_read_file(buf, NULL, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_VALID);
        assert_false(fs_prov_has_status(&r, -1, "signingCredential.untrusted"));
        assert_string_equal(r.manifests[0].time, "2024-08-06T21:53:37Z");
        fs_prov_report_free(&r);
    }
    fs_prov_trust_free(trust);
}

/* ---- embedded OCSP ---- */

/* A certificate for key, issued by ca (CN=cn, serial), valid from yesterday for a year. */
static X509 *issued_cert(const forge_signer *ca, EVP_PKEY *key, const char *cn, long serial) {
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
    assert_int_not_equal(X509_sign(x, ca->key, EVP_sha256()), 0);
    return x;
}

/* A DER OCSPResponse about `about` (issued by ca), signed by the responder key and cert. */
static void ocsp_response(forge_buf *out, X509 *about, const forge_signer *ca, const forge_signer *responder,
                          int status, long this_adj, long next_adj) {
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, about, ca->cert);
    ASN1_TIME *thisupd = X509_gmtime_adj(NULL, this_adj), *nextupd = X509_gmtime_adj(NULL, next_adj);
    ASN1_TIME *rev = status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(NULL, -7200) : NULL;
    assert_non_null(OCSP_basic_add1_status(bs, id, status, OCSP_REVOKED_STATUS_KEYCOMPROMISE, rev, thisupd, nextupd));
    assert_int_equal(OCSP_basic_sign(bs, responder->cert, responder->key, EVP_sha256(), NULL, 0), 1);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *der = NULL;
    int n = i2d_OCSP_RESPONSE(resp, &der);
    assert_true(n > 0);
    fb_put(out, der, (size_t)n);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp), ASN1_TIME_free(thisupd), ASN1_TIME_free(nextupd), ASN1_TIME_free(rev);
    OCSP_CERTID_free(id), OCSP_BASICRESP_free(bs);
}

/* The protected header of an ES256 COSE_Sign1 with x5chain [leaf, ca]. */
static void cose_prot(forge_buf *prot, X509 *leaf, X509 *ca) {
    unsigned char *d0 = NULL, *d1 = NULL;
    int n0 = i2d_X509(leaf, &d0), n1 = i2d_X509(ca, &d1);
    fb_head(prot, 5, 2), fb_head(prot, 0, 1), fb_head(prot, 1, 6); /* 1: -7 (ES256) */
    fb_head(prot, 0, 33), fb_head(prot, 4, 2), fb_bytes(prot, d0, (size_t)n0), fb_bytes(prot, d1, (size_t)n1);
    OPENSSL_free(d0), OPENSSL_free(d1);
}

/* COSE_Sign1 by key (ES256) over the claim with that protected header and the unprotected
 * header `unprot` (a whole CBOR map; NULL: an empty one). */
static void cose_sign(forge_buf *out, EVP_PKEY *key, const forge_buf *prot, const forge_buf *unprot,
                      const uint8_t *claim, size_t claim_len) {
    forge_buf tbs = {0};
    fb_head(&tbs, 4, 4), fb_text(&tbs, "Signature1"), fb_bytes(&tbs, prot->p, prot->n), fb_bytes(&tbs, "", 0);
    fb_bytes(&tbs, claim, claim_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
    size_t sl = 0;
    EVP_DigestSign(ctx, NULL, &sl, tbs.p, tbs.n);
    uint8_t *sig = malloc(sl), raw[64];
    EVP_DigestSign(ctx, sig, &sl, tbs.p, tbs.n);
    EVP_MD_CTX_free(ctx);
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
    ECDSA_SIG_free(es), free(sig);
    fb_head(out, 6, 18), fb_head(out, 4, 4), fb_bytes(out, prot->p, prot->n);
    if (unprot) fb_put(out, unprot->p, unprot->n);
    else fb_head(out, 5, 0);
    fb_u8(out, 0xf6), fb_bytes(out, raw, 64);
    fb_free(&tbs);
}

/* ... with x5chain [leaf, ca] and, when ocsp is non-NULL, {"rVals": {"ocspVals": [ocsp]}}. */
static void cose_with_ocsp(forge_buf *out, EVP_PKEY *key, X509 *leaf, X509 *ca, const forge_buf *ocsp,
                           const uint8_t *claim, size_t claim_len) {
    forge_buf prot = {0}, unprot = {0};
    cose_prot(&prot, leaf, ca);
    if (ocsp) {
        fb_head(&unprot, 5, 1), fb_text(&unprot, "rVals"), fb_head(&unprot, 5, 1), fb_text(&unprot, "ocspVals");
        fb_head(&unprot, 4, 1), fb_bytes(&unprot, ocsp->p, ocsp->n);
    }
    cose_sign(out, key, &prot, ocsp ? &unprot : NULL, claim, claim_len);
    fb_free(&prot), fb_free(&unprot);
}

/* The embedded OCSP response decides notRevoked / revoked only when it is signed for the
 * leaf's issuer, is about the leaf, and was current at the signing time. */
static void cose_embedded_ocsp(void **state) {
    (void)state;
    static const uint8_t claim[] = "a claim's bytes";
    forge_signer ca, stranger;
    assert_int_equal(forge_signer_new(&ca, FORGE_ES256, "Forge CA"), 0);
    assert_int_equal(forge_signer_new(&stranger, FORGE_ES256, "Not The CA"), 0);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *leaf = issued_cert(&ca, key, "Forge Leaf", 7), *sibling = issued_cert(&ca, key2, "Forge Sibling", 8);
    struct {
        const char *what;
        X509 *about;
        const forge_signer *responder;
        int status;
        long this_adj, next_adj;
        int want;
        const char *why;
    } cases[] = {
        {"good", leaf, &ca, V_OCSP_CERTSTATUS_GOOD, -3600, 86400, 1, NULL},
        {"revoked", leaf, &ca, V_OCSP_CERTSTATUS_REVOKED, -3600, 86400, 2, NULL},
        {"unknown", leaf, &ca, V_OCSP_CERTSTATUS_UNKNOWN, -3600, 86400, -1, "does not know"},
        {"another certificate", sibling, &ca, V_OCSP_CERTSTATUS_GOOD, -3600, 86400, -1, "another certificate"},
        {"signed by a stranger", leaf, &stranger, V_OCSP_CERTSTATUS_GOOD, -3600, 86400, -1, "does not verify"},
        {"expired", leaf, &ca, V_OCSP_CERTSTATUS_GOOD, -7 * 86400, -6 * 86400, -1, "not current"},
    };
    fs_msg m;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        forge_buf resp = {0}, cose = {0};
        ocsp_response(&resp, cases[i].about, &ca, cases[i].responder, cases[i].status, cases[i].this_adj,
                      cases[i].next_adj);
        cose_with_ocsp(&cose, key, leaf, ca.cert, &resp, claim, sizeof claim);
        prov_cose_result r;
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
        assert_int_equal(r.verified, 1);
        if (r.ocsp != cases[i].want) fail_msg("%s: ocsp %d, expected %d (%s)", cases[i].what, r.ocsp, cases[i].want, r.ocsp_error);
        if (cases[i].why && !strstr(r.ocsp_error, cases[i].why))
            fail_msg("%s: reason '%s'", cases[i].what, r.ocsp_error);
        fb_free(&resp), fb_free(&cose);
    }
    /* without rVals: nothing said; with garbage in ocspVals: not usable */
    forge_buf cose = {0}, junk = {0};
    cose_with_ocsp(&cose, key, leaf, ca.cert, NULL, claim, sizeof claim);
    prov_cose_result r;
    assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
    assert_int_equal(r.ocsp, 0);
    fb_free(&cose);
    fb_put(&junk, "\x30\x03\x0a\x01\x00", 5);
    cose_with_ocsp(&cose, key, leaf, ca.cert, &junk, claim, sizeof claim);
    assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
    assert_int_equal(r.ocsp, -1);
    fb_free(&cose), fb_free(&junk);
    X509_free(leaf), X509_free(sibling), EVP_PKEY_free(key), EVP_PKEY_free(key2);
    forge_signer_free(&ca), forge_signer_free(&stranger);
}

/* ---- the time stamp authority ---- */

/* A time stamp token (DER) from the authority tsa over digest (SHA-256 of the bytes stamped). */
static void tst_token(forge_buf *out, const forge_signer *tsa, const uint8_t digest[32]) {
    TS_RESP_CTX *rc = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj("1.2.3.4.1", 1);
    assert_int_equal(TS_RESP_CTX_set_signer_cert(rc, tsa->cert), 1);
    assert_int_equal(TS_RESP_CTX_set_signer_key(rc, tsa->key), 1);
    assert_int_equal(TS_RESP_CTX_set_def_policy(rc, policy), 1);
    assert_int_equal(TS_RESP_CTX_add_md(rc, EVP_sha256()), 1);
    assert_int_equal(TS_RESP_CTX_set_signer_digest(rc, EVP_sha256()), 1);
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL);
    TS_MSG_IMPRINT_set_algo(mi, alg);
    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, 32);
    TS_REQ_set_version(req, 1);
    TS_REQ_set_msg_imprint(req, mi);
    TS_REQ_set_cert_req(req, 1);
    BIO *b = BIO_new(BIO_s_mem());
    i2d_TS_REQ_bio(b, req);
    TS_RESP *resp = TS_RESP_create_response(rc, b);
    assert_non_null(resp);
    PKCS7 *tok = TS_RESP_get_token(resp);
    assert_non_null(tok);
    unsigned char *der = NULL;
    int n = i2d_PKCS7(tok, &der);
    assert_true(n > 0);
    fb_put(out, der, (size_t)n);
    OPENSSL_free(der);
    TS_RESP_free(resp), BIO_free(b), TS_REQ_free(req), TS_MSG_IMPRINT_free(mi), X509_ALGOR_free(alg);
    ASN1_OBJECT_free(policy), TS_RESP_CTX_free(rc);
}

/* The v1 time stamp (sigTst) over ["CounterSignature", protected, h'', claim]: its imprint, its
 * own CMS signature and its authority's chain are each judged. */
static void cose_time_stamp_authority(void **state) {
    (void)state;
    static const uint8_t claim[] = "a claim's bytes";
    char dir[64], tsa_pem[128], other_pem[128];
    assert_int_equal(fs_test_mkdtemp(dir, sizeof dir, "prov"), 0);
    forge_signer ca, tsa, other;
    assert_int_equal(forge_signer_new(&ca, FORGE_ES256, "Forge CA"), 0);
    assert_int_equal(forge_signer_new(&other, FORGE_ES256, "Someone Else"), 0);
    /* the authority: a self-signed certificate whose only, critical use is time stamping */
    tsa.alg = FORGE_ES256;
    tsa.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    tsa.cert = X509_new();
    X509_set_version(tsa.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(tsa.cert), 99);
    X509_gmtime_adj(X509_getm_notBefore(tsa.cert), -86400);
    X509_gmtime_adj(X509_getm_notAfter(tsa.cert), 365L * 86400);
    X509_set_pubkey(tsa.cert, tsa.key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(tsa.cert), "CN", MBSTRING_ASC, (const unsigned char *)"Forge TSA", -1, -1, 0);
    X509_set_issuer_name(tsa.cert, X509_get_subject_name(tsa.cert));
    X509_EXTENSION *eku = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "critical,timeStamping");
    X509_add_ext(tsa.cert, eku, -1);
    X509_EXTENSION_free(eku);
    assert_int_not_equal(X509_sign(tsa.cert, tsa.key, EVP_sha256()), 0);
    snprintf(tsa_pem, sizeof tsa_pem, "%s/tsa.pem", dir);
    snprintf(other_pem, sizeof other_pem, "%s/other.pem", dir);
    assert_int_equal(forge_signer_pem(&tsa, tsa_pem), 0);
    assert_int_equal(forge_signer_pem(&other, other_pem), 0);
    fs_prov_trust *trust_tsa = NULL, *trust_other = NULL;
    fs_msg m;
    assert_int_equal(fs_prov_trust_load(tsa_pem, &trust_tsa, &m), FS_OK);
    assert_int_equal(fs_prov_trust_load(other_pem, &trust_other, &m), FS_OK);

    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *leaf = issued_cert(&ca, key, "Forge Leaf", 7);
    forge_buf prot = {0}, cs = {0}, tok = {0}, unprot = {0}, cose = {0};
    cose_prot(&prot, leaf, ca.cert);
    fb_head(&cs, 4, 4), fb_text(&cs, "CounterSignature"), fb_bytes(&cs, prot.p, prot.n), fb_bytes(&cs, "", 0);
    fb_bytes(&cs, claim, sizeof claim);
    uint8_t digest[32];
    forge_sha256(cs.p, cs.n, digest);
    tst_token(&tok, &tsa, digest);
    for (int tamper = 0; tamper < 2; tamper++) {
        if (tamper) tok.p[tok.n - 3] ^= 1; /* inside the token's signature value */
        fb_free(&unprot), fb_free(&cose);
        fb_head(&unprot, 5, 1), fb_text(&unprot, "sigTst"), fb_head(&unprot, 5, 1), fb_text(&unprot, "tstTokens");
        fb_head(&unprot, 4, 1), fb_head(&unprot, 5, 1), fb_text(&unprot, "val"), fb_bytes(&unprot, tok.p, tok.n);
        cose_sign(&cose, key, &prot, &unprot, claim, sizeof claim);
        prov_cose_result r;
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, trust_tsa, &r, &m), FS_OK);
        assert_int_equal(r.verified, 1);
        assert_int_equal(r.has_tst, 1);
        assert_int_equal(r.tst_status, 1);
        if (tamper) {
            assert_int_equal(r.tst_signature, 0);
            assert_int_equal(r.tst_trust, -1);
            continue;
        }
        assert_int_equal(r.tst_signature, 1);
        assert_int_equal(r.tst_trust, 1);
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, trust_other, &r, &m), FS_OK);
        assert_int_equal(r.tst_signature, 1);
        assert_int_equal(r.tst_trust, 0);
        assert_true(r.tst_error[0] != 0);
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim, NULL, &r, &m), FS_OK);
        assert_int_equal(r.tst_signature, 1);
        assert_int_equal(r.tst_trust, -1);
        /* the same token over another claim: the imprint no longer matches */
        assert_int_equal(prov_cose_verify(cose.p, cose.n, claim, sizeof claim - 1, NULL, &r, &m), FS_OK);
        assert_int_equal(r.tst_status, 0);
    }
    fb_free(&prot), fb_free(&cs), fb_free(&tok), fb_free(&unprot), fb_free(&cose);
    X509_free(leaf), EVP_PKEY_free(key);
    fs_prov_trust_free(trust_tsa), fs_prov_trust_free(trust_other);
    forge_signer_free(&ca), forge_signer_free(&tsa), forge_signer_free(&other);
}


/* ---- box hashes (c2pa.hash.boxes) ---- */

typedef struct tbox {
    const char *name;
    size_t start, len; /* in the finished file */
} tbox;

static void jseg(forge_buf *b, unsigned marker, const void *p, size_t n) {
    fb_u8(b, 0xff), fb_u8(b, marker), fb_u8(b, (unsigned)((n + 2) >> 8)), fb_u8(b, (unsigned)((n + 2) & 0xff));
    fb_put(b, p, n);
}

/* The box-hash CBOR: groups of consecutive boxes (indices into bx, -1 ends a group, -2 ends
 * the list); a group starting with "C2PA" gets an empty hash; `excluded` marks one group. */
static void box_hash_cbor(forge_buf *out, const uint8_t *file, const tbox *bx, const int *groups, int excluded) {
    int ng = 0;
    for (const int *g = groups; *g != -2; g++) ng += *g == -1;
    fb_head(out, 5, 1), fb_text(out, "boxes"), fb_head(out, 4, (uint64_t)ng);
    int gi = 0;
    for (const int *g = groups; *g != -2; gi++) {
        const int *e = g;
        while (*e >= 0) e++;
        int is_c2pa = !strcmp(bx[g[0]].name, "C2PA");
        fb_head(out, 5, gi == excluded ? 4 : 3);
        fb_text(out, "names"), fb_head(out, 4, (uint64_t)(e - g));
        for (const int *k = g; k < e; k++) fb_text(out, bx[*k].name);
        uint8_t h[32];
        size_t start = bx[g[0]].start, end = bx[e[-1]].start + bx[e[-1]].len;
        forge_sha256(file + start, end - start, h);
        fb_text(out, "hash"), fb_bytes(out, h, is_c2pa ? 0 : 32);
        if (gi == excluded) fb_text(out, "excluded"), fb_u8(out, 0xf5);
        fb_text(out, "pad"), fb_bytes(out, "", 0);
        g = e + 1;
    }
}

static int prov_code(const uint8_t *f, size_t n, const fs_prov_options *opts, const char *code) {
    fs_prov_report r;
    fs_msg m;
    if (fs_prov_read(f, n, opts, &r, &m) != FS_OK) return -1;
    int has = fs_prov_has_status(&r, -1, code);
    fs_prov_report_free(&r);
    return has;
}

/* A JPEG cut into boxes as the reference SDK does (SOS over its entropy data, restart markers
 * inside it listed too), the C2PA segments after APP0, bound by a box hash: in one box per
 * segment and in the SDK's three-group form. Changed, inserted, uncovered and excluded bytes
 * each give their status; a PNG the same (its signature box may be left out). */
static void box_hash_binding(void **state) {
    (void)state;
    forge_signer s;
    assert_int_equal(forge_signer_new(&s, FORGE_ES256, "Forge Signer"), 0);
    fs_msg m;
    /* the JPEG's segments, the store's place left open */
    forge_buf head = {0}, tail = {0};
    fb_put(&head, "\xff\xd8", 2);
    jseg(&head, 0xe0, "JFIF\0\1\1\0\0\1\0\1\0\0", 14);
    uint8_t dqt[65] = {0};
    for (int i = 1; i < 65; i++) dqt[i] = 1;
    jseg(&tail, 0xdb, dqt, sizeof dqt);
    jseg(&tail, 0xc0, "\x08\x00\x10\x00\x10\x01\x01\x11\x00", 9);
    jseg(&tail, 0xc4, "\x00\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x00", 18);
    jseg(&tail, 0xda, "\x01\x01\x00\x00\x3f\x00", 6);
    size_t rst0 = tail.n + 4;
    fb_put(&tail, "\xab\xff\x00\xcd\xff\xd0\x12\x34\xff\xd1\x56", 11); /* stuffed zero, RST0, RST1 */
    fb_put(&tail, "\xff\xd9", 2);
    for (int form = 0; form < 2; form++) {
        forge_buf store = {0}, app = {0}, bh = {0}, f = {0};
        /* the store's size does not depend on the hashes' values: size it with a first pass */
        for (int pass = 0; pass < 2; pass++) {
            size_t c2 = head.n, t0 = head.n + app.n;
            tbox bx[] = {
                {"SOI", 0, 2}, {"APP0", 2, head.n - 2}, {"C2PA", c2, app.n}, {"DQT", t0, 69}, {"SOF0", t0 + 69, 13},
                {"DHT", t0 + 82, 22}, {"SOS", t0 + 104, tail.n - 2 - 104}, {"RST0", t0 + rst0, 2},
                {"RST1", t0 + rst0 + 4, 2}, {"EOI", t0 + tail.n - 2, 2},
            };
            static const int each[] = {0, -1, 1, -1, 2, -1, 3, -1, 4, -1, 5, -1, 6, -1, 7, -1, 8, -1, 9, -1, -2};
            static const int three[] = {0, 1, -1, 2, -1, 3, 4, 5, 6, 7, 8, 9, -1, -2};
            f.n = 0, bh.n = 0, store.n = 0;
            fb_put(&f, head.p, head.n), fb_put(&f, app.p, app.n), fb_put(&f, tail.p, tail.n);
            box_hash_cbor(&bh, f.p, bx, form ? three : each, -1);
            forge_opts fo = {.signer = &s, .source_type = trained, .box_hash = &bh};
            uint8_t zero[32] = {0};
            forge_store(&store, &fo, 0, 0, zero);
            size_t was = app.n;
            app.n = 0;
            forge_app11(&app, &store, 0);
            if (pass) assert_int_equal(app.n, was);
        }
        f.n = 0;
        fb_put(&f, head.p, head.n), fb_put(&f, app.p, app.n), fb_put(&f, tail.p, tail.n);
        /* the box list itself */
        prov_box *b = NULL;
        size_t nb = 0;
        assert_int_equal(prov_box_map(f.p, f.n, &b, &nb, &m), FS_OK);
        static const char *const names[] = {"SOI", "APP0", "C2PA", "DQT", "SOF0", "DHT", "SOS", "RST0", "RST1", "EOI"};
        assert_int_equal(nb, 10);
        for (size_t i = 0; i < nb; i++) assert_string_equal(b[i].name, names[i]);
        assert_int_equal(b[6].start + b[6].len, f.n - 2); /* SOS runs over the restarts to EOI */
        assert_int_equal(b[9].start + b[9].len, f.n);
        free(b);
        /* intact */
        fs_prov_report r;
        assert_int_equal(fs_prov_read(f.p, f.n, NULL, &r, &m), FS_OK);
        assert_int_equal(r.state, FS_PROV_VALID);
        assert_true(fs_prov_has_status(&r, -1, "assertion.boxesHash.match"));
        assert_true(fs_prov_has_status(&r, -1, "claimSignature.validated"));
        assert_false(fs_prov_has_status(&r, -1, "assertion.hardBinding.unchecked"));
        assert_false(fs_prov_has_status(&r, -1, "claim.hardBindings.missing"));
        fs_prov_report_free(&r);
        forge_buf g = {0};
        fb_put(&g, f.p, f.n);
        /* an entropy byte, a byte of APP0: the hash of their box fails */
        size_t ent = head.n + app.n + rst0 - 1;
        assert_int_equal(g.p[ent], 0xcd);
        g.p[ent] ^= 1;
        assert_int_equal(prov_code(g.p, g.n, NULL, "assertion.boxesHash.mismatch"), 1);
        memcpy(g.p, f.p, f.n);
        g.p[6] ^= 1;
        assert_int_equal(prov_code(g.p, g.n, NULL, "assertion.boxesHash.mismatch"), 1);
        /* a comment inserted before EOI: a box the hash does not list */
        g.n = 0;
        fb_put(&g, f.p, f.n - 2), jseg(&g, 0xfe, "hello", 5), fb_put(&g, "\xff\xd9", 2);
        assert_int_equal(prov_code(g.p, g.n, NULL, "assertion.boxesHash.unknownBox"), 1);
        /* a file cut short inside the scan */
        assert_int_equal(prov_code(f.p, f.n - 4, NULL, "assertion.boxesHash.mismatch"), 1);
        fb_free(&g), fb_free(&store), fb_free(&app), fb_free(&bh), fb_free(&f);
    }
    /* one box excluded: its bytes may change; EOI left out of the list: not covered */
    {
        forge_buf store = {0}, app = {0}, bh = {0}, f = {0};
        for (int variant = 0; variant < 2; variant++) {
            for (int pass = 0; pass < 2; pass++) {
                size_t c2 = head.n, t0 = head.n + app.n;
                tbox full[] = {{"SOI", 0, 2}, {"APP0", 2, head.n - 2}, {"C2PA", c2, app.n}, {"DQT", t0, 69},
                               {"SOF0", t0 + 69, 13}, {"DHT", t0 + 82, 22}, {"SOS", t0 + 104, tail.n - 2 - 104},
                               {"RST0", t0 + rst0, 2}, {"RST1", t0 + rst0 + 4, 2}, {"EOI", t0 + tail.n - 2, 2}};
                static const int with_eoi[] = {0, -1, 1, -1, 2, -1, 3, 4, 5, 6, 7, 8, 9, -1, -2};
                static const int no_eoi[] = {0, -1, 1, -1, 2, -1, 3, 4, 5, 6, 7, 8, -1, -2};
                f.n = 0, bh.n = 0, store.n = 0;
                fb_put(&f, head.p, head.n), fb_put(&f, app.p, app.n), fb_put(&f, tail.p, tail.n);
                box_hash_cbor(&bh, f.p, full, variant ? no_eoi : with_eoi, variant ? -1 : 1);
                forge_opts fo = {.signer = &s, .box_hash = &bh};
                uint8_t zero[32] = {0};
                forge_store(&store, &fo, 0, 0, zero);
                app.n = 0;
                forge_app11(&app, &store, 0);
            }
            f.n = 0;
            fb_put(&f, head.p, head.n), fb_put(&f, app.p, app.n), fb_put(&f, tail.p, tail.n);
            if (variant == 0) {
                f.p[6] ^= 1; /* inside APP0, which is excluded */
                assert_int_equal(prov_code(f.p, f.n, NULL, "assertion.boxesHash.match"), 1);
            } else {
                assert_int_equal(prov_code(f.p, f.n, NULL, "assertion.boxesHash.mismatch"), 1);
            }
        }
        /* an empty list is malformed */
        bh.n = 0;
        fb_head(&bh, 5, 1), fb_text(&bh, "boxes"), fb_head(&bh, 4, 0);
        forge_opts fo = {.signer = &s, .box_hash = &bh};
        uint8_t zero[32] = {0};
        store.n = 0, app.n = 0, f.n = 0;
        forge_store(&store, &fo, 0, 0, zero);
        forge_app11(&app, &store, 0);
        fb_put(&f, head.p, head.n), fb_put(&f, app.p, app.n), fb_put(&f, tail.p, tail.n);
        assert_int_equal(prov_code(f.p, f.n, NULL, "assertion.boxesHash.malformed"), 1);
        fb_free(&store), fb_free(&app), fb_free(&bh), fb_free(&f);
    }
    /* PNG: signature, IHDR, caBX, IDAT, IEND; listed with and without the signature box */
    for (int with_sig = 0; with_sig < 2; with_sig++) {
        forge_buf store = {0}, chunk = {0}, bh = {0}, f = {0}, pre = {0}, post = {0};
        fb_put(&pre, "\x89PNG\r\n\x1a\n", 8);
        forge_png_chunk(&pre, "IHDR", "\0\0\0\1\0\0\0\1\x08\x02\0\0\0", 13);
        forge_png_chunk(&post, "IDAT", "the pixels", 10);
        forge_png_chunk(&post, "IEND", "", 0);
        for (int pass = 0; pass < 2; pass++) {
            size_t c2 = pre.n, t0 = pre.n + chunk.n;
            tbox bx[] = {{"PNGh", 0, 8}, {"IHDR", 8, 25}, {"C2PA", c2, chunk.n}, {"IDAT", t0, 22}, {"IEND", t0 + 22, 12}};
            static const int sig[] = {0, -1, 1, -1, 2, -1, 3, 4, -1, -2};
            static const int nosig[] = {1, -1, 2, -1, 3, 4, -1, -2};
            f.n = 0, bh.n = 0, store.n = 0;
            fb_put(&f, pre.p, pre.n), fb_put(&f, chunk.p, chunk.n), fb_put(&f, post.p, post.n);
            box_hash_cbor(&bh, f.p, bx, with_sig ? sig : nosig, -1);
            forge_opts fo = {.signer = &s, .box_hash = &bh};
            uint8_t zero[32] = {0};
            forge_store(&store, &fo, 0, 0, zero);
            chunk.n = 0;
            forge_png_chunk(&chunk, "caBX", store.p, store.n);
        }
        f.n = 0;
        fb_put(&f, pre.p, pre.n), fb_put(&f, chunk.p, chunk.n), fb_put(&f, post.p, post.n);
        assert_int_equal(prov_code(f.p, f.n, NULL, "assertion.boxesHash.match"), 1);
        uint8_t *px = memmem(f.p, f.n, "the pixels", 10);
        px[4] = 'P';
        assert_int_equal(prov_code(f.p, f.n, NULL, "assertion.boxesHash.mismatch"), 1);
        /* every truncation: a report or a clear error, never a crash */
        for (size_t cut = 0; cut < f.n; cut += 5) {
            fs_prov_report r;
            fs_err e = fs_prov_read(f.p, cut, NULL, &r, &m);
            if (e) assert_true(e == FS_ERR_UNSUPPORTED);
            fs_prov_report_free(&r);
        }
        fb_free(&store), fb_free(&chunk), fb_free(&bh), fb_free(&f), fb_free(&pre), fb_free(&post);
    }
    /* hostile box lists: a length past the end, bytes between segments, no EOI */
    prov_box *b = NULL;
    size_t nb = 0;
    assert_int_equal(prov_box_map((const uint8_t *)"\xff\xd8\xff\xe0\x10\x00", 6, &b, &nb, &m), FS_ERR_FORMAT);
    assert_int_equal(prov_box_map((const uint8_t *)"\xff\xd8junk\xff\xd9", 8, &b, &nb, &m), FS_ERR_FORMAT);
    assert_int_equal(prov_box_map((const uint8_t *)"\xff\xd8\xff\xfe\x00\x03x", 7, &b, &nb, &m), FS_ERR_FORMAT);
    assert_int_equal(prov_box_map((const uint8_t *)"\x89PNG\r\n\x1a\n\xff\xff\xff\xf0IDAT", 16, &b, &nb, &m), FS_ERR_FORMAT);
    assert_int_equal(prov_box_map((const uint8_t *)"RIFF\0\0\0\0WEBP", 12, &b, &nb, &m), FS_ERR_UNSUPPORTED);
    assert_null(b);
    fb_free(&head), fb_free(&tail);
    forge_signer_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cbor_basics),        cmocka_unit_test(cbor_hostile),
        cmocka_unit_test(jumbf_tree_and_truncation), cmocka_unit_test(jumbf_hostile),
        cmocka_unit_test(cose_chain_of_1000), cmocka_unit_test(cose_algorithms),
        cmocka_unit_test(forged_files),       cmocka_unit_test(unsigned_hints),
        cmocka_unit_test(sdk_fixtures),       cmocka_unit_test(cose_embedded_ocsp),
        cmocka_unit_test(cose_time_stamp_authority), cmocka_unit_test(box_hash_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
