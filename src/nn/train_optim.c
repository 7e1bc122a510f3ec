/* Losses, optimisers and learning-rate schedules for training graphs (nn/), and the export of
 * a graph's parameters to fs_weights in the PyTorch layout the inference engine reads.
 *
 * Adam follows Kingma & Ba with bias correction (Keras's epsilon 1e-7 by default); SGD keeps a
 * heavy-ball momentum buffer. Weight decay is decoupled (AdamW): the weight shrinks by
 * lr * decay directly, not through the gradient, and only conv / dense weights decay. Clipping
 * scales all gradients together when their global L2 norm passes the limit. The updates run in
 * parameter order on one thread, so they are as deterministic as the gradients. An optimiser
 * works on an array of fs_tparam records, a training graph's (fs_tnet) or an op graph's
 * (fs_graph_params); a parameter group (a name prefix) may take a multiple of the learning rate,
 * and frozen parameters or a multiple of 0 are left alone (and out of the clipping norm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/train.h"

double fs_loss_bce_logits(const float *z, const float *y, int n, float *dz) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const double x = z[i], t = y[i];
        /* max(x,0) - x*t + log(1 + exp(-|x|)): no overflow for any logit */
        total += (x > 0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
        if (dz) {
            const double s = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
            dz[i] = (float)((s - t) / n);
        }
    }
    return n > 0 ? total / n : 0.0;
}

double fs_loss_mse(const float *p, const float *t, int n, float *dp) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const double d = (double)p[i] - t[i];
        total += d * d;
        if (dp) dp[i] = (float)(2.0 * d / n);
    }
    return n > 0 ? total / n : 0.0;
}

fs_opt_config fs_opt_config_default(void) {
    fs_opt_config c = {0};
    c.kind = FS_OPT_ADAM;
    c.lr = 1e-3;
    c.beta1 = 0.9, c.beta2 = 0.999, c.eps = 1e-7;
    c.momentum = 0.9;
    c.schedule = FS_LR_CONSTANT;
    c.step_gamma = 0.1;
    c.min_lr_frac = 0.0;
    return c;
}

double fs_lr_at(const fs_opt_config *cfg, int64_t step) {
    const double base = cfg->lr;
    if (cfg->warmup_steps > 0 && step < cfg->warmup_steps)
        return base * (double)(step + 1) / (double)cfg->warmup_steps;
    switch (cfg->schedule) {
    case FS_LR_STEP: {
        if (cfg->step_every <= 0) return base;
        const int64_t k = (step - cfg->warmup_steps) / cfg->step_every;
        return base * pow(cfg->step_gamma, (double)k);
    }
    case FS_LR_COSINE: {
        const int64_t span = cfg->total_steps - cfg->warmup_steps;
        if (span <= 0) return base;
        double f = (double)(step - cfg->warmup_steps) / (double)span;
        if (f > 1.0) f = 1.0;
        const double lo = base * cfg->min_lr_frac;
        return lo + (base - lo) * 0.5 * (1.0 + cos(M_PI * f));
    }
    case FS_LR_CONSTANT:
    default: return base;
    }
}

struct fs_optim {
    fs_opt_config cfg;
    fs_tparam *p;   /* the parameters, borrowed */
    int64_t steps;
    float **m, **v; /* per parameter; v unused by SGD */
    double *scale;  /* per parameter: learning rate multiplier, 0 = left unchanged */
    size_t np;
};

fs_err fs_optim_create(const fs_opt_config *cfg, fs_tnet *net, fs_optim **out, fs_msg *msg) {
    return fs_optim_create_params(cfg, fs_tnet_param(net, 0), fs_tnet_param_count(net), out, msg);
}

/* 1 when parameter i takes updates. */
static int updated(const fs_optim *o, size_t i) {
    return o->p[i].grad && !o->p[i].frozen && o->scale[i] != 0.0;
}

int fs_optim_lr_scale(fs_optim *o, const char *prefix, double scale) {
    int count = 0;
    const size_t len = strlen(prefix);
    for (size_t i = 0; i < o->np; i++)
        if (!strncmp(o->p[i].name, prefix, len)) o->scale[i] = scale, count++;
    return count;
}

