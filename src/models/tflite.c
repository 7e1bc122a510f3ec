/* tflite.c: reads TensorFlow Lite model files, so that pretrained networks (ImageNet
 * MobileNetV2, MediaPipe BlazeFace) can be imported into fakescope's graphs and weights.
 *
 * A .tflite file is a FlatBuffer of the schema tensorflow/lite/schema/schema.fbs (version 3).
 * The reader walks it by hand instead of through generated code: the schema's few tables we
 * need are named below by their field ids (vtable slots, in declaration order; a union takes two
 * slots, its type then its value; deprecated fields keep their slot), and every access goes
 * through the rd_* helpers, which check each offset, vtable, vector length and string against
 * the buffer before reading it. Offsets that FlatBuffers stores unsigned only point forward, a
 * vtable may sit anywhere inside the buffer, and nothing here recurses, so a hostile file can
 * neither loop the reader nor send it outside [data, data + len). What the reader copies (index
 * arrays, quantization scales) has named budgets, so a small file cannot make it allocate much:
 * a vector element is at least 4 bytes of file, and the copies shared offsets could multiply
 * are capped by FS_TFLITE_MAX_INDICES and FS_TFLITE_MAX_QUANT_VALUES. */
#include "fakescope/tflite.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TFL_IDENTIFIER "TFL3"
#define TFL_SCHEMA_VERSION 3
#define TFL_HEADER 8    /* root offset + file identifier */
#define TFL_EXTERNAL_MIN 1 /* Buffer.offset is meaningful only above this (schema) */

/* Field ids of the schema tables read here. */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3,
       MODEL_BUFFERS = 4 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3, SG_NAME = 4 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANT = 4,
       TENSOR_IS_VARIABLE = 5, TENSOR_SPARSITY = 6 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DETAILS_TYPE = 4, QUANT_DIM = 6 };
enum { OPCODE_DEPRECATED_CODE = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_CODE = 3 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };

/* BuiltinOptions union types (schema order, NONE = 0) of the options decoded here. */
enum {
    OPT_CONV_2D = 1, OPT_DEPTHWISE_CONV_2D = 2, OPT_POOL_2D = 5, OPT_FULLY_CONNECTED = 8,
    OPT_SOFTMAX = 9, OPT_CONCATENATION = 10, OPT_ADD = 11, OPT_L2_NORM = 12,
    OPT_RESIZE_BILINEAR = 15, OPT_RESHAPE = 17, OPT_SPACE_TO_DEPTH = 19, OPT_MUL = 21,
    OPT_GATHER = 23, OPT_REDUCER = 27, OPT_SUB = 28, OPT_DIV = 29, OPT_SQUEEZE = 30,
    OPT_STRIDED_SLICE = 32, OPT_SPLIT = 35, OPT_CAST = 37, OPT_ARG_MAX = 40,
    OPT_TRANSPOSE_CONV = 49, OPT_ARG_MIN = 57, OPT_PACK = 59, OPT_UNPACK = 64,
    OPT_RESIZE_NEAREST = 74, OPT_LEAKY_RELU = 75, OPT_MIRROR_PAD = 77, OPT_SPLIT_V = 79,
    OPT_DEPTH_TO_SPACE = 94
};

/* ---- names ---------------------------------------------------------------------------- */

static const char *const op_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6",
    "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX",
    "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM",
    "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
    "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG",
    "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
    "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
    "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE",
    "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == FS_TFLITE_OP_LAST_NAMED + 1,
               "one name per BuiltinOperator code, none skipped");

static const struct {
    const char *name;
    size_t size;
} types[] = {
    [FS_TFLITE_FLOAT32] = {"FLOAT32", 4},   [FS_TFLITE_FLOAT16] = {"FLOAT16", 2},
    [FS_TFLITE_INT32] = {"INT32", 4},       [FS_TFLITE_UINT8] = {"UINT8", 1},
    [FS_TFLITE_INT64] = {"INT64", 8},       [FS_TFLITE_STRING] = {"STRING", 0},
    [FS_TFLITE_BOOL] = {"BOOL", 1},         [FS_TFLITE_INT16] = {"INT16", 2},
    [FS_TFLITE_COMPLEX64] = {"COMPLEX64", 8}, [FS_TFLITE_INT8] = {"INT8", 1},
    [FS_TFLITE_FLOAT64] = {"FLOAT64", 8},   [FS_TFLITE_COMPLEX128] = {"COMPLEX128", 16},
    [FS_TFLITE_UINT64] = {"UINT64", 8},     [FS_TFLITE_RESOURCE] = {"RESOURCE", 0},
    [FS_TFLITE_VARIANT] = {"VARIANT", 0},   [FS_TFLITE_UINT32] = {"UINT32", 4},
    [FS_TFLITE_UINT16] = {"UINT16", 2},     [FS_TFLITE_INT4] = {"INT4", 0},
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

static const char *const act_names[] = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH",
                                        "SIGN_BIT"};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))

const char *fs_tflite_op_name(int32_t code) {
    return code >= 0 && code <= FS_TFLITE_OP_LAST_NAMED ? op_names[code] : NULL;
}

const char *fs_tflite_type_name(int type) {
    return type >= 0 && type < N_TYPES ? types[type].name : NULL;
}

size_t fs_tflite_type_size(int type) {
    return type >= 0 && type < N_TYPES ? types[type].size : 0;
}

const char *fs_tflite_act_name(int act) {
    return act >= 0 && act < N_ACTS ? act_names[act] : NULL;
}

