/* bench.c: `fakescope bench`, forward-pass throughput of an architecture on random weights and
 * random input (the numbers do not depend on the values), and the machine's FMA peak, so
 * GFLOP/s can be read against what the cores can do. */
#include "cli/cli.h"
#include "fakescope/mobilenet.h"
#include "fakescope/model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_SECONDS 3600.0

static void usage(FILE *out) {
    fprintf(out,
            "usage: fakescope bench --arch ARCH [--batch B] [--threads T] [--seconds S] [--json]\n"
            "       fakescope bench --peak [--threads T] [--seconds S] [--json]\n\n"
            "Runs forward passes of ARCH (meso4 or mesoinception4 on 256x256 input, mobilenetv2 on\n"
            "224x224) on random weights and random input for S seconds and prints the throughput.\n\n"
            "  --arch ARCH     architecture to run\n"
            "  --batch B       images per forward call (default 1, at most %d)\n"
            "  --threads T     threads of the forward pass (default: all %d online CPUs)\n"
            "  --seconds S     how long to measure (default 3; a warm-up pass comes first)\n"
            "  --portable      use the portable kernels even when AVX2+FMA is available\n"
            "                  (FAKESCOPE_NO_AVX512=1 keeps AVX2 on an AVX-512 CPU)\n"
            "  --no-share      mobilenetv2: every node keeps its own output buffer for the\n"
            "                  batch, as before buffer sharing (for comparison; the detectors\n"
            "                  share, see docs/nn.md)\n"
            "  --peak          measure the FMA peak in GFLOP/s instead (T threads at once)\n"
            "  --json          one JSON object: {\"arch\",\"batch\",\"threads\",\"images_per_s\","
            "\"gflops\",\"isa\",\"images_per_cpu_s\"}\n"
            "                  (images_per_cpu_s: per second of CPU time of all threads, which\n"
            "                  a busy machine disturbs less than the wall-clock figure)\n"
            "                  (with --peak: {\"threads\",\"isa\",\"peak_gflops\"})\n"
            "  -h, --help      this text\n",
            FS_NET_MAX_BATCH, fs_cpu_count());
}

/* CPU time of the whole process (all threads), in ms. */
static double cpu_ms(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)) return 0;
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static uint64_t rng = 0x853C49E6748FEA9Bull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* Random weights of the right shapes; running variances kept positive. */
static fs_err random_net(const fs_arch *a, fs_net **net, fs_msg *msg) {
    fs_weights w = {0};
    fs_err e = FS_OK;
    for (size_t i = 0; i < a->n_tensors && !e; i++) {
        const fs_arch_tensor *t = &a->tensors[i];
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        float *data = malloc((size_t)n * sizeof(float));
        if (!data) {
            e = fs_fail(msg, FS_ERR_NOMEM, "out of memory");
            break;
        }
        int var = strstr(t->name, "running_var") != NULL;
        for (int64_t j = 0; j < n; j++) data[j] = var ? 1.0f + 0.5f * frand() : 0.2f * frand();
        e = fs_weights_add(&w, t->name, t->ndim, t->shape, data, msg);
        free(data);
    }
    if (!e) e = fs_net_create(&w, a->name, net, msg);
    fs_weights_free(&w);
    return e;
}

typedef struct peak_job {
    fs_isa isa;
    double seconds, gflops[FS_NN_MAX_THREADS];
} peak_job;

static void peak_fn(void *arg, int tid, int n) {
    (void)n;
    peak_job *j = arg;
    j->gflops[tid] = fs_nn_fma_peak_gflops(j->isa, j->seconds);
}

