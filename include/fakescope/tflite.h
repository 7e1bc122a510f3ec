/* tflite (models/): a bounds-checked reader of TensorFlow Lite model files (FlatBuffers,
 * schema version 3, file identifier "TFL3"), the first step of importing pretrained networks
 * (ImageNet MobileNetV2, MediaPipe BlazeFace) into fakescope's own graphs and weights.
 *
 * What is read: the model's description and schema version, and its FIRST subgraph only (the
 * main graph): tensors (name, type, shape, quantization, constant bytes), operators (builtin
 * code, name, inputs/outputs, the options of the operators listed at fs_tflite_options) and the
 * subgraph's inputs and outputs. Other subgraphs (bodies of WHILE/IF/CALL_ONCE) are counted in
 * nsubgraphs but neither read nor checked; an importer refuses the ops that would call them.
 * Signature defs and metadata buffers are not read.
 *
 * Files come from strangers: every offset, vector length and string is checked against the
 * buffer before it is read, every tensor index an operator or the graph names is in range, and
 * a constant's byte count matches its shape and type. A corrupt or truncated file gives
 * FS_ERR_FORMAT, a file past one of the FS_TFLITE_MAX_* limits FS_ERR_LIMIT, a valid file of
 * another schema version FS_ERR_UNSUPPORTED. The reader never recurses: its nesting is fixed by
 * the schema (Model > SubGraph > Tensor > QuantizationParameters, Model > SubGraph > Operator >
 * options), so a file cannot make it nest deeper.
 *
 * Ownership: the model BORROWS the caller's bytes. Tensor names, the description, custom
 * operator names and every tensor's data point into `data`, which must stay alive and unchanged
 * until fs_tflite_free. The model owns its arrays (tensors, operators, indices, quantization
 * scales and zero points); fs_tflite_free releases them (NULL is fine). A parsed model is
 * read-only, so threads may share it. docs/tflite.md has the details. */
#ifndef FAKESCOPE_TFLITE_H
#define FAKESCOPE_TFLITE_H

#include "fakescope/core.h"

/* ---- limits (each past-limit file gives FS_ERR_LIMIT) ---- */
#define FS_TFLITE_MAX_FILE ((size_t)1 << 30) /* 1 GiB: FlatBuffers alone address 2 GiB */
#define FS_TFLITE_MAX_DIMS 8                 /* dimensions of one tensor */
#define FS_TFLITE_MAX_TENSORS 100000         /* tensors of the main subgraph */
#define FS_TFLITE_MAX_OPERATORS 100000       /* operators of the main subgraph */
#define FS_TFLITE_MAX_OPCODES 4096           /* distinct operator codes of the model */
#define FS_TFLITE_MAX_OP_TENSORS 1024        /* inputs (or outputs) of one operator */
#define FS_TFLITE_MAX_GRAPH_IO 1024          /* inputs (or outputs) of the subgraph */
#define FS_TFLITE_MAX_INDICES ((size_t)1 << 22)  /* operator inputs + outputs, all operators */
#define FS_TFLITE_MAX_QUANT_VALUES ((size_t)1 << 22) /* scales copied, all tensors together */
#define FS_TFLITE_MAX_ELEMENTS ((int64_t)1 << 32)    /* elements of one tensor (activations too) */

/* Tensor element types, numbered as the schema's TensorType. */
typedef enum fs_tflite_type {
    FS_TFLITE_FLOAT32 = 0,
    FS_TFLITE_FLOAT16 = 1,
    FS_TFLITE_INT32 = 2,
    FS_TFLITE_UINT8 = 3,
    FS_TFLITE_INT64 = 4,
    FS_TFLITE_STRING = 5,
    FS_TFLITE_BOOL = 6,
    FS_TFLITE_INT16 = 7,
    FS_TFLITE_COMPLEX64 = 8,
    FS_TFLITE_INT8 = 9,
    FS_TFLITE_FLOAT64 = 10,
    FS_TFLITE_COMPLEX128 = 11,
    FS_TFLITE_UINT64 = 12,
    FS_TFLITE_RESOURCE = 13,
    FS_TFLITE_VARIANT = 14,
    FS_TFLITE_UINT32 = 15,
    FS_TFLITE_UINT16 = 16,
    FS_TFLITE_INT4 = 17
} fs_tflite_type;

