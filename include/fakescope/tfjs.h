/* tfjs (models/): reads TensorFlow.js weight files (a JSON manifest and its binary shards) into
 * fs_weights, so networks published on npm in that form (face-api's landmark network) can be
 * imported by `fakescope models import`.
 *
 * A manifest is a JSON array of groups {"paths": [shard file names], "weights": [entries]};
 * each entry {"name", "shape": [dims], "dtype": "float32"|"int32", "quantization"?}. The
 * entries' bytes follow one another, in order, through the concatenation of all groups' shards
 * (group after group). Quantized entries store dtype "uint8" or "uint16" integers q and read
 * as q * scale + min (TF.js's affine quantization); unquantized ones are little-endian float32
 * (int32 entries are converted to float). Tensors keep their TF.js names and shapes (conv
 * filters [kh][kw][cin][cout], depthwise [kh][kw][c][multiplier], dense [in][out]).
 *
 * Everything is checked before it is used: the manifest's structure (a missing or mistyped
 * field is named), names unique and at most FS_TFJS_NAME_MAX bytes, at most
 * FS_WEIGHT_MAX_DIMS dimensions, no negative or absurd sizes, known dtypes, finite scale and
 * min, and the shards' total size equal to what the entries need (a short or a long file is
 * FS_ERR_FORMAT, saying how many bytes it has and needs). Shard paths must be plain file names
 * (no '/', not "." or ".."): they are read beside the manifest and nowhere else.
 *
 * Ownership: out is filled only on success and then owned by the caller (fs_weights_free). */
#ifndef FAKESCOPE_TFJS_H
#define FAKESCOPE_TFJS_H

#include "fakescope/core.h"
#include "fakescope/weights.h"

#define FS_TFJS_MAX_MANIFEST ((size_t)4 << 20) /* bytes of JSON */
#define FS_TFJS_MAX_SHARDS 256
#define FS_TFJS_NAME_MAX 256

/* The shard file names of a manifest in reading order, checked as above; *paths is a malloc'd
 * array of *n malloc'd strings (fs_tfjs_paths_free). FS_ERR_FORMAT for a malformed manifest. */
fs_err fs_tfjs_manifest_paths(const char *json, size_t len, char ***paths, size_t *n,
                              fs_msg *msg);
void fs_tfjs_paths_free(char **paths, size_t n);

/* The tensors of a manifest (json, len bytes) whose shards, concatenated in reading order, are
 * data (dlen bytes). out must be zeroed; FS_ERR_FORMAT names what is wrong, FS_ERR_LIMIT past
 * the size limits, FS_ERR_NOMEM. */
fs_err fs_tfjs_decode(const char *json, size_t len, const uint8_t *data, size_t dlen,
                      fs_weights *out, fs_msg *msg);

/* Reads a manifest file and its shards (beside it) and decodes them; messages name the file.
 * Also FS_ERR_IO / FS_ERR_NOTFOUND for files that cannot be read. */
fs_err fs_tfjs_load(const char *manifest_path, fs_weights *out, fs_msg *msg);

#endif