const char *fs_tflite_padding_name(int padding) {
    return padding == FS_TFLITE_PADDING_SAME ? "SAME"
           : padding == FS_TFLITE_PADDING_VALID ? "VALID" : NULL;
}

/* ---- checked FlatBuffers access ------------------------------------------------------- */

typedef struct rd {
    const uint8_t *d;
    size_t len;
    fs_msg *msg;
} rd;

/* A table: its position, its vtable's position and the sizes the vtable declares, all checked
 * to lie inside the buffer by rd_table_at. */
typedef struct tbl {
    size_t pos, vt;
    uint32_t vt_size, size;
} tbl;

/* A vector: the position of its first element and its length, checked to fit the buffer. */
typedef struct vec {
    size_t pos;
    uint32_t n;
} vec;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static float f32_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The one bounds check every read goes through: n bytes at pos lie inside the buffer. */
static int rd_fits(const rd *r, size_t pos, size_t n) { return pos <= r->len && n <= r->len - pos; }

/* The target of the forward offset stored at `at`; returns 0 when it does not land inside the
 * buffer (computed without overflow for any len). */
static int rd_follow(const rd *r, size_t at, size_t *target) {
    if (!rd_fits(r, at, 4)) return 0;
    uint32_t off = le32(r->d + at);
    if (off >= r->len - at) return 0;
    *target = at + off;
    return 1;
}

static fs_err rd_table_at(const rd *r, size_t pos, tbl *t, const char *what) {
    if (!rd_fits(r, pos, 4)) return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: table past the end", what);
    int64_t vt = (int64_t)pos - (int32_t)le32(r->d + pos);
    if (vt < 0 || !rd_fits(r, (size_t)vt, 4))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: vtable outside the file", what);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = le16(r->d + t->vt);
    t->size = le16(r->d + t->vt + 2);
    if (t->vt_size < 4 || t->vt_size % 2 || !rd_fits(r, t->vt, t->vt_size))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: bad vtable of %u bytes", what, t->vt_size);
    if (t->size < 4 || !rd_fits(r, pos, t->size))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: table of %u bytes runs past the end",
                       what, t->size);
    return FS_OK;
}

/* Follows the forward offset stored at `at` (a field or vector element) to a table. */
static fs_err rd_table_ref(const rd *r, size_t at, tbl *t, const char *what) {
    size_t target;
    if (!rd_follow(r, at, &target))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: offset past the end", what);
    return rd_table_at(r, target, t, what);
}

/* Position of field `id` of width bytes in t, or 0 when the table leaves it out. */
static fs_err rd_field(const rd *r, const tbl *t, int id, size_t width, size_t *at,
                       const char *what) {
    *at = 0;
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_size) return FS_OK;
    uint16_t off = le16(r->d + t->vt + slot);
    if (off == 0) return FS_OK;
    if (off < 4 || off + width > t->size)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: field %d outside its table", what, id);
    *at = t->pos + off;
    return FS_OK;
}

/* A scalar field as its raw little-endian bits, or def when absent. */
static fs_err rd_scalar(const rd *r, const tbl *t, int id, size_t width, uint64_t def,
                        uint64_t *v, const char *what) {
    size_t at;
    fs_err e = rd_field(r, t, id, width, &at, what);
    if (e) return e;
    if (!at) *v = def;
    else if (width == 1) *v = r->d[at];
    else if (width == 2) *v = le16(r->d + at);
    else if (width == 4) *v = le32(r->d + at);
    else *v = le64(r->d + at);
    return FS_OK;
}

static fs_err rd_i8(const rd *r, const tbl *t, int id, int def, int *v, const char *what) {
    uint64_t u;
    fs_err e = rd_scalar(r, t, id, 1, (uint8_t)(int8_t)def, &u, what);
    if (!e) *v = (int8_t)(uint8_t)u;
    return e;
}

static fs_err rd_i32(const rd *r, const tbl *t, int id, int32_t def, int32_t *v, const char *what) {
    uint64_t u;
    fs_err e = rd_scalar(r, t, id, 4, (uint32_t)def, &u, what);
    if (!e) *v = (int32_t)(uint32_t)u;
    return e;
}

static fs_err rd_u32(const rd *r, const tbl *t, int id, uint32_t *v, const char *what) {
    uint64_t u;
    fs_err e = rd_scalar(r, t, id, 4, 0, &u, what);
    if (!e) *v = (uint32_t)u;
    return e;
}

static fs_err rd_f32(const rd *r, const tbl *t, int id, float *v, const char *what) {
    uint64_t u;
    fs_err e = rd_scalar(r, t, id, 4, 0, &u, what);
    if (!e) *v = f32_bits((uint32_t)u);
    return e;
}

/* The vector that field `id` points to, each element elem bytes; n == 0 when absent. */
static fs_err rd_vector(const rd *r, const tbl *t, int id, size_t elem, vec *v, const char *what) {
    v->pos = 0, v->n = 0;
    size_t at;
    fs_err e = rd_field(r, t, id, 4, &at, what);
    if (e || !at) return e;
    size_t start;
    if (!rd_follow(r, at, &start) || !rd_fits(r, start, 4))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: vector past the end", what);
    uint32_t n = le32(r->d + start);
    if ((uint64_t)n * elem > r->len - start - 4)
        return fs_fail(r->msg, FS_ERR_FORMAT,
                       "tflite: %s: vector of %u elements runs past the end of the file", what, n);
    v->pos = start + 4, v->n = n;
    return FS_OK;
}

/* A string field as a pointer into the buffer, or NULL when absent. FlatBuffers end strings
 * with a NUL, which is checked, so the pointer is a C string the model can hand out. */