fs_err fs_optim_create_params(const fs_opt_config *cfg, fs_tparam *params, size_t n,
                              fs_optim **out, fs_msg *msg) {
    *out = NULL;
    if (!(cfg->lr > 0.0) || !isfinite(cfg->lr))
        return fs_fail(msg, FS_ERR_INVALID, "learning rate must be positive");
    if (cfg->kind == FS_OPT_ADAM && !(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 &&
                                      cfg->beta2 < 1 && cfg->eps > 0))
        return fs_fail(msg, FS_ERR_INVALID, "Adam needs 0 <= beta < 1 and eps > 0");
    if (cfg->weight_decay < 0 || cfg->clip_norm < 0 || cfg->momentum < 0 || cfg->momentum >= 1)
        return fs_fail(msg, FS_ERR_INVALID, "weight decay and clip must be >= 0, momentum in [0, 1)");
    fs_optim *o = calloc(1, sizeof *o);
    if (!o) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for an optimiser");
    o->cfg = *cfg, o->p = params, o->np = n;
    o->m = calloc(o->np + 1, sizeof *o->m);
    o->v = calloc(o->np + 1, sizeof *o->v);
    o->scale = calloc(o->np + 1, sizeof *o->scale);
    if (!o->m || !o->v || !o->scale) goto nomem;
    for (size_t i = 0; i < o->np; i++) {
        const fs_tparam *p = &params[i];
        o->scale[i] = 1.0;
        if (!p->grad) continue;
        o->m[i] = calloc(p->count, sizeof(float));
        o->v[i] = calloc(p->count, sizeof(float));
        if (!o->m[i] || !o->v[i]) goto nomem;
    }
    *out = o;
    return FS_OK;
nomem:
    fs_optim_free(o);
    return fs_fail(msg, FS_ERR_NOMEM, "out of memory for optimiser state");
}

void fs_optim_free(fs_optim *o) {
    if (!o) return;
    for (size_t i = 0; i < o->np; i++) {
        if (o->m) free(o->m[i]);
        if (o->v) free(o->v[i]);
    }
    free(o->m), free(o->v), free(o->scale);
    free(o);
}

int64_t fs_optim_steps(const fs_optim *o) { return o->steps; }

double fs_optim_step(fs_optim *o) {
    const fs_opt_config *c = &o->cfg;
    double sq = 0.0;
    for (size_t i = 0; i < o->np; i++) {
        const fs_tparam *p = &o->p[i];
        if (!updated(o, i)) continue;
        for (size_t j = 0; j < p->count; j++) sq += (double)p->grad[j] * p->grad[j];
    }
    const double norm = sqrt(sq);
    const float gscale = c->clip_norm > 0 && norm > c->clip_norm ? (float)(c->clip_norm / norm) : 1.0f;
    const double lr = fs_lr_at(c, o->steps);
    o->steps++;
    const double bc1 = 1.0 - pow(c->beta1, (double)o->steps);
    const double bc2 = 1.0 - pow(c->beta2, (double)o->steps);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float rbc2 = (float)(1.0 / bc2), eps = (float)c->eps, mom = (float)c->momentum;
    for (size_t i = 0; i < o->np; i++) {
        fs_tparam *p = &o->p[i];
        if (!updated(o, i)) continue;
        const double plr = lr * o->scale[i];
        const float a = (float)(plr / bc1), shrink = (float)(1.0 - plr * c->weight_decay);
        float *m = o->m[i], *v = o->v[i], *w = p->data;
        if (p->decay && c->weight_decay > 0)
            for (size_t j = 0; j < p->count; j++) w[j] *= shrink;
        if (c->kind == FS_OPT_ADAM) {
            for (size_t j = 0; j < p->count; j++) {
                const float g = p->grad[j] * gscale;
                m[j] = b1 * m[j] + (1.0f - b1) * g;
                v[j] = b2 * v[j] + (1.0f - b2) * g * g;
                w[j] -= a * m[j] / (sqrtf(v[j] * rbc2) + eps);
            }
        } else {
            for (size_t j = 0; j < p->count; j++) {
                m[j] = mom * m[j] + p->grad[j] * gscale;
                w[j] -= (float)plr * m[j];
            }
        }
    }
    return norm;
}

