/* weights (models/): a named set of float32 tensors, read from and written to safetensors,
 * or imported from the original Keras HDF5 MesoNet files.
 *
 * Tensor names and layouts are PyTorch's (docs/weights.md lists them per architecture):
 *   conv:  "<layer>.weight" [out, in, kh, kw], "<layer>.bias" [out]
 *   dense: "<layer>.weight" [out, in], "<layer>.bias" [out]; the input index of the first
 *          dense layer runs over the flattened feature map in NHWC order (h, w, c)
 *   batch norm: "<layer>.weight" (gamma), ".bias" (beta), ".running_mean", ".running_var"
 * String metadata (safetensors "__metadata__") carries at least "arch"; the Keras importer
 * adds "source", "dense_leaky" ("true"/"false": a LeakyReLU(0.1) after the 16-unit dense
 * layer, as the file's layer list says), "bn_eps" ("0.001", Keras's batch-norm epsilon) and
 * "keras_version".
 *
 * Ownership: fs_weights owns every name, shape and data buffer; fs_weights_free releases all
 * (safe on a zeroed struct). Lookups return borrowed pointers valid until free. */
#ifndef FAKESCOPE_WEIGHTS_H
#define FAKESCOPE_WEIGHTS_H

#include "fakescope/core.h"

#define FS_WEIGHT_MAX_DIMS 4
#define FS_WEIGHTS_MAX_TENSORS 4096
#define FS_WEIGHTS_MAX_FILE ((size_t)1 << 30) /* 1 GiB: far past any Meso-class network */

typedef struct fs_weight {
    char *name;
    int ndim;
    int64_t shape[FS_WEIGHT_MAX_DIMS];
    int64_t count; /* product of shape */
    float *data;
} fs_weight;

typedef struct fs_weights {
    fs_weight *items;
    size_t count, cap;
    char **meta_keys, **meta_values; /* string metadata, meta_count pairs */
    size_t meta_count;
} fs_weights;

void fs_weights_free(fs_weights *w);
/* Adds a copy of data under name; FS_ERR_CONFLICT if the name exists. */
fs_err fs_weights_add(fs_weights *w, const char *name, int ndim, const int64_t *shape,
                      const float *data, fs_msg *msg);
const fs_weight *fs_weights_get(const fs_weights *w, const char *name);
/* Sets (or replaces) a metadata string. */
fs_err fs_weights_set_meta(fs_weights *w, const char *key, const char *value, fs_msg *msg);
const char *fs_weights_meta(const fs_weights *w, const char *key); /* NULL when absent */

/* Like fs_weights_add but takes ownership of data (a malloc'd buffer of product(shape) floats,
 * freed here on failure too), so large tensors are not copied. */
fs_err fs_weights_add_owned(fs_weights *w, const char *name, int ndim, const int64_t *shape,
                            float *data, fs_msg *msg);
/* product(shape) into *count; FS_ERR_FORMAT for a negative dimension or more than
 * FS_WEIGHT_MAX_DIMS dimensions, FS_ERR_LIMIT past FS_WEIGHTS_MAX_FILE bytes of float32. */
fs_err fs_weights_count_elements(int ndim, const int64_t *shape, int64_t *count, fs_msg *msg);

/* ---- expected tensors of the MesoNet architectures ----
 * The importer maps Keras layers onto these names, and fs_weights_load checks a safetensors
 * file that declares (or is asked for) one of these architectures against them. */
#define FS_MESO4_TENSORS 28
#define FS_MESOINCEPTION4_TENSORS 52
#define FS_WEIGHTS_MAX_ARCH_TENSORS 64
typedef struct fs_weight_spec {
    char name[32];
    int ndim;
    int64_t shape[FS_WEIGHT_MAX_DIMS];
} fs_weight_spec;
/* Fills out (cap entries) with the tensors of arch ("meso4", "mesoinception4") in layer order
 * and returns their number; 0 for an unknown arch or a too small cap. */
size_t fs_weights_arch_specs(const char *arch, fs_weight_spec *out, size_t cap);
/* FS_OK when w holds exactly arch's tensors with the expected shapes; otherwise FS_ERR_FORMAT
 * naming the first missing, misshapen ("expects [16, 1024], the weights have [...]") or stray
 * tensor, or FS_ERR_INVALID for an unknown arch. */
fs_err fs_weights_check_arch(const fs_weights *w, const char *arch, fs_msg *msg);
/* "[16, 3, 3, 3]" into buf. */
void fs_weights_format_shape(int ndim, const int64_t *shape, char *buf, size_t cap);

/* safetensors. Tensors are held as F32 (F16, BF16 and F64 are converted on read; the writer
 * writes F32, names sorted, header padded with spaces to 8 bytes). The reader validates the
 * header (JSON, offsets inside the file, tensors tiling the data without gap or overlap, sizes
 * matching dtype * shape, at most FS_WEIGHT_MAX_DIMS dimensions and FS_WEIGHTS_MAX_TENSORS
 * tensors) and answers FS_ERR_FORMAT with the reason on any mismatch. */
fs_err fs_weights_read_safetensors(const uint8_t *data, size_t len, fs_weights *out, fs_msg *msg);
fs_err fs_weights_load_safetensors(const char *path, fs_weights *out, fs_msg *msg);
fs_err fs_weights_write_safetensors(const fs_weights *w, uint8_t **out, size_t *len, fs_msg *msg);
fs_err fs_weights_save_safetensors(const fs_weights *w, const char *path, fs_msg *msg);

/* Imports an original MesoNet Keras 2 HDF5 weight file for arch "meso4" or "mesoinception4",
 * renaming and transposing into the layout above, and following the file's own layer list
 * (dense_leaky). HDF5 files must be trusted: libhdf5 is not hardened against hostile input. */
fs_err fs_weights_import_keras(const char *path, const char *arch, fs_weights *out, fs_msg *msg);

/* Loads by extension: .safetensors, or .h5 (Keras import, needs arch). For safetensors, a
 * non-NULL arch must agree with the file's "arch" metadata (FS_ERR_INVALID otherwise) and is
 * recorded when the file has none; meso4/mesoinception4 sets are checked with
 * fs_weights_check_arch. Any other extension is FS_ERR_UNSUPPORTED. */
fs_err fs_weights_load(const char *path, const char *arch, fs_weights *out, fs_msg *msg);

#endif