static fs_err rd_string(const rd *r, const tbl *t, int id, const char **s, const char *what) {
    vec v;
    *s = NULL;
    fs_err e = rd_vector(r, t, id, 1, &v, what);
    if (e || !v.pos) return e;
    if (v.pos + v.n >= r->len || r->d[v.pos + v.n] != 0)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: string not terminated", what);
    *s = (const char *)r->d + v.pos;
    return FS_OK;
}

static uint32_t vec_u32(const rd *r, const vec *v, uint32_t i) {
    assert(i < v->n);
    return le32(r->d + v->pos + 4 * (size_t)i);
}

/* ---- model ---------------------------------------------------------------------------- */

typedef struct opcode {
    int32_t code;
    int32_t version;
    const char *custom;
} opcode;

void fs_tflite_free(fs_tflite_model *m) {
    if (!m) return;
    for (int i = 0; m->tensors && i < m->ntensors; i++) {
        free(m->tensors[i].quant.scale);
        free(m->tensors[i].quant.zero_point);
    }
    for (int i = 0; m->ops && i < m->nops; i++) {
        free(m->ops[i].inputs);
        free(m->ops[i].outputs);
    }
    free(m->tensors);
    free(m->ops);
    free(m->inputs);
    free(m->outputs);
    free(m);
}

/* Budgets shared by the whole parse (see the file comment). */
typedef struct budget {
    size_t indices, quant;
} budget;

static fs_err read_quant(const rd *r, const tbl *tt, fs_tflite_tensor *t, budget *b,
                         const char *what) {
    size_t at;
    fs_err e = rd_field(r, tt, TENSOR_QUANT, 4, &at, what);
    if (e || !at) return e;
    tbl q;
    if ((e = rd_table_ref(r, at, &q, what))) return e;
    vec sv, zv;
    int details;
    int32_t dim;
    if ((e = rd_vector(r, &q, QUANT_SCALE, 4, &sv, what)) ||
        (e = rd_vector(r, &q, QUANT_ZERO_POINT, 8, &zv, what)) ||
        (e = rd_i8(r, &q, QUANT_DETAILS_TYPE, 0, &details, what)) ||
        (e = rd_i32(r, &q, QUANT_DIM, 0, &dim, what)))
        return e;
    t->quant.custom = details != 0;
    t->quant.dim = dim;
    if (sv.n == 0) return FS_OK;
    if (zv.n != 0 && zv.n != sv.n)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: %u scales but %u zero points", what,
                       sv.n, zv.n);
    if (sv.n > FS_TFLITE_MAX_QUANT_VALUES - b->quant)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: more than %zu quantization scales in all",
                       what, FS_TFLITE_MAX_QUANT_VALUES);
    b->quant += sv.n;
    if (sv.n > 1 && (dim < 0 || dim >= t->ndim || (uint32_t)t->shape[dim] != sv.n))
        return fs_fail(r->msg, FS_ERR_FORMAT,
                       "tflite: %s: %u scales along dimension %d do not match the shape", what,
                       sv.n, (int)dim);
    t->quant.scale = malloc(sv.n * sizeof *t->quant.scale);
    t->quant.zero_point = calloc(sv.n, sizeof *t->quant.zero_point);
    if (!t->quant.scale || !t->quant.zero_point)
        return fs_fail(r->msg, FS_ERR_NOMEM, "tflite: %s: out of memory", what);
    t->quant.count = (int)sv.n;
    for (uint32_t i = 0; i < sv.n; i++) {
        t->quant.scale[i] = f32_bits(le32(r->d + sv.pos + 4 * (size_t)i));
        if (zv.n) t->quant.zero_point[i] = (int64_t)le64(r->d + zv.pos + 8 * (size_t)i);
    }
    return FS_OK;
}

/* The bytes of buffer `index` of the model: inside the FlatBuffer (Buffer.data) or, for files
 * past 2 GiB, at Buffer.offset from the start of the file. */
static fs_err read_buffer(const rd *r, const vec *buffers, uint32_t index, const uint8_t **data,
                          size_t *nbytes, const char *what) {
    *data = NULL, *nbytes = 0;
    if (index >= buffers->n) {
        if (index == 0) return FS_OK; /* the sentinel of a model that lists no buffers */
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: buffer %u of %u", what, index, buffers->n);
    }
    tbl bt;
    vec dv;
    uint64_t off, size;
    fs_err e;
    if ((e = rd_table_ref(r, buffers->pos + 4 * (size_t)index, &bt, what)) ||
        (e = rd_vector(r, &bt, BUFFER_DATA, 1, &dv, what)) ||
        (e = rd_scalar(r, &bt, BUFFER_OFFSET, 8, 0, &off, what)) ||
        (e = rd_scalar(r, &bt, BUFFER_SIZE, 8, 0, &size, what)))
        return e;
    if (dv.n) {
        *data = r->d + dv.pos, *nbytes = dv.n;
    } else if (off > TFL_EXTERNAL_MIN && size) {
        if (off > r->len || size > r->len - off)
            return fs_fail(r->msg, FS_ERR_FORMAT,
                           "tflite: %s: external buffer of %llu bytes at %llu runs past the end",
                           what, (unsigned long long)size, (unsigned long long)off);
        *data = r->d + off, *nbytes = (size_t)size;
    }
    return FS_OK;
}