/* Builtin operator codes (the schema's BuiltinOperator) this project names in code. Any other
 * code is kept as its number; fs_tflite_op_name knows the names of all codes up to 209. */
enum {
    FS_TFLITE_OP_ADD = 0,
    FS_TFLITE_OP_AVERAGE_POOL_2D = 1,
    FS_TFLITE_OP_CONCATENATION = 2,
    FS_TFLITE_OP_CONV_2D = 3,
    FS_TFLITE_OP_DEPTHWISE_CONV_2D = 4,
    FS_TFLITE_OP_DEPTH_TO_SPACE = 5,
    FS_TFLITE_OP_DEQUANTIZE = 6,
    FS_TFLITE_OP_FULLY_CONNECTED = 9,
    FS_TFLITE_OP_L2_NORMALIZATION = 11,
    FS_TFLITE_OP_LOGISTIC = 14,
    FS_TFLITE_OP_MAX_POOL_2D = 17,
    FS_TFLITE_OP_MUL = 18,
    FS_TFLITE_OP_RELU = 19,
    FS_TFLITE_OP_RELU6 = 21,
    FS_TFLITE_OP_RESHAPE = 22,
    FS_TFLITE_OP_RESIZE_BILINEAR = 23,
    FS_TFLITE_OP_SOFTMAX = 25,
    FS_TFLITE_OP_SPACE_TO_DEPTH = 26,
    FS_TFLITE_OP_TANH = 28,
    FS_TFLITE_OP_CUSTOM = 32,
    FS_TFLITE_OP_PAD = 34,
    FS_TFLITE_OP_GATHER = 36,
    FS_TFLITE_OP_TRANSPOSE = 39,
    FS_TFLITE_OP_MEAN = 40,
    FS_TFLITE_OP_SUB = 41,
    FS_TFLITE_OP_DIV = 42,
    FS_TFLITE_OP_SQUEEZE = 43,
    FS_TFLITE_OP_STRIDED_SLICE = 45,
    FS_TFLITE_OP_SPLIT = 49,
    FS_TFLITE_OP_CAST = 53,
    FS_TFLITE_OP_PRELU = 54,
    FS_TFLITE_OP_MAXIMUM = 55,
    FS_TFLITE_OP_ARG_MAX = 56,
    FS_TFLITE_OP_MINIMUM = 57,
    FS_TFLITE_OP_PADV2 = 60,
    FS_TFLITE_OP_TRANSPOSE_CONV = 67,
    FS_TFLITE_OP_SUM = 74,
    FS_TFLITE_OP_ARG_MIN = 79,
    FS_TFLITE_OP_REDUCE_PROD = 81,
    FS_TFLITE_OP_REDUCE_MAX = 82,
    FS_TFLITE_OP_PACK = 83,
    FS_TFLITE_OP_UNPACK = 88,
    FS_TFLITE_OP_REDUCE_MIN = 89,
    FS_TFLITE_OP_REDUCE_ANY = 91,
    FS_TFLITE_OP_RESIZE_NEAREST_NEIGHBOR = 97,
    FS_TFLITE_OP_LEAKY_RELU = 98,
    FS_TFLITE_OP_MIRROR_PAD = 100,
    FS_TFLITE_OP_SPLIT_V = 102,
    FS_TFLITE_OP_QUANTIZE = 114,
    FS_TFLITE_OP_HARD_SWISH = 117,
    FS_TFLITE_OP_DENSIFY = 124,
    FS_TFLITE_OP_REDUCE_ALL = 140
};
#define FS_TFLITE_OP_LAST_NAMED 209 /* the highest code fs_tflite_op_name knows */

typedef enum fs_tflite_padding { FS_TFLITE_PADDING_SAME = 0, FS_TFLITE_PADDING_VALID = 1 } fs_tflite_padding;

