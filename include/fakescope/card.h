/* card (models/): model cards, the JSON file beside a weights file (NAME.json next to
 * NAME.safetensors) that says what the weights are, how their output reads, how they were
 * trained and how well they did on held-out data. docs/model-cards.md describes every field.
 *
 * The registry (fs_registry) scans model folders for cards whose weights file exists, so a
 * folder of card + weights pairs is a model library: list, look up by name or id, load.
 *
 * Ownership: fs_card owns all its strings; fs_card_free releases them (safe on a zeroed card).
 * A registry owns its entries; pointers it hands out live until fs_registry_free. A registry
 * is read-only after fs_registry_open, so threads may share it without locks. */
#ifndef FAKESCOPE_CARD_H
#define FAKESCOPE_CARD_H

#include "fakescope/core.h"
#include "fakescope/uuid.h"
#include "fakescope/weights.h"

#define FS_CARD_MAX_BYTES ((size_t)1 << 20) /* a card is a small JSON file */
#define FS_CARD_NAME_MAX 64                 /* [A-Za-z0-9._-], also the file stem */
#define FS_CARD_MAX_REPORT_ROWS 32
#define FS_SHA256_HEX 65                    /* 64 hex digits and the NUL */

/* One row of a classification report, as in scikit-learn's: label, precision, recall,
 * f1-score, support. A cell written as "" (the "accuracy" row's precision and recall) is NaN. */
typedef struct fs_card_report_row {
    char *label;
    double precision, recall, f1;
    int64_t support;
} fs_card_report_row;

/* Figures on the card's held-out set; present == 0 means "metrics": null (not measured). */
typedef struct fs_card_metrics {
    int present;
    double accuracy;          /* fraction in [0, 1] */
    double roc_auc;           /* NaN when not given */
    char *data;               /* what the held-out set is (may be NULL) */
    fs_card_report_row *rows; /* the report, columns "", precision, recall, f1-score, support */
    size_t nrows;
} fs_card_metrics;

/* What a face-model sees of each face ("face_crop" in the card; docs/model-cards.md): the
 * square around the detector's box (the default: "mode": "box", the scan's margin), or the face
 * aligned on its landmarks ("mode": "aligned": eyes, nose tip and mouth corners fitted onto
 * the five-point template, fs_align_face, with this margin), the crop it was trained on. */
#define FS_CARD_MAX_CROP_MARGIN 2.0f /* = FS_ALIGN_MAX_MARGIN (face/align.h) */

typedef struct fs_card_face_crop {
    int aligned;  /* 0: box crop (also when the field is absent) */
    double margin; /* aligned: in [0, FS_CARD_MAX_CROP_MARGIN] */
} fs_card_face_crop;

/* How the model's P(fake) becomes a call, chosen on validation data ("decision" in the card;
 * docs/model-cards.md): fake at or above threshold, and "uncertain" beside the binary call when
 * lo < P(fake) < hi (an end at 0 or 1 is closed). present == 0 (no "decision"): threshold
 * 0.5, no band. */
typedef struct fs_card_decision {
    int present;
    double threshold;  /* in (0, 1) */
    double lo, hi;     /* 0 <= lo <= threshold <= hi <= 1; lo == hi: no band */
    char *data;        /* what it was chosen on, e.g. "ffpp-c40:ffpp-val:val, 48 videos" */
    char *rule;        /* how, e.g. "highest balanced accuracy per video" */
    char *command;     /* the command that chose it */
} fs_card_decision;

typedef struct fs_card {
    char id[FS_UUID_BUF];  /* UUID v4 */
    char *name;            /* unique in a registry, file stem of card and weights */
    char *description;
    char *architecture;    /* "meso4", "mesoinception4" */
    char *labels[2];       /* class names by output index: sigmoid = P(labels[1]) */
    char *fake_label;      /* which of labels is the fake (positive) class */
    char *output;          /* "p_fake" or "p_real": what the sigmoid output means */
    int input_width, input_height;
    char *preprocessing;   /* "rgb/255" */
    char *training_json;   /* free-form JSON object text (epochs, data, seed, command), or NULL */
    fs_card_metrics metrics;
    char *metrics_note;    /* why metrics are missing or how they were measured, or NULL */
    char *loss_curve;      /* path relative to the card, or NULL */
    char *weights;         /* weights file name, relative to the card's folder */
    char sha256[FS_SHA256_HEX]; /* of the weights file, lower-case hex */
    char *source;          /* where the weights came from (e.g. "Meso4_DF.h5"), or NULL */
    char *created;         /* ISO 8601 UTC time the card was written, or NULL */
    fs_card_decision decision;
    int is_default;        /* "default": true: one of the models a video check runs when the
                            * request names none (when no card says so: every model) */
    fs_card_face_crop face_crop;
    int picture_faces;     /* "picture_input": "faces": a still picture is judged by the faces
                            * found in it (the model learned face crops of pictures); absent or
                            * "whole": the whole picture resized to the input */
} fs_card;

