/* recognition (store/): the model-management records of the /v0.7 API: recognition
 * specifications (what a model answers: labels, with or without boxes), networks (an uploaded
 * weight or cascade file, kept as a content-addressed blob) and versions (a spec implemented by
 * a network with its thresholds). Rows live in the store's tables `rec_specs`, `rec_networks`
 * and `rec_versions`; a version references its spec and network, so deleting either while a
 * version uses it fails with FS_ERR_CONFLICT (foreign keys).
 *
 * Ownership: rows filled through out-parameters hold malloc'd strings; release them with the
 * matching *_clear (one row) or *_list_free (arrays). Every function is thread-safe (the store's
 * lock). Times are microseconds since the epoch (fs_rec_iso8601 prints them). */
#ifndef FAKESCOPE_RECOGNITION_H
#define FAKESCOPE_RECOGNITION_H

#include "fakescope/core.h"
#include "fakescope/sha256.h"
#include "fakescope/store.h"

#define FS_REC_NAME_MAX 255       /* bytes of a name */
#define FS_REC_DESCRIPTION_MAX 4096
#define FS_REC_LIST_MAX 1000      /* rows one list call returns at most */

typedef struct fs_rec_spec {
    int64_t id;
    char *name;
    char *description;
    int detection;     /* 1: every label comes with a box (roi "BBOX") */
    char *labels_json; /* JSON array of label names, in order */
    int64_t created_us, updated_us;
} fs_rec_spec;

typedef struct fs_rec_network {
    int64_t id;
    char *name;
    char *architecture;       /* "meso4", "mesoinception4", "face-cascade" */
    char *preprocessing_json; /* JSON object */
    char *output;             /* "p_fake" / "p_real" for classifiers, "" for the cascade */
    int input_h, input_w, input_c;
    char sha256[FS_SHA256_HEX]; /* the blob */
    int64_t size;
    int64_t created_us;
} fs_rec_network;

typedef struct fs_rec_version {
    int64_t id;
    int64_t spec_id, network_id;
    char *post_json;    /* the post_processings array, as given (validated by the caller) */
    char *spec_name;    /* read-only joins */
    char *network_name;
    int64_t created_us;
} fs_rec_version;

void fs_rec_spec_clear(fs_rec_spec *r);
void fs_rec_network_clear(fs_rec_network *r);
void fs_rec_version_clear(fs_rec_version *r);
void fs_rec_spec_list_free(fs_rec_spec *r, size_t n);
void fs_rec_network_list_free(fs_rec_network *r, size_t n);
void fs_rec_version_list_free(fs_rec_version *r, size_t n);

/* Microseconds since the epoch, wall clock. */
int64_t fs_rec_now_us(void);
/* "2018-03-09T18:30:43.404610Z" into buf (at least 32 bytes). */
void fs_rec_iso8601(int64_t us, char *buf, size_t cap);

/* Creates a row from r (id and times are set on return). */
fs_err fs_rec_spec_create(fs_store *s, fs_rec_spec *r, fs_msg *msg);
fs_err fs_rec_spec_get(fs_store *s, int64_t id, fs_rec_spec *out, fs_msg *msg);
/* Changes name and/or description (NULL: unchanged). FS_ERR_NOTFOUND for an unknown id. */
fs_err fs_rec_spec_update(fs_store *s, int64_t id, const char *name, const char *description,
                          fs_msg *msg);
/* FS_ERR_NOTFOUND, or FS_ERR_CONFLICT while a version uses the spec. */
fs_err fs_rec_spec_delete(fs_store *s, int64_t id, fs_msg *msg);
/* Rows offset..offset+limit-1 by increasing id, and the total count. */
fs_err fs_rec_spec_list(fs_store *s, int64_t limit, int64_t offset, fs_rec_spec **rows,
                        size_t *n, int64_t *total, fs_msg *msg);

fs_err fs_rec_network_create(fs_store *s, fs_rec_network *r, fs_msg *msg);
fs_err fs_rec_network_get(fs_store *s, int64_t id, fs_rec_network *out, fs_msg *msg);
/* Deletes the row, then the blob when no other network uses the same bytes. FS_ERR_CONFLICT
 * while a version uses the network. */
fs_err fs_rec_network_delete(fs_store *s, int64_t id, fs_msg *msg);
fs_err fs_rec_network_list(fs_store *s, int64_t limit, int64_t offset, fs_rec_network **rows,
                           size_t *n, int64_t *total, fs_msg *msg);

/* FS_ERR_NOTFOUND naming spec_id or network_id when either is unknown. */
fs_err fs_rec_version_create(fs_store *s, fs_rec_version *r, fs_msg *msg);
fs_err fs_rec_version_get(fs_store *s, int64_t id, fs_rec_version *out, fs_msg *msg);
fs_err fs_rec_version_delete(fs_store *s, int64_t id, fs_msg *msg);
/* spec_id 0: every version; otherwise those of that spec. */
fs_err fs_rec_version_list(fs_store *s, int64_t spec_id, int64_t limit, int64_t offset,
                           fs_rec_version **rows, size_t *n, int64_t *total, fs_msg *msg);

#endif