fs_err fs_optim_export(const fs_optim *o, fs_weights *w, fs_msg *msg) {
    char name[96], num[32];
    for (size_t i = 0; i < o->np; i++) {
        const fs_tparam *p = &o->p[i];
        if (!p->grad) continue;
        const int64_t shape[1] = {(int64_t)p->count};
        snprintf(name, sizeof name, "%s.%s", p->name, o->cfg.kind == FS_OPT_ADAM ? "adam_m" : "momentum");
        fs_err err = fs_weights_add(w, name, 1, shape, o->m[i], msg);
        if (!err && o->cfg.kind == FS_OPT_ADAM) {
            snprintf(name, sizeof name, "%s.adam_v", p->name);
            err = fs_weights_add(w, name, 1, shape, o->v[i], msg);
        }
        if (err) return err;
    }
    snprintf(num, sizeof num, "%lld", (long long)o->steps);
    return fs_weights_set_meta(w, "optim_steps", num, msg);
}

fs_err fs_optim_import(fs_optim *o, const fs_weights *w, fs_msg *msg) {
    char name[96];
    const char *steps = fs_weights_meta(w, "optim_steps");
    if (!steps) return fs_fail(msg, FS_ERR_FORMAT, "checkpoint has no optimiser step count");
    for (size_t i = 0; i < o->np; i++) {
        const fs_tparam *p = &o->p[i];
        if (!p->grad) continue;
        for (int k = 0; k < (o->cfg.kind == FS_OPT_ADAM ? 2 : 1); k++) {
            snprintf(name, sizeof name, "%s.%s", p->name,
                     o->cfg.kind == FS_OPT_ADAM ? (k ? "adam_v" : "adam_m") : "momentum");
            const fs_weight *t = fs_weights_get(w, name);
            if (!t || t->count != (int64_t)p->count)
                return fs_fail(msg, FS_ERR_FORMAT, "checkpoint lacks optimiser state '%s'", name);
            memcpy(k ? o->v[i] : o->m[i], t->data, p->count * sizeof(float));
        }
    }
    o->steps = strtoll(steps, NULL, 10);
    return FS_OK;
}

/* conv weights: internal [kh][kw][in][out] <-> export [out][in][kh][kw] */
static void conv_to_export(const fs_tparam *p, const float *src, float *dst) {
    const int64_t co = p->shape[0], ci = p->shape[1], kh = p->shape[2], kw = p->shape[3];
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t o = 0; o < co; o++)
                    dst[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o];
}
static void conv_from_export(const fs_tparam *p, const float *src, float *dst) {
    const int64_t co = p->shape[0], ci = p->shape[1], kh = p->shape[2], kw = p->shape[3];
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t o = 0; o < co; o++)
                    dst[((y * kw + x) * ci + i) * co + o] = src[((o * ci + i) * kh + y) * kw + x];
}

fs_err fs_tnet_export(const fs_tnet *net, fs_weights *w, fs_msg *msg) {
    fs_tnet *nm = (fs_tnet *)net; /* accessors are read-only here */
    for (size_t i = 0; i < fs_tnet_param_count(net); i++) {
        const fs_tparam *p = fs_tnet_param(nm, i);
        float *buf = malloc(p->count * sizeof(float));
        if (!buf) return fs_fail(msg, FS_ERR_NOMEM, "out of memory exporting %s", p->name);
        if (p->ndim == 4) conv_to_export(p, p->data, buf);
        else memcpy(buf, p->data, p->count * sizeof(float));
        fs_err err = fs_weights_add_owned(w, p->name, p->ndim, p->shape, buf, msg);
        if (err) return err;
    }
    return FS_OK;
}

fs_err fs_tnet_import(fs_tnet *net, const fs_weights *w, fs_msg *msg) {
    for (size_t i = 0; i < fs_tnet_param_count(net); i++) {
        fs_tparam *p = fs_tnet_param(net, i);
        const fs_weight *t = fs_weights_get(w, p->name);
        if (!t) return fs_fail(msg, FS_ERR_FORMAT, "weights lack '%s'", p->name);
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) return fs_fail(msg, FS_ERR_FORMAT, "'%s' has the wrong shape", p->name);
        if (p->ndim == 4) conv_from_export(p, t->data, p->data);
        else memcpy(p->data, t->data, p->count * sizeof(float));
    }
    return FS_OK;
}