static fs_err read_tensor(const rd *r, size_t at, const vec *buffers, fs_tflite_tensor *t,
                          budget *b, const char *what) {
    tbl tt;
    vec shape;
    int type, is_var;
    uint32_t buffer;
    const char *name;
    size_t sparsity;
    fs_err e;
    if ((e = rd_table_ref(r, at, &tt, what)) || (e = rd_vector(r, &tt, TENSOR_SHAPE, 4, &shape, what)) ||
        (e = rd_i8(r, &tt, TENSOR_TYPE, 0, &type, what)) ||
        (e = rd_u32(r, &tt, TENSOR_BUFFER, &buffer, what)) ||
        (e = rd_string(r, &tt, TENSOR_NAME, &name, what)) ||
        (e = rd_i8(r, &tt, TENSOR_IS_VARIABLE, 0, &is_var, what)) ||
        (e = rd_field(r, &tt, TENSOR_SPARSITY, 4, &sparsity, what)))
        return e;
    t->name = name ? name : "";
    if (type < 0) return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: type %d", what, type);
    t->type = type;
    t->is_variable = is_var != 0;
    t->sparse = sparsity != 0;
    if (shape.n > FS_TFLITE_MAX_DIMS)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: %u dimensions (at most %d)", what,
                       shape.n, FS_TFLITE_MAX_DIMS);
    t->ndim = (int)shape.n;
    t->count = 1;
    for (int i = 0; i < t->ndim; i++) {
        int32_t d = (int32_t)vec_u32(r, &shape, (uint32_t)i);
        if (d < 0)
            return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: dimension %d is %d", what, i, (int)d);
        t->shape[i] = d;
        if (d && t->count > FS_TFLITE_MAX_ELEMENTS / d)
            return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: more than %lld elements", what,
                           (long long)FS_TFLITE_MAX_ELEMENTS);
        t->count *= d;
    }
    if ((e = read_buffer(r, buffers, buffer, &t->data, &t->nbytes, what))) return e;
    size_t esize = fs_tflite_type_size(type);
    if (t->data && !t->sparse && esize && (uint64_t)t->count * esize != t->nbytes)
        return fs_fail(r->msg, FS_ERR_FORMAT,
                       "tflite: %s: %zu bytes of data for %lld %s values", what, t->nbytes,
                       (long long)t->count, fs_tflite_type_name(type));
    return read_quant(r, &tt, t, b, what);
}

/* Tensor indices of a vector into a new array; each must be a tensor of the graph, or -1 when
 * allow_absent (an optional operator input left out). */
static fs_err read_indices(const rd *r, const tbl *t, int id, int max, int ntensors,
                           int allow_absent, int32_t **out, int *n, budget *b, const char *what) {
    vec v;
    *out = NULL, *n = 0;
    fs_err e = rd_vector(r, t, id, 4, &v, what);
    if (e) return e;
    if (v.n > (uint32_t)max)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: %u tensor indices (at most %d)", what,
                       v.n, max);
    if (v.n > FS_TFLITE_MAX_INDICES - b->indices)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: more than %zu tensor indices in all",
                       what, FS_TFLITE_MAX_INDICES);
    b->indices += v.n;
    int32_t *a = malloc((v.n ? v.n : 1) * sizeof *a);
    if (!a) return fs_fail(r->msg, FS_ERR_NOMEM, "tflite: %s: out of memory", what);
    for (uint32_t i = 0; i < v.n; i++) {
        int32_t x = (int32_t)vec_u32(r, &v, i);
        if (x >= ntensors || x < (allow_absent ? -1 : 0)) {
            free(a);
            return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: tensor %d of %d", what, (int)x,
                           ntensors);
        }
        a[i] = x;
    }
    *out = a, *n = (int)v.n;
    return FS_OK;
}

/* The options union type each decoded operator carries (0: nothing decoded). */
static int options_kind(int32_t code) {
    switch (code) {
    case FS_TFLITE_OP_CONV_2D: return OPT_CONV_2D;
    case FS_TFLITE_OP_DEPTHWISE_CONV_2D: return OPT_DEPTHWISE_CONV_2D;
    case FS_TFLITE_OP_AVERAGE_POOL_2D:
    case FS_TFLITE_OP_MAX_POOL_2D:
    case 12 /* L2_POOL_2D */: return OPT_POOL_2D;
    case FS_TFLITE_OP_FULLY_CONNECTED: return OPT_FULLY_CONNECTED;
    case FS_TFLITE_OP_SOFTMAX: return OPT_SOFTMAX;
    case FS_TFLITE_OP_CONCATENATION: return OPT_CONCATENATION;
    case FS_TFLITE_OP_ADD: return OPT_ADD;
    case FS_TFLITE_OP_L2_NORMALIZATION: return OPT_L2_NORM;
    case FS_TFLITE_OP_RESIZE_BILINEAR: return OPT_RESIZE_BILINEAR;
    case FS_TFLITE_OP_RESHAPE: return OPT_RESHAPE;
    case FS_TFLITE_OP_SPACE_TO_DEPTH: return OPT_SPACE_TO_DEPTH;
    case FS_TFLITE_OP_DEPTH_TO_SPACE: return OPT_DEPTH_TO_SPACE;
    case FS_TFLITE_OP_MUL: return OPT_MUL;
    case FS_TFLITE_OP_GATHER: return OPT_GATHER;
    case FS_TFLITE_OP_MEAN:
    case FS_TFLITE_OP_SUM:
    case FS_TFLITE_OP_REDUCE_PROD:
    case FS_TFLITE_OP_REDUCE_MAX:
    case FS_TFLITE_OP_REDUCE_MIN:
    case FS_TFLITE_OP_REDUCE_ANY:
    case FS_TFLITE_OP_REDUCE_ALL: return OPT_REDUCER;
    case FS_TFLITE_OP_SUB: return OPT_SUB;
    case FS_TFLITE_OP_DIV: return OPT_DIV;
    case FS_TFLITE_OP_SQUEEZE: return OPT_SQUEEZE;
    case FS_TFLITE_OP_STRIDED_SLICE: return OPT_STRIDED_SLICE;
    case FS_TFLITE_OP_SPLIT: return OPT_SPLIT;
    case FS_TFLITE_OP_SPLIT_V: return OPT_SPLIT_V;
    case FS_TFLITE_OP_CAST: return OPT_CAST;
    case FS_TFLITE_OP_ARG_MAX: return OPT_ARG_MAX;
    case FS_TFLITE_OP_ARG_MIN: return OPT_ARG_MIN;
    case FS_TFLITE_OP_TRANSPOSE_CONV: return OPT_TRANSPOSE_CONV;
    case FS_TFLITE_OP_PACK: return OPT_PACK;
    case FS_TFLITE_OP_UNPACK: return OPT_UNPACK;
    case FS_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR: return OPT_RESIZE_NEAREST;
    case FS_TFLITE_OP_LEAKY_RELU: return OPT_LEAKY_RELU;
    case FS_TFLITE_OP_MIRROR_PAD: return OPT_MIRROR_PAD;
    default: return 0;
    }
}