/* The card's decision threshold: decision.threshold, or 0.5 without a decision. */
double fs_card_threshold(const fs_card *c);
/* "fake", "real" or "uncertain" for a P(fake), by the card's decision. */
const char *fs_card_call(const fs_card *c, double p_fake);

void fs_card_free(fs_card *c);

/* Parses and validates card JSON. FS_ERR_FORMAT names the field: "field \"labels\" is missing",
 * "field \"sha256\" must be 64 hex digits", ... */
fs_err fs_card_parse(const char *json, size_t len, fs_card *out, fs_msg *msg);
fs_err fs_card_load(const char *path, fs_card *out, fs_msg *msg);
/* Checks a card built in memory with the same rules as fs_card_parse. */
fs_err fs_card_validate(const fs_card *c, fs_msg *msg);
/* Pretty JSON text of a valid card (caller frees *out), and the atomic save of it. */
fs_err fs_card_to_json(const fs_card *c, char **out, fs_msg *msg);
fs_err fs_card_save(const fs_card *c, const char *path, fs_msg *msg);

/* P(fake) from the network's sigmoid output, following the card's output semantics. */
double fs_card_p_fake(const fs_card *c, double sigmoid);

/* SHA-256 of a file as lower-case hex (OpenSSL EVP). */
fs_err fs_sha256_file(const char *path, char hex[FS_SHA256_HEX], fs_msg *msg);

/* 1 when name is a usable model name: 1..FS_CARD_NAME_MAX of [A-Za-z0-9._-], not starting
 * with '.' */
int fs_card_name_valid(const char *name);

/* ---- registry ---- */

typedef struct fs_model_entry {
    fs_card card;
    char *card_path;    /* the .json file */
    char *weights_path; /* the card's weights, resolved beside the card */
} fs_model_entry;

typedef struct fs_registry fs_registry;

#define FS_REGISTRY_MAX_DIRS 32
#define FS_REGISTRY_MAX_MODELS 1024

/* Scans dirs (ndirs of them) for *.json cards whose weights file exists. With dirs == NULL
 * the defaults are used: each folder of FAKESCOPE_MODELS (':'-separated), then the source
 * tree's models/ folder; absent default folders are skipped. An explicit folder that does not
 * exist is FS_ERR_NOTFOUND. A card that does not parse, whose weights file is missing, or whose
 * name or id repeats an earlier one is skipped with a warning (logged and kept, see
 * fs_registry_warning), so one bad file never hides the others. */
fs_err fs_registry_open(const char *const *dirs, size_t ndirs, fs_registry **out, fs_msg *msg);
void fs_registry_free(fs_registry *r);
size_t fs_registry_count(const fs_registry *r);
const fs_model_entry *fs_registry_at(const fs_registry *r, size_t i); /* sorted by name */
/* By name, or by id (case-insensitive); NULL when absent. */
const fs_model_entry *fs_registry_find(const fs_registry *r, const char *name_or_id);
size_t fs_registry_warning_count(const fs_registry *r);
const char *fs_registry_warning(const fs_registry *r, size_t i);
/* The folders that were scanned, in order. */
size_t fs_registry_dir_count(const fs_registry *r);
const char *fs_registry_dir(const fs_registry *r, size_t i);

/* Loads an entry's weights (fs_weights_load with the card's architecture) after checking the
 * file's SHA-256 against the card: FS_ERR_FORMAT when they differ. */
fs_err fs_model_load_weights(const fs_model_entry *e, fs_weights *out, fs_msg *msg);

#endif