/* Fused activation applied to an operator's output. */
typedef enum fs_tflite_act {
    FS_TFLITE_ACT_NONE = 0,
    FS_TFLITE_ACT_RELU = 1,
    FS_TFLITE_ACT_RELU_N1_TO_1 = 2, /* clamp to [-1, 1] */
    FS_TFLITE_ACT_RELU6 = 3,
    FS_TFLITE_ACT_TANH = 4,
    FS_TFLITE_ACT_SIGN_BIT = 5
} fs_tflite_act;

/* Builtin options, decoded for the operators named on each field; every other field is zero
 * (dilations 1). Absent options take the schema's defaults. The reader checks what an importer
 * would otherwise divide by or index with: strides, dilations and pool filters are >= 1,
 * padding and activations are values of their enums; a file breaking that gives FS_ERR_FORMAT.
 * Operators not listed keep only `kind`. */
typedef struct fs_tflite_options {
    int kind; /* the BuiltinOptions union type found in the file (0: none) */
    /* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D */
    fs_tflite_padding padding;
    int stride_w, stride_h;
    /* CONV_2D, DEPTHWISE_CONV_2D (>= 1; 1 unless dilated) */
    int dilation_w, dilation_h;
    /* DEPTHWISE_CONV_2D: output channels per input channel (older converters; may be 0) */
    int depth_multiplier;
    /* pools: window size */
    int filter_w, filter_h;
    /* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, pools, FULLY_CONNECTED, ADD, SUB, MUL, DIV,
     * CONCATENATION, L2_NORMALIZATION */
    fs_tflite_act activation;
    /* FULLY_CONNECTED: keep all but the last input dimension; weights_format 0 = plain */
    int keep_num_dims, weights_format;
    /* CONCATENATION, GATHER, PACK, UNPACK (may be negative: counted from the end) */
    int axis;
    /* GATHER */
    int batch_dims;
    /* PACK: values_count; UNPACK: num; SPLIT, SPLIT_V: num_splits */
    int count;
    /* MEAN, SUM, REDUCE_PROD/MAX/MIN/ANY/ALL */
    int keep_dims;
    /* SOFTMAX (the schema's default is 0: converters always write it) */
    float beta;
    /* LEAKY_RELU */
    float alpha;
    /* RESHAPE (new_shape; the shape usually also comes as input 1), SQUEEZE (squeeze_dims) */
    int ndims;
    int32_t dims[FS_TFLITE_MAX_DIMS];
    /* RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR */
    int align_corners, half_pixel_centers;
    /* SPACE_TO_DEPTH, DEPTH_TO_SPACE (>= 1) */
    int block_size;
    /* STRIDED_SLICE */
    int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset;
    /* MIRROR_PAD: 0 reflect (borders excluded), 1 symmetric */
    int mirror_mode;
    /* ARG_MAX, ARG_MIN (output_type), CAST (in_type, out_type): fs_tflite_type values */
    int in_type, out_type;
    /* ADD, SUB: power-of-two scales for int16 (schema default 1) */
    int pot_scale_int16;
} fs_tflite_options;

/* Dequantization parameters: real = scale[c] * (q - zero_point[c]), where c is the element's
 * index along dimension `dim` when count > 1 (per-channel), and 0 when count == 1. */
typedef struct fs_tflite_quant {
    int count;           /* 0: not quantized; 1: per tensor; > 1: per channel (== shape[dim]) */
    int dim;             /* quantized_dimension, checked to be a dimension when count > 1 */
    float *scale;        /* count values, owned */
    int64_t *zero_point; /* count values, owned (zeros when the file gives none) */
    int custom;          /* the file gives custom quantization details instead: not readable */
} fs_tflite_quant;

typedef struct fs_tflite_tensor {
    const char *name; /* borrowed from data; "" when the file gives none */
    int type;         /* fs_tflite_type, or an unknown number */
    int ndim;
    int32_t shape[FS_TFLITE_MAX_DIMS];
    int64_t count; /* product of shape (1 for a scalar) */
    fs_tflite_quant quant;
    /* Constant values inside the caller's buffer (little-endian, row-major), or NULL for
     * activations and graph inputs. For a dense tensor of a fixed-size type nbytes is checked to
     * be count * fs_tflite_type_size(type). */
    const uint8_t *data;
    size_t nbytes;
    int is_variable;
    int sparse; /* has sparsity parameters: data is compressed, not count dense values */
} fs_tflite_tensor;