/* An int vector option (RESHAPE new_shape, SQUEEZE squeeze_dims) into o->dims. */
static fs_err read_dims(const rd *r, const tbl *t, int id, fs_tflite_options *o, const char *what) {
    vec v;
    fs_err e = rd_vector(r, t, id, 4, &v, what);
    if (e) return e;
    if (v.n > FS_TFLITE_MAX_DIMS)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %s: %u dimensions (at most %d)", what, v.n,
                       FS_TFLITE_MAX_DIMS);
    o->ndims = (int)v.n;
    for (uint32_t i = 0; i < v.n; i++) o->dims[i] = (int32_t)vec_u32(r, &v, i);
    return FS_OK;
}

/* Fields of the options table t of union type kind; t is NULL when the operator has none, and
 * the schema defaults stand. Field ids follow each options table of the schema. */
static fs_err decode_options(const rd *r, const tbl *t, int kind, fs_tflite_options *o,
                             const char *what) {
    int pad = 0, act = 0, b0 = 0, b1 = 0;
    int32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0;
    fs_err e = FS_OK;
    tbl none = {0, 0, 4, 4}; /* an empty table: every field absent, nothing read */
    if (!t) t = &none;
#define RI8(id, def, v) (e = e ? e : rd_i8(r, t, id, def, &(v), what))
#define RI32(id, def, v) (e = e ? e : rd_i32(r, t, id, def, &(v), what))
    switch (kind) {
    case OPT_CONV_2D: /* padding, stride_w, stride_h, activation, dilation_w, dilation_h */
        RI8(0, 0, pad), RI32(1, 0, i0), RI32(2, 0, i1), RI8(3, 0, act), RI32(4, 1, i2), RI32(5, 1, i3);
        o->stride_w = i0, o->stride_h = i1, o->dilation_w = i2, o->dilation_h = i3;
        break;
    case OPT_DEPTHWISE_CONV_2D: /* padding, strides, depth_multiplier, activation, dilations */
        RI8(0, 0, pad), RI32(1, 0, i0), RI32(2, 0, i1), RI32(3, 0, i4), RI8(4, 0, act);
        RI32(5, 1, i2), RI32(6, 1, i3);
        o->stride_w = i0, o->stride_h = i1, o->dilation_w = i2, o->dilation_h = i3;
        o->depth_multiplier = i4;
        break;
    case OPT_TRANSPOSE_CONV: /* padding, stride_w, stride_h, activation */
        RI8(0, 0, pad), RI32(1, 0, i0), RI32(2, 0, i1), RI8(3, 0, act);
        o->stride_w = i0, o->stride_h = i1;
        break;
    case OPT_POOL_2D: /* padding, stride_w, stride_h, filter_width, filter_height, activation */
        RI8(0, 0, pad), RI32(1, 0, i0), RI32(2, 0, i1), RI32(3, 0, i2), RI32(4, 0, i3), RI8(5, 0, act);
        o->stride_w = i0, o->stride_h = i1, o->filter_w = i2, o->filter_h = i3;
        break;
    case OPT_FULLY_CONNECTED: /* activation, weights_format, keep_num_dims */
        RI8(0, 0, act), RI8(1, 0, b0), RI8(2, 0, b1);
        o->weights_format = b0, o->keep_num_dims = b1 != 0;
        break;
    case OPT_SOFTMAX: (e = rd_f32(r, t, 0, &o->beta, what)); break;
    case OPT_LEAKY_RELU: (e = rd_f32(r, t, 0, &o->alpha, what)); break;
    case OPT_CONCATENATION: /* axis, activation */
        RI32(0, 0, i0), RI8(1, 0, act);
        o->axis = i0;
        break;
    case OPT_ADD:
    case OPT_SUB: /* activation, pot_scale_int16 (default true) */
        RI8(0, 0, act), RI8(1, 1, b0);
        o->pot_scale_int16 = b0 != 0;
        break;
    case OPT_MUL:
    case OPT_DIV:
    case OPT_L2_NORM: RI8(0, 0, act); break;
    case OPT_REDUCER: RI8(0, 0, b0), o->keep_dims = b0 != 0; break;
    case OPT_RESHAPE:
    case OPT_SQUEEZE: e = t == &none ? FS_OK : read_dims(r, t, 0, o, what); break;
    case OPT_RESIZE_BILINEAR: /* new_height, new_width (deprecated), align_corners, half_pixel */
        RI8(2, 0, b0), RI8(3, 0, b1);
        o->align_corners = b0 != 0, o->half_pixel_centers = b1 != 0;
        break;
    case OPT_RESIZE_NEAREST: /* align_corners, half_pixel_centers */
        RI8(0, 0, b0), RI8(1, 0, b1);
        o->align_corners = b0 != 0, o->half_pixel_centers = b1 != 0;
        break;
    case OPT_SPACE_TO_DEPTH:
    case OPT_DEPTH_TO_SPACE: RI32(0, 0, i0), o->block_size = i0; break;
    case OPT_GATHER: /* axis, batch_dims */
        RI32(0, 0, i0), RI32(1, 0, i1);
        o->axis = i0, o->batch_dims = i1;
        break;
    case OPT_PACK: /* values_count, axis */
    case OPT_UNPACK: /* num, axis */
        RI32(0, 0, i0), RI32(1, 0, i1);
        o->count = i0, o->axis = i1;
        break;
    case OPT_SPLIT:
    case OPT_SPLIT_V: RI32(0, 0, i0), o->count = i0; break;
    case OPT_STRIDED_SLICE: /* begin, end, ellipsis, new_axis, shrink_axis masks, offset */
        RI32(0, 0, i0), RI32(1, 0, i1), RI32(2, 0, i2), RI32(3, 0, i3), RI32(4, 0, i4), RI8(5, 0, b0);
        o->begin_mask = i0, o->end_mask = i1, o->ellipsis_mask = i2, o->new_axis_mask = i3;
        o->shrink_axis_mask = i4, o->offset = b0 != 0;
        break;
    case OPT_MIRROR_PAD: RI8(0, 0, b0), o->mirror_mode = b0; break;
    case OPT_ARG_MAX:
    case OPT_ARG_MIN: RI8(0, 0, b0), o->out_type = b0; break;
    case OPT_CAST: RI8(0, 0, b0), RI8(1, 0, b1), o->in_type = b0, o->out_type = b1; break;
    default: break;
    }
#undef RI8
#undef RI32
    if (e) return e;
    if (pad != FS_TFLITE_PADDING_SAME && pad != FS_TFLITE_PADDING_VALID)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: padding %d", what, pad);
    if (act < 0 || act >= N_ACTS)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: fused activation %d", what, act);
    o->padding = (fs_tflite_padding)pad;
    o->activation = (fs_tflite_act)act;
    /* What an importer divides by or steps with must be positive. */
    int strided = kind == OPT_CONV_2D || kind == OPT_DEPTHWISE_CONV_2D ||
                  kind == OPT_TRANSPOSE_CONV || kind == OPT_POOL_2D;
    if (strided && (o->stride_w < 1 || o->stride_h < 1))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: strides %d x %d", what, o->stride_w,
                       o->stride_h);
    if (o->dilation_w < 1 || o->dilation_h < 1)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: dilations %d x %d", what,
                       o->dilation_w, o->dilation_h);
    if (kind == OPT_POOL_2D && (o->filter_w < 1 || o->filter_h < 1))
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: pool window %d x %d", what,
                       o->filter_w, o->filter_h);
    if ((kind == OPT_SPACE_TO_DEPTH || kind == OPT_DEPTH_TO_SPACE) && o->block_size < 1)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: block size %d", what, o->block_size);
    return FS_OK;
}

