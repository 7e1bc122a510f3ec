/* predict.c: `fakescope predict`, one verdict per image file from one network, chosen by name
 * from the model registry (--model) or given as a weights file and architecture (--weights,
 * --arch). Each file is decoded, resized to the network input when its size differs, scaled
 * by 1/255 and run; a file that cannot be judged gets an error line and the others go on. */
#include "cli/cli.h"
#include "fakescope/card.h"
#include "fakescope/image.h"
#include "fakescope/json.h"
#include "fakescope/model.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_PATH_CAP 4096

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope predict (--model NAME | --weights FILE --arch ARCH) [--dir DIR]...\n"
            "                         [--threads N] [--json] FILE...\n\n"
            "Judges each image FILE (JPEG, PNG, WebP; resized to the network's 256x256 input when\n"
            "its size differs) as fake or real with one MesoNet network.\n\n"
            "  --model NAME     a model of the registry, by name or id (see `fakescope models list`)\n"
            "  --dir DIR        registry folder to search instead of the defaults (repeatable;\n"
            "                   defaults: each folder of $FAKESCOPE_MODELS, then models/)\n"
            "  --weights FILE   a weights file: .safetensors, or an original Keras MesoNet .h5\n"
            "  --arch ARCH      meso4 or mesoinception4 (needed for .h5; for .safetensors it must\n"
            "                   agree with the file's \"arch\" metadata when given)\n"
            "  --threads N      threads for the forward pass (default: all %d online CPUs)\n"
            "  --json           one JSON object per line:\n"
            "                   {\"file\",\"model\",\"label\",\"p_fake\",\"raw\"} or {\"file\",\"error\"}\n"
            "  -h, --help       this text\n\n"
            "label is \"fake\" when P(fake) >= 0.5. raw is the network's sigmoid output; what it\n"
            "means comes from the model card (\"output\"), else from the weights' \"output\"\n"
            "metadata, else MesoNet's convention: P(real), so P(fake) = 1 - raw.\n\n"
            "Exit status: 0 all files judged, 1 some file (or the weights) failed, 2 usage error.\n",
            fs_cpu_count());
}

typedef struct predictor {
    fs_net *net;
    fs_net_ctx *ctx;
    fs_card card; /* card.name set when the model came with a card */
    int have_card;
    char model[PREDICT_PATH_CAP];
} predictor;

/* A card NAME.json beside NAME.safetensors, if there is one that parses. */
static void sibling_card(predictor *p, const char *weights_path) {
    char path[PREDICT_PATH_CAP];
    size_t n = strlen(weights_path);
    const char *dot = strrchr(weights_path, '.');
    if (!dot || strchr(dot, '/') || n + 6 > sizeof path) return;
    snprintf(path, sizeof path, "%.*s.json", (int)(dot - weights_path), weights_path);
    fs_msg m;
    if (fs_card_load(path, &p->card, &m) == FS_OK) p->have_card = 1;
}

static fs_err open_model(predictor *p, const char *model, const char *const *dirs, size_t ndirs,
                         const char *weights, const char *arch, int threads, fs_msg *msg) {
    fs_weights w = {0};
    fs_err e;
    char arch_buf[64];
    if (model) {
        fs_registry *reg;
        if ((e = fs_registry_open(ndirs ? dirs : NULL, ndirs, &reg, msg))) return e;
        const fs_model_entry *ent = fs_registry_find(reg, model);
        if (!ent) {
            fs_registry_free(reg);
            return fs_fail(msg, FS_ERR_NOTFOUND, "no model '%s' in the registry (see `fakescope "
                                                 "models list`)", model);
        }
        e = fs_model_load_weights(ent, &w, msg);
        if (!e) {
            fs_msg m;
            e = fs_card_load(ent->card_path, &p->card, &m) ? fs_fail(msg, FS_ERR_FORMAT, "%s", m.text)
                                                            : FS_OK;
            p->have_card = !e;
            /* the registry (and its cards) is freed below */
            snprintf(arch_buf, sizeof arch_buf, "%s", ent->card.architecture);
            arch = arch_buf;
            snprintf(p->model, sizeof p->model, "%s", ent->card.name);
        }
        fs_registry_free(reg);
    } else {
        e = fs_weights_load(weights, arch, &w, msg);
        const char *base = strrchr(weights, '/');
        snprintf(p->model, sizeof p->model, "%s", base ? base + 1 : weights);
        if (!e) sibling_card(p, weights);
    }
    if (!e) e = fs_net_create(&w, arch, &p->net, msg);
    fs_weights_free(&w);
    fs_net_opts o = {.threads = threads, .max_batch = 1};
    if (!e) e = fs_net_ctx_create(p->net, &o, &p->ctx, msg);
    return e;
}