typedef struct fs_tflite_op {
    int32_t code;            /* BuiltinOperator number */
    const char *name;        /* "CONV_2D", ...; for CUSTOM its custom code when the file gives
                                one; "UNKNOWN" for a code newer than this reader (static or
                                borrowed from data) */
    const char *custom_code; /* CUSTOM operators: their name (borrowed), else NULL */
    int version;             /* operator version (1 when the file leaves it out) */
    int ninputs, noutputs;
    int32_t *inputs;  /* tensor indices, -1 for an absent optional input; owned */
    int32_t *outputs; /* tensor indices; owned */
    fs_tflite_options opt;
} fs_tflite_op;

typedef struct fs_tflite_model {
    uint32_t version;        /* schema version (3) */
    const char *description; /* borrowed; "" when absent */
    int nsubgraphs;          /* in the file; only the first is read */
    const char *graph_name;  /* name of the first subgraph; "" when absent */
    int ntensors;
    fs_tflite_tensor *tensors;
    int nops;
    fs_tflite_op *ops; /* in execution order */
    int ninputs, noutputs;
    int32_t *inputs, *outputs; /* tensor indices of the graph's inputs and outputs */
} fs_tflite_model;

/* Parses a .tflite file held in data[0..len). On success *out is a new model that borrows data
 * (see above); on failure *out is NULL and msg says what is wrong and where. */
fs_err fs_tflite_parse(const uint8_t *data, size_t len, fs_tflite_model **out, fs_msg *msg);
void fs_tflite_free(fs_tflite_model *m);

/* The values of constant tensor `tensor` as floats in a new malloc'd array of *n values
 * (caller frees): FLOAT32 copied, FLOAT16 converted, FLOAT64 rounded; INT8, UINT8, INT16, INT32,
 * INT64 dequantized as scale * (q - zero_point), per channel along quant.dim when the tensor has
 * several scales, or converted as plain numbers when it has no quantization. FS_ERR_INVALID for
 * an index out of range or a tensor without constant data; FS_ERR_UNSUPPORTED for other types,
 * sparse tensors and custom quantization. *out is NULL and *n 0 on failure. */
fs_err fs_tflite_tensor_float(const fs_tflite_model *m, int tensor, float **out, size_t *n,
                              fs_msg *msg);

/* ---- translation (models/tflite_graph.c) ----
 * The model as a float32 fs_graph (graph.h), weights dequantized. In gin: the input picture's
 * size and how pixels map to the floats the graph takes, x = scale * (pixel - zero_point) (the
 * 8-bit input's own quantization; 1 and 0 for a float input), and the node holding each of the
 * model's outputs, in the model's order (read them with fs_graph_activation after a forward;
 * with one output it is the graph's last node). FS_ERR_UNSUPPORTED names the first op the
 * graph cannot express. */
#define FS_TFLITE_GRAPH_MAX_OUTPUTS 8
typedef struct fs_tflite_graph_input {
    int h, w, c;
    float scale, zero_point;
    int noutputs;
    int outputs[FS_TFLITE_GRAPH_MAX_OUTPUTS];
} fs_tflite_graph_input;
struct fs_graph;
fs_err fs_tflite_to_graph(const fs_tflite_model *m, struct fs_graph **out,
                          fs_tflite_graph_input *gin, fs_msg *msg);

/* ---- names ---- */
/* Schema name of a builtin operator code ("CONV_2D"), or NULL for a code it does not know. */
const char *fs_tflite_op_name(int32_t code);
/* "FLOAT32", "INT8", ...; NULL for an unknown number. */
const char *fs_tflite_type_name(int type);
/* Bytes per element of a fixed-size type; 0 for STRING, RESOURCE, VARIANT, INT4 (packed) and
 * unknown numbers. */
size_t fs_tflite_type_size(int type);
/* "NONE", "RELU", "RELU6", ...; "SAME"/"VALID" */
const char *fs_tflite_act_name(int act);
const char *fs_tflite_padding_name(int padding);
/* Number of operators of the model with this builtin code. */
int fs_tflite_count_ops(const fs_tflite_model *m, int32_t code);

#endif