static fs_err read_options(const rd *r, const tbl *ot, int32_t code, fs_tflite_options *o,
                           const char *what) {
    int kind;
    size_t at;
    fs_err e;
    if ((e = rd_i8(r, ot, OP_OPTIONS_TYPE, 0, &kind, what)) ||
        (e = rd_field(r, ot, OP_OPTIONS, 4, &at, what)))
        return e;
    kind = (uint8_t)kind; /* the union type is a ubyte */
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->dilation_w = o->dilation_h = 1;
    int want = options_kind(code);
    if (!want) return FS_OK;
    if (kind != 0 && kind != want)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: options of kind %d, expected %d", what,
                       kind, want);
    if (kind == 0 || !at) return decode_options(r, NULL, want, o, what);
    tbl t;
    if ((e = rd_table_ref(r, at, &t, what))) return e;
    return decode_options(r, &t, want, o, what);
}

static fs_err read_opcodes(const rd *r, const tbl *root, opcode **out, uint32_t *n) {
    vec v;
    *out = NULL, *n = 0;
    fs_err e = rd_vector(r, root, MODEL_OPCODES, 4, &v, "model operator codes");
    if (e) return e;
    if (v.n > FS_TFLITE_MAX_OPCODES)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %u operator codes (at most %d)", v.n,
                       FS_TFLITE_MAX_OPCODES);
    opcode *a = calloc(v.n ? v.n : 1, sizeof *a);
    if (!a) return fs_fail(r->msg, FS_ERR_NOMEM, "tflite: out of memory");
    for (uint32_t i = 0; i < v.n; i++) {
        char what[64];
        snprintf(what, sizeof what, "operator code %u", i);
        tbl t;
        int deprecated;
        int32_t code;
        if ((e = rd_table_ref(r, v.pos + 4 * (size_t)i, &t, what)) ||
            (e = rd_i8(r, &t, OPCODE_DEPRECATED_CODE, 0, &deprecated, what)) ||
            (e = rd_i32(r, &t, OPCODE_CODE, 0, &code, what)) ||
            (e = rd_i32(r, &t, OPCODE_VERSION, 1, &a[i].version, what)) ||
            (e = rd_string(r, &t, OPCODE_CUSTOM, &a[i].custom, what))) {
            free(a);
            return e;
        }
        if (deprecated < 0 || code < 0) {
            free(a);
            return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: builtin code %d / %d", what,
                           deprecated, (int)code);
        }
        /* Files before schema 3a set only the byte field; later writers set both, the byte
         * saturated at PLACEHOLDER_FOR_GREATER_OP_CODES (127) for codes past it. */
        a[i].code = code > deprecated ? code : deprecated;
    }
    *out = a, *n = v.n;
    return FS_OK;
}