static double p_fake_of(const predictor *p, double raw) {
    if (p->have_card) return fs_card_p_fake(&p->card, raw);
    return fs_net_output_is_fake(p->net) ? raw : 1.0 - raw;
}

/* Decodes, resizes and runs one file. */
static fs_err judge(const predictor *p, const char *path, float *x, float *raw, fs_msg *msg) {
    const fs_arch *a = fs_net_arch(p->net);
    fs_image img = {0}, sized = {0};
    fs_image_limits lim = fs_image_limits_default();
    fs_err e = fs_image_load(path, &lim, &img, msg);
    if (e) return e;
    const fs_image *use = &img;
    if (img.w != a->input_w || img.h != a->input_h) {
        e = fs_image_resize(&img, a->input_w, a->input_h, &sized, msg);
        use = &sized;
    }
    if (!e) {
        fs_image_to_float(use, a->input_scale, x);
        e = fs_net_forward(p->ctx, x, 1, raw, NULL, msg);
    }
    fs_image_free(&img);
    fs_image_free(&sized);
    return e;
}

static void print_json(json_t *obj) {
    char *s = fs_json_dumps(obj, JSON_COMPACT);
    if (s) puts(s);
    free(s);
    json_decref(obj);
}

int fs_cli_predict(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"weights", required_argument, 0, 'w'},
        {"arch", required_argument, 0, 'a'},    {"dir", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *model = NULL, *weights = NULL, *arch = NULL;
    const char *dirs[FS_REGISTRY_MAX_DIRS];
    size_t ndirs = 0;
    int threads = 0, json = 0;
    char *end;
    optind = 0;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'w': weights = optarg; break;
        case 'a': arch = optarg; break;
        case 'd':
            if (ndirs == FS_REGISTRY_MAX_DIRS) {
                fprintf(stderr, "fakescope predict: at most %d --dir\n", FS_REGISTRY_MAX_DIRS);
                return FS_EXIT_USAGE;
            }
            dirs[ndirs++] = optarg;
            break;
        case 't':
            threads = (int)strtol(optarg, &end, 10);
            if (*end || threads < 1 || threads > FS_NN_MAX_THREADS) {
                fprintf(stderr, "fakescope predict: --threads wants 1..%d\n", FS_NN_MAX_THREADS);
                return FS_EXIT_USAGE;
            }
            break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    if (!model == !weights) {
        fprintf(stderr, "fakescope predict: give either --model NAME or --weights FILE\n");
        return FS_EXIT_USAGE;
    }
    if (arch && !fs_arch_find(arch)) {
        fprintf(stderr, "fakescope predict: unknown architecture '%s' (meso4, mesoinception4)\n",
                arch);
        return FS_EXIT_USAGE;
    }
    if (model && arch) {
        fprintf(stderr, "fakescope predict: --arch goes with --weights; a model's card names it\n");
        return FS_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "fakescope predict: no image files given\n");
        return FS_EXIT_USAGE;
    }
    predictor p = {0};
    fs_msg msg;
    if (open_model(&p, model, dirs, ndirs, weights, arch, threads, &msg)) {
        fprintf(stderr, "fakescope predict: %s\n", msg.text);
        fs_net_ctx_free(p.ctx);
        fs_net_free(p.net);
        fs_card_free(&p.card);
        return FS_EXIT_INPUT;
    }
    const fs_arch *a = fs_net_arch(p.net);
    float *x = malloc((size_t)a->input_h * a->input_w * a->input_c * sizeof(float));
    int failed = 0;
    for (int i = optind; i < argc; i++) {
        const char *file = argv[i];
        float raw = 0;
        fs_err e = x ? judge(&p, file, x, &raw, &msg) : fs_fail(&msg, FS_ERR_NOMEM, "out of memory");
        if (e) {
            failed = 1;
            if (json)
                print_json(json_pack("{s:s, s:s}", "file", file, "error", msg.text));
            else
                fprintf(stderr, "%s: error: %s\n", file, msg.text);
            fflush(stdout);
            continue;
        }
        double pf = p_fake_of(&p, raw);
        const char *label = pf >= 0.5 ? "fake" : "real";
        if (json)
            print_json(json_pack("{s:s, s:s, s:s, s:f, s:f}", "file", file, "model", p.model,
                                 "label", label, "p_fake", pf, "raw", (double)raw));
        else
            printf("%s: %s  P(fake) = %.4f  (raw output %.6f, %s)\n", file, label, pf, raw, p.model);
        fflush(stdout);
    }
    free(x);
    fs_net_ctx_free(p.ctx);
    fs_net_free(p.net);
    fs_card_free(&p.card);
    return failed ? FS_EXIT_INPUT : FS_EXIT_OK;
}