/* MobileNetV2 (the op graph) on random folded weights and 224x224 input. */
static int run_mobilenet(int batch, int threads, double seconds, int json, int portable, int share) {
    fs_msg msg;
    fs_weights w = {0};
    fs_graph *g = NULL;
    const size_t n = (size_t)batch * 224 * 224 * 3;
    float *x = malloc(n * sizeof(float));
    int rc = FS_EXIT_INPUT;
    if (!x) {
        fprintf(stderr, "fakescope bench: out of memory\n");
        return rc;
    }
    for (size_t i = 0; i < n; i++) x[i] = frand();
    if (fs_mobilenetv2_random(&w, 1000, 1, &msg) || fs_mobilenetv2_graph(&w, 224, &g, &msg) ||
        (fs_graph_share(g, share), 0) ||
        fs_graph_set_threads(g, threads, &msg) || (fs_graph_set_isa(g, portable ? FS_ISA_PORTABLE : fs_nn_isa_best()), 0) ||
        fs_graph_plan(g, batch, &msg) || fs_graph_forward(g, x, batch, NULL, &msg)) { /* warm-up */
        fprintf(stderr, "fakescope bench: %s\n", msg.text);
        goto done;
    }
    double macs = 0;
    for (int i = 0; i < fs_graph_nodes(g); i++) {
        fs_graph_node_info o;
        fs_graph_node(g, i, &o);
        macs += o.macs;
    }
    double t0 = fs_now_ms(), c0 = cpu_ms(), el;
    long images = 0;
    do {
        fs_graph_forward(g, x, batch, NULL, NULL);
        images += batch;
    } while ((el = fs_now_ms() - t0) < seconds * 1000.0);
    const double ips = images / (el / 1000.0), gflops = ips * 2 * macs / 1e9;
    const double cpu = cpu_ms() - c0, ipc = cpu > 0 ? images / (cpu / 1000.0) : 0;
    const char *isa = fs_nn_isa_name(fs_graph_isa(g));
    if (json)
        printf("{\"arch\":\"mobilenetv2\",\"batch\":%d,\"threads\":%d,\"images_per_s\":%.2f,"
               "\"gflops\":%.3f,\"isa\":\"%s\",\"images_per_cpu_s\":%.2f}\n",
               batch, threads, ips, gflops, isa, ipc);
    else
        printf("MobileNetV2 224x224 batch %d threads %d (%s): %.1f images/s, %.2f ms per image, "
               "%.1f GFLOP/s (%.2f GFLOP an image); %.1f images per CPU-second\n",
               batch, threads, isa, ips, 1000.0 / ips, gflops, 2 * macs / 1e9, ipc);
    rc = FS_EXIT_OK;
done:
    fs_graph_free(g);
    fs_weights_free(&w);
    free(x);
    return rc;
}

static int run_peak(int threads, double seconds, int json, fs_isa isa) {
    fs_pool *pool;
    fs_msg msg;
    if (fs_pool_create(threads, &pool, &msg)) {
        fprintf(stderr, "fakescope bench: %s\n", msg.text);
        return FS_EXIT_INPUT;
    }
    peak_job *j = calloc(1, sizeof *j);
    if (!j) {
        fs_pool_free(pool);
        return FS_EXIT_INPUT;
    }
    j->isa = isa, j->seconds = seconds;
    fs_pool_run(pool, peak_fn, j);
    double total = 0;
    int n = fs_pool_threads(pool);
    for (int t = 0; t < n; t++) total += j->gflops[t];
    if (json)
        printf("{\"threads\":%d,\"isa\":\"%s\",\"peak_gflops\":%.2f}\n", n, fs_nn_isa_name(isa), total);
    else
        printf("FMA peak (%s): %.1f GFLOP/s on %d thread%s (%.1f per thread)\n",
               fs_nn_isa_name(isa), total, n, n > 1 ? "s" : "", total / n);
    free(j);
    fs_pool_free(pool);
    return FS_EXIT_OK;
}