static fs_err read_operator(const rd *r, size_t at, const opcode *codes, uint32_t ncodes,
                            int ntensors, fs_tflite_op *op, budget *b, const char *what) {
    tbl t;
    uint32_t index;
    fs_err e;
    if ((e = rd_table_ref(r, at, &t, what)) || (e = rd_u32(r, &t, OP_OPCODE_INDEX, &index, what)))
        return e;
    if (index >= ncodes)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %s: operator code %u of %u", what, index,
                       ncodes);
    op->code = codes[index].code;
    op->version = codes[index].version;
    const char *name = fs_tflite_op_name(op->code);
    if (op->code == FS_TFLITE_OP_CUSTOM) {
        op->custom_code = codes[index].custom;
        if (op->custom_code) name = op->custom_code;
    }
    op->name = name ? name : "UNKNOWN";
    if ((e = read_indices(r, &t, OP_INPUTS, FS_TFLITE_MAX_OP_TENSORS, ntensors, 1, &op->inputs,
                          &op->ninputs, b, what)) ||
        (e = read_indices(r, &t, OP_OUTPUTS, FS_TFLITE_MAX_OP_TENSORS, ntensors, 0, &op->outputs,
                          &op->noutputs, b, what)))
        return e;
    return read_options(r, &t, op->code, &op->opt, what);
}

static fs_err parse(const rd *r, fs_tflite_model *m) {
    if (r->len < TFL_HEADER) return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: %zu bytes is too short", r->len);
    if (memcmp(r->d + 4, TFL_IDENTIFIER, 4) != 0)
        return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: no \"" TFL_IDENTIFIER "\" identifier: not a TFLite model");
    tbl root, sg;
    vec subgraphs, buffers, tensors, ops;
    const char *s;
    fs_err e;
    if ((e = rd_table_ref(r, 0, &root, "model")) || (e = rd_u32(r, &root, MODEL_VERSION, &m->version, "model")))
        return e;
    if (m->version != TFL_SCHEMA_VERSION)
        return fs_fail(r->msg, FS_ERR_UNSUPPORTED, "tflite: schema version %u (only %d is read)",
                       m->version, TFL_SCHEMA_VERSION);
    if ((e = rd_string(r, &root, MODEL_DESCRIPTION, &s, "model description"))) return e;
    m->description = s ? s : "";
    if ((e = rd_vector(r, &root, MODEL_SUBGRAPHS, 4, &subgraphs, "model subgraphs")) ||
        (e = rd_vector(r, &root, MODEL_BUFFERS, 4, &buffers, "model buffers")))
        return e;
    if (subgraphs.n == 0) return fs_fail(r->msg, FS_ERR_FORMAT, "tflite: the model has no subgraph");
    m->nsubgraphs = (int)subgraphs.n; /* < len / 4, so it fits */
    if ((e = rd_table_ref(r, subgraphs.pos, &sg, "subgraph 0")) ||
        (e = rd_string(r, &sg, SG_NAME, &s, "subgraph 0 name")) ||
        (e = rd_vector(r, &sg, SG_TENSORS, 4, &tensors, "subgraph 0 tensors")) ||
        (e = rd_vector(r, &sg, SG_OPERATORS, 4, &ops, "subgraph 0 operators")))
        return e;
    m->graph_name = s ? s : "";
    if (tensors.n > FS_TFLITE_MAX_TENSORS)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %u tensors (at most %d)", tensors.n,
                       FS_TFLITE_MAX_TENSORS);
    if (ops.n > FS_TFLITE_MAX_OPERATORS)
        return fs_fail(r->msg, FS_ERR_LIMIT, "tflite: %u operators (at most %d)", ops.n,
                       FS_TFLITE_MAX_OPERATORS);

    budget b = {0, 0};
    m->tensors = calloc(tensors.n ? tensors.n : 1, sizeof *m->tensors);
    m->ops = calloc(ops.n ? ops.n : 1, sizeof *m->ops);
    if (!m->tensors || !m->ops) return fs_fail(r->msg, FS_ERR_NOMEM, "tflite: out of memory");
    for (uint32_t i = 0; i < tensors.n; i++) {
        char what[48];
        snprintf(what, sizeof what, "tensor %u", i);
        m->ntensors = (int)i + 1; /* so fs_tflite_free sees what this one allocated */
        if ((e = read_tensor(r, tensors.pos + 4 * (size_t)i, &buffers, &m->tensors[i], &b, what)))
            return e;
    }
    m->ntensors = (int)tensors.n;
    if ((e = read_indices(r, &sg, SG_INPUTS, FS_TFLITE_MAX_GRAPH_IO, m->ntensors, 0, &m->inputs,
                          &m->ninputs, &b, "subgraph inputs")) ||
        (e = read_indices(r, &sg, SG_OUTPUTS, FS_TFLITE_MAX_GRAPH_IO, m->ntensors, 0, &m->outputs,
                          &m->noutputs, &b, "subgraph outputs")))
        return e;

    opcode *codes;
    uint32_t ncodes;
    if ((e = read_opcodes(r, &root, &codes, &ncodes))) return e;
    for (uint32_t i = 0; i < ops.n && !e; i++) {
        char what[48];
        snprintf(what, sizeof what, "operator %u", i);
        m->nops = (int)i + 1;
        e = read_operator(r, ops.pos + 4 * (size_t)i, codes, ncodes, m->ntensors, &m->ops[i], &b,
                          what);
    }
    free(codes);
    if (e) return e;
    m->nops = (int)ops.n;
    return FS_OK;
}

