/* make_c2pa_seeds: writes the seed corpora of the provenance fuzz targets (tests/fuzz/seeds/
 * {jumbf,cbor,cose,xmp,boxmap}/) from files forged here (tests/tools/c2pa_forge.h), so every seed is
 * ours and well formed: a manifest store (one and two APP11 segments, ES256, Ed25519 and
 * PS256 signers), its claim, its COSE_Sign1, XMP/EXIF samples, and whole JPEG and PNG files
 * for the box lists.
 * Usage: make_c2pa_seeds SEEDS_DIR   (cmake --build build --target make_c2pa_seeds) */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fakescope/jumbf.h"
#include "provenance/prov_internal.h"
#include "tools/c2pa_forge.h"

static int write_seed(const char *dir, const char *target, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "make_c2pa_seeds: cannot write %s\n", path);
        if (f) fclose(f);
        return -1;
    }
    return fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_c2pa_seeds SEEDS_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static const forge_alg algs[] = {FORGE_ES256, FORGE_ED25519, FORGE_PS256};
    static const char *const names[] = {"es256", "ed25519", "ps256"};
    int rc = 0;
    for (size_t i = 0; i < 3; i++) {
        forge_signer s;
        if (forge_signer_new(&s, algs[i], "Seed Signer")) return 1;
        forge_opts o = {.signer = &s, .split = i == 1,
                        .source_type = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"};
        forge_buf f = {0};
        forge_jpeg(&f, &o, "seed pixels");
        prov_container c;
        fs_msg m;
        fs_jumbf_tree t;
        if (prov_container_read(f.p, f.n, &c, &m) || !c.store || fs_jumbf_parse(c.store, c.store_len, &t, &m)) {
            fprintf(stderr, "make_c2pa_seeds: forged file unreadable\n");
            return 1;
        }
        char name[64];
        snprintf(name, sizeof name, "store_%s.jumbf", names[i]);
        rc |= write_seed(dir, "jumbf", name, c.store, c.store_len);
        uint32_t mb = t.boxes[0].first;
        uint32_t claim = fs_jumbf_content(&t, fs_jumbf_child(&t, mb, "c2pa.claim"), FS_JUMBF_TYPE('c', 'b', 'o', 'r'));
        uint32_t sig = fs_jumbf_content(&t, fs_jumbf_child(&t, mb, "c2pa.signature"), FS_JUMBF_TYPE('c', 'b', 'o', 'r'));
        uint32_t dh = fs_jumbf_content(&t, fs_jumbf_resolve(&t, mb, "c2pa.assertions/c2pa.hash.data"),
                                       FS_JUMBF_TYPE('c', 'b', 'o', 'r'));
        if (claim == FS_JUMBF_NONE || sig == FS_JUMBF_NONE || dh == FS_JUMBF_NONE) return 1;
        snprintf(name, sizeof name, "claim_%s.cbor", names[i]);
        rc |= write_seed(dir, "cbor", name, t.boxes[claim].payload, t.boxes[claim].payload_len);
        snprintf(name, sizeof name, "cose_%s.cbor", names[i]);
        rc |= write_seed(dir, "cose", name, t.boxes[sig].payload, t.boxes[sig].payload_len);
        if (i == 0) rc |= write_seed(dir, "cbor", "data_hash.cbor", t.boxes[dh].payload, t.boxes[dh].payload_len);
        if (i < 2) { /* the forged JPEG, and its store in a PNG, for the box lists */
            snprintf(name, sizeof name, "forged_%s.jpg", names[i]);
            rc |= write_seed(dir, "boxmap", name, f.p, f.n);
            forge_buf png = {0};
            fb_put(&png, "\x89PNG\r\n\x1a\n", 8);
            forge_png_chunk(&png, "IHDR", "\0\0\0\1\0\0\0\1\x08\x02\0\0\0", 13);
            forge_png_chunk(&png, "caBX", c.store, c.store_len);
            forge_png_chunk(&png, "IDAT", "seed pixels", 11);
            forge_png_chunk(&png, "IEND", "", 0);
            snprintf(name, sizeof name, "forged_%s.png", names[i]);
            rc |= write_seed(dir, "boxmap", name, png.p, png.n);
            fb_free(&png);
        }
        fs_jumbf_tree_free(&t);
        prov_container_free(&c);
        fb_free(&f);
        forge_signer_free(&s);
    }
    { /* a JPEG bound by a box hash: [SOI], [C2PA], [COM, EOI] */
        forge_signer s;
        if (forge_signer_new(&s, FORGE_ES256, "Seed Signer")) return 1;
        static const uint8_t tail[] = {0xff, 0xfe, 0x00, 0x06, 's', 'e', 'e', 'd', 0xff, 0xd9};
        uint8_t h_soi[32], h_tail[32];
        forge_sha256("\xff\xd8", 2, h_soi);
        forge_sha256(tail, sizeof tail, h_tail);
        forge_buf bh = {0}, store = {0}, f = {0};
        fb_head(&bh, 5, 1), fb_text(&bh, "boxes"), fb_head(&bh, 4, 3);
        fb_head(&bh, 5, 3), fb_text(&bh, "names"), fb_head(&bh, 4, 1), fb_text(&bh, "SOI");
        fb_text(&bh, "hash"), fb_bytes(&bh, h_soi, 32), fb_text(&bh, "pad"), fb_bytes(&bh, "", 0);
        fb_head(&bh, 5, 3), fb_text(&bh, "names"), fb_head(&bh, 4, 1), fb_text(&bh, "C2PA");
        fb_text(&bh, "hash"), fb_bytes(&bh, "", 0), fb_text(&bh, "pad"), fb_bytes(&bh, "", 0);
        fb_head(&bh, 5, 3), fb_text(&bh, "names"), fb_head(&bh, 4, 2), fb_text(&bh, "COM"), fb_text(&bh, "EOI");
        fb_text(&bh, "hash"), fb_bytes(&bh, h_tail, 32), fb_text(&bh, "pad"), fb_bytes(&bh, "", 0);
        forge_opts o = {.signer = &s, .box_hash = &bh};
        uint8_t zero[32] = {0};
        forge_store(&store, &o, 0, 0, zero);
        fb_put(&f, "\xff\xd8", 2);
        forge_app11(&f, &store, 0);
        fb_put(&f, tail, sizeof tail);
        rc |= write_seed(dir, "boxmap", "box_hash.jpg", f.p, f.n);
        fb_free(&bh), fb_free(&store), fb_free(&f);
        forge_signer_free(&s);
    }
    /* a JPEG-shaped file whose scan holds a stuffed zero and two restart markers */
    static const uint8_t scan[] = {0xff, 0xd8, 0xff, 0xdd, 0x00, 0x04, 0x00, 0x01, 0xff, 0xda, 0x00, 0x08, 0x01,
                                   0x01, 0x00, 0x00, 0x3f, 0x00, 0xab, 0xff, 0x00, 0xcd, 0xff, 0xd0, 0x12, 0xff,
                                   0xd1, 0x56, 0xff, 0xd9};
    rc |= write_seed(dir, "boxmap", "restarts.jpg", scan, sizeof scan);
    static const char xmp[] =
        "<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
        "<rdf:Description xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
        " Iptc4xmpExt:DigitalSourceType=\"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia\"\n"
        " xmp:CreatorTool=\"Seed &amp; Co\"><tiff:Software>Seed</tiff:Software>\n"
        "<dc:creator><rdf:Seq><rdf:li>Ann</rdf:li></rdf:Seq></dc:creator></rdf:Description>\n"
        "</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
    rc |= write_seed(dir, "xmp", "packet.xmp", xmp, sizeof xmp - 1);
    static const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x31, 0x01, 2, 0, 8, 0, 0, 0,
                                   26, 0, 0, 0, 0, 0, 0, 0, 'S', 'e', 'e', 'd', ' ', '1', '.', 0};
    rc |= write_seed(dir, "xmp", "exif_ii.tiff", tiff, sizeof tiff);
    return rc ? 1 : 0;
}