int fs_cli_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},   {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"seconds", required_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},         {"peak", no_argument, 0, 'p'},
        {"portable", no_argument, 0, 'P'},     {"help", no_argument, 0, 'h'},
        {"no-share", no_argument, 0, 'S'},
        {0, 0, 0, 0}};
    const char *arch_name = NULL;
    int batch = 1, threads = 0, json = 0, peak = 0, portable = 0, share = 1;
    double seconds = 3.0;
    char *end;
    optind = 0;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 'a': arch_name = optarg; break;
        case 'b':
            batch = (int)strtol(optarg, &end, 10);
            if (*end || batch < 1 || batch > FS_NET_MAX_BATCH) {
                fprintf(stderr, "fakescope bench: --batch wants 1..%d\n", FS_NET_MAX_BATCH);
                return FS_EXIT_USAGE;
            }
            break;
        case 't':
            threads = (int)strtol(optarg, &end, 10);
            if (*end || threads < 1 || threads > FS_NN_MAX_THREADS) {
                fprintf(stderr, "fakescope bench: --threads wants 1..%d\n", FS_NN_MAX_THREADS);
                return FS_EXIT_USAGE;
            }
            break;
        case 's':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0) || seconds > BENCH_MAX_SECONDS) {
                fprintf(stderr, "fakescope bench: --seconds wants a positive number\n");
                return FS_EXIT_USAGE;
            }
            break;
        case 'j': json = 1; break;
        case 'p': peak = 1; break;
        case 'P': portable = 1; break;
        case 'S': share = 0; break;
        case 'h': usage(stdout); return FS_EXIT_OK;
        default: usage(stderr); return FS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakescope bench: unexpected argument '%s'\n", argv[optind]);
        return FS_EXIT_USAGE;
    }
    fs_isa isa = portable ? FS_ISA_PORTABLE : fs_nn_isa_best();
    if (threads <= 0) threads = fs_cpu_count();
    if (peak) return run_peak(threads, seconds, json, isa);
    if (!arch_name) {
        fprintf(stderr, "fakescope bench: --arch is required (meso4, mesoinception4 or mobilenetv2)\n");
        return FS_EXIT_USAGE;
    }
    if (!strcmp(arch_name, "mobilenetv2")) return run_mobilenet(batch, threads, seconds, json, portable, share);
    const fs_arch *a = fs_arch_find(arch_name);
    if (!a) {
        fprintf(stderr, "fakescope bench: unknown architecture '%s' (meso4, mesoinception4, "
                "mobilenetv2)\n",
                arch_name);
        return FS_EXIT_USAGE;
    }
    fs_msg msg;
    fs_net *net = NULL;
    fs_net_ctx *ctx = NULL;
    size_t n = (size_t)batch * a->input_h * a->input_w * a->input_c;
    float *x = malloc(n * sizeof(float)), *raw = malloc((size_t)batch * sizeof(float));
    int rc = FS_EXIT_INPUT;
    fs_net_opts o = {.threads = threads, .max_batch = batch, .portable = portable};
    if (!x || !raw) {
        fprintf(stderr, "fakescope bench: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++) x[i] = (frand() + 1.0f) * 0.5f;
    if (random_net(a, &net, &msg) || fs_net_ctx_create(net, &o, &ctx, &msg)) {
        fprintf(stderr, "fakescope bench: %s\n", msg.text);
        goto done;
    }
    if (fs_net_forward(ctx, x, batch, raw, NULL, &msg)) { /* warm-up: pages, caches, threads */
        fprintf(stderr, "fakescope bench: %s\n", msg.text);
        goto done;
    }
    double t0 = fs_now_ms(), c0 = cpu_ms(), el;
    long images = 0;
    do {
        fs_net_forward(ctx, x, batch, raw, NULL, NULL);
        images += batch;
    } while ((el = fs_now_ms() - t0) < seconds * 1000.0);
    double ips = images / (el / 1000.0), gflops = ips * fs_arch_flops(a) / 1e9;
    double cpu = cpu_ms() - c0, ipc = cpu > 0 ? images / (cpu / 1000.0) : 0;
    if (json)
        printf("{\"arch\":\"%s\",\"batch\":%d,\"threads\":%d,\"images_per_s\":%.2f,\"gflops\":%.3f,"
               "\"isa\":\"%s\",\"images_per_cpu_s\":%.2f}\n",
               a->name, batch, threads, ips, gflops, fs_nn_isa_name(fs_net_ctx_isa(ctx)), ipc);
    else
        printf("%s batch %d threads %d (%s): %.1f images/s, %.2f ms per image, %.1f GFLOP/s, "
               "plan %.1f MiB; %.1f images per CPU-second\n",
               a->title, batch, threads, fs_nn_isa_name(fs_net_ctx_isa(ctx)), ips,
               1000.0 / ips, gflops, fs_net_ctx_bytes(ctx) / 1048576.0, ipc);
    rc = FS_EXIT_OK;
done:
    fs_net_ctx_free(ctx);
    fs_net_free(net);
    free(x), free(raw);
    return rc;
}