fs_err fs_tflite_parse(const uint8_t *data, size_t len, fs_tflite_model **out, fs_msg *msg) {
    *out = NULL;
    if (!data && len) return fs_fail(msg, FS_ERR_INVALID, "tflite: no data");
    if (len > FS_TFLITE_MAX_FILE)
        return fs_fail(msg, FS_ERR_LIMIT, "tflite: %zu bytes (at most %zu)", len, FS_TFLITE_MAX_FILE);
    fs_tflite_model *m = calloc(1, sizeof *m);
    if (!m) return fs_fail(msg, FS_ERR_NOMEM, "tflite: out of memory");
    rd r = {data, len, msg};
    fs_err e = parse(&r, m);
    if (e) {
        fs_tflite_free(m);
        return e;
    }
    *out = m;
    return FS_OK;
}

int fs_tflite_count_ops(const fs_tflite_model *m, int32_t code) {
    int n = 0;
    for (int i = 0; i < m->nops; i++) n += m->ops[i].code == code;
    return n;
}

/* ---- values --------------------------------------------------------------------------- */

/* IEEE half to float, exact for every half value (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else if (mant) { /* subnormal: normalise */
        int e = -1;
        do mant <<= 1, e++;
        while (!(mant & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ff) << 13;
    } else {
        bits = sign;
    }
    return f32_bits(bits);
}

/* Element i as a number before dequantization; the caller has checked the type and the size. */
static double raw_value(const fs_tflite_tensor *t, size_t i) {
    const uint8_t *p = t->data;
    switch (t->type) {
    case FS_TFLITE_INT8: return (int8_t)p[i];
    case FS_TFLITE_UINT8: return p[i];
    case FS_TFLITE_INT16: return (int16_t)le16(p + 2 * i);
    case FS_TFLITE_INT32: return (int32_t)le32(p + 4 * i);
    case FS_TFLITE_INT64: return (double)(int64_t)le64(p + 8 * i);
    case FS_TFLITE_FLOAT16: return half_to_float(le16(p + 2 * i));
    case FS_TFLITE_FLOAT32: return f32_bits(le32(p + 4 * i));
    case FS_TFLITE_FLOAT64: {
        uint64_t u = le64(p + 8 * i);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    default: assert(0); return 0;
    }
}

fs_err fs_tflite_tensor_float(const fs_tflite_model *m, int tensor, float **out, size_t *n,
                              fs_msg *msg) {
    *out = NULL, *n = 0;
    if (!m || tensor < 0 || tensor >= m->ntensors)
        return fs_fail(msg, FS_ERR_INVALID, "tflite: no tensor %d", tensor);
    const fs_tflite_tensor *t = &m->tensors[tensor];
    if (!t->data)
        return fs_fail(msg, FS_ERR_INVALID, "tflite: tensor %d (%s) holds no constant values",
                       tensor, t->name);
    const char *tn = fs_tflite_type_name(t->type);
    int is_float = t->type == FS_TFLITE_FLOAT32 || t->type == FS_TFLITE_FLOAT16 ||
                   t->type == FS_TFLITE_FLOAT64;
    int is_int = t->type == FS_TFLITE_INT8 || t->type == FS_TFLITE_UINT8 ||
                 t->type == FS_TFLITE_INT16 || t->type == FS_TFLITE_INT32 ||
                 t->type == FS_TFLITE_INT64;
    if (!is_float && !is_int)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "tflite: tensor %d (%s): %s values cannot be read as floats",
                       tensor, t->name, tn ? tn : "unknown");
    if (t->sparse)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "tflite: tensor %d (%s) is sparse", tensor, t->name);
    if (t->quant.custom && is_int)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "tflite: tensor %d (%s) has custom quantization",
                       tensor, t->name);
    /* parse checked nbytes == count * size, so every element below is inside the buffer. */
    size_t count = (size_t)t->count;
    assert(count * fs_tflite_type_size(t->type) == t->nbytes);
    float *v = malloc((count ? count : 1) * sizeof *v);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "tflite: tensor %d: out of memory", tensor);
    const fs_tflite_quant *q = &t->quant;
    if (is_float || q->count == 0) {
        for (size_t i = 0; i < count; i++) v[i] = (float)raw_value(t, i);
    } else {
        /* Per channel: the channel of element i is its index along q->dim in row-major order. */
        size_t inner = 1, channels = 1;
        if (q->count > 1) {
            for (int d = q->dim + 1; d < t->ndim; d++) inner *= (size_t)t->shape[d];
            channels = (size_t)q->count;
        }
        for (size_t i = 0; i < count; i++) {
            size_t c = channels > 1 ? (i / inner) % channels : 0;
            v[i] = (float)((double)q->scale[c] * (raw_value(t, i) - (double)q->zero_point[c]));
        }
    }
    *out = v, *n = count;
    return FS_OK;
}
