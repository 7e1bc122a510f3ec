/* fuzz_tflite: libFuzzer target for the TFLite model reader (fs_tflite_parse), which every
 * pretrained network an operator imports goes through. A model that parses must keep the
 * header's promises: indices in range (-1 only for operator inputs), names and constant bytes
 * inside the input, per-channel scales as many as their dimension, strides and dilations of
 * convolutions at least 1; and every constant must read back as floats (fs_tflite_tensor_float)
 * or be refused with a reason. Breaking a promise aborts, so it counts as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/tflite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size) {
    return p >= data && p <= data + size && n <= (size_t)(data + size - p);
}

/* A string the model hands out: the reader's own "" or a NUL-terminated run of the input. */
static void check_string(const char *s, const uint8_t *data, size_t size) {
    if (!s) abort();
    if (!*s) return;
    const uint8_t *p = (const uint8_t *)s;
    if (!inside(p, 1, data, size) || !memchr(p, 0, (size_t)(data + size - p))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_tflite_model *m = (fs_tflite_model *)&size; /* must come back NULL on failure */
    fs_msg msg;
    fs_err e = fs_tflite_parse(data, size, &m, &msg);
    if (e != FS_OK) {
        if (m) abort();
        if (e != FS_ERR_FORMAT && e != FS_ERR_LIMIT && e != FS_ERR_UNSUPPORTED) abort();
        return 0;
    }
    check_string(m->description, data, size);
    check_string(m->graph_name, data, size);
    if (m->nsubgraphs < 1) abort();
    for (int i = 0; i < m->ntensors; i++) {
        const fs_tflite_tensor *t = &m->tensors[i];
        check_string(t->name, data, size);
        if (t->ndim < 0 || t->ndim > FS_TFLITE_MAX_DIMS || t->count < 0) abort();
        int64_t count = 1;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0) abort();
            count *= t->shape[k];
        }
        if (count != t->count) abort();
        if (t->data && !inside(t->data, t->nbytes, data, size)) abort();
        size_t es = fs_tflite_type_size(t->type);
        if (t->data && !t->sparse && es && (uint64_t)t->count * es != t->nbytes) abort();
        const fs_tflite_quant *q = &t->quant;
        if (q->count < 0 || (q->count && (!q->scale || !q->zero_point))) abort();
        if (q->count > 1 && (q->dim < 0 || q->dim >= t->ndim || t->shape[q->dim] != q->count))
            abort();
        float *v = NULL;
        size_t n = 0;
        fs_err ve = fs_tflite_tensor_float(m, i, &v, &n, &msg);
        if (ve == FS_OK) {
            if (!v || n != (size_t)t->count) abort();
            volatile float sink = 0; /* ASan sees a read of anything left unwritten past n */
            for (size_t k = 0; k < n; k++) sink += v[k];
            (void)sink;
            free(v);
        } else if (v || n || (ve != FS_ERR_INVALID && ve != FS_ERR_UNSUPPORTED)) {
            abort();
        } else if (ve == FS_ERR_INVALID && t->data) {
            abort(); /* INVALID is for tensors without constant values */
        }
    }
    for (int i = 0; i < m->nops; i++) {
        const fs_tflite_op *op = &m->ops[i];
        if (!op->name) abort();
        for (int k = 0; k < op->ninputs; k++)
            if (op->inputs[k] < -1 || op->inputs[k] >= m->ntensors) abort();
        for (int k = 0; k < op->noutputs; k++)
            if (op->outputs[k] < 0 || op->outputs[k] >= m->ntensors) abort();
        const fs_tflite_options *o = &op->opt;
        if (op->code == FS_TFLITE_OP_CONV_2D || op->code == FS_TFLITE_OP_DEPTHWISE_CONV_2D ||
            op->code == FS_TFLITE_OP_AVERAGE_POOL_2D || op->code == FS_TFLITE_OP_MAX_POOL_2D) {
            if (o->stride_w < 1 || o->stride_h < 1 || o->dilation_w < 1 || o->dilation_h < 1)
                abort();
            if (!fs_tflite_padding_name((int)o->padding) || !fs_tflite_act_name((int)o->activation))
                abort();
        }
        if (o->ndims < 0 || o->ndims > FS_TFLITE_MAX_DIMS) abort();
        if (op->custom_code) check_string(op->custom_code, data, size);
    }
    for (int i = 0; i < m->ninputs; i++)
        if (m->inputs[i] < 0 || m->inputs[i] >= m->ntensors) abort();
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i] < 0 || m->outputs[i] >= m->ntensors) abort();
    (void)fs_tflite_count_ops(m, FS_TFLITE_OP_CONV_2D);
    fs_tflite_free(m);
    return 0;
}
