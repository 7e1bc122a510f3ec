/* provenance: Content Credentials (C2PA) and generator metadata of an image, read beside the
 * pixels and never mixed into a model's scores.
 *
 * fs_prov_read finds the C2PA manifest store of a JPEG (APP11), PNG ('caBX') or WebP ('C2PA')
 * file, reads its manifests (JUMBF boxes, CBOR claims and assertions), and validates the
 * active manifest and those of its ingredients: the claim signature (COSE_Sign1 with ES256/384/
 * 512, PS256/384/512 or Ed25519, through OpenSSL), the signer's certificate chain against a
 * trust list (PEM; no network), the time stamp's message imprint, every assertion's hash and
 * the hard binding (c2pa.hash.data with its exclusions) against the file's bytes. Outcomes use
 * the C2PA specification's status codes ("claimSignature.validated",
 * "assertion.dataHash.mismatch", "signingCredential.untrusted", ...).
 *
 * Beside the signed facts it collects unsigned hints, labelled as such: XMP/IPTC
 * DigitalSourceType and CreatorTool, EXIF Software, and the PNG text chunks image generators
 * write ("parameters", "prompt", "Software", ...).
 *
 * Errors: fs_prov_read fails only when the file cannot be examined at all (FS_ERR_UNSUPPORTED:
 * not JPEG/PNG/WebP; FS_ERR_LIMIT, FS_ERR_IO, FS_ERR_NOMEM). A missing store is state
 * FS_PROV_NONE; a store that is damaged or fails validation is state FS_PROV_INVALID with
 * the reason in the status list (and store_error). Memory: the report owns every string and
 * array in it; release with fs_prov_report_free. A trust list is created by fs_prov_trust_load
 * and released by fs_prov_trust_free; it is read-only afterwards and may be shared by threads. */
#ifndef FAKESCOPE_PROVENANCE_H
#define FAKESCOPE_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fakescope/core.h"

#define FS_PROV_MAX_FILE ((size_t)512 << 20) /* files larger than this are refused */
#define FS_PROV_MAX_MANIFESTS 64             /* manifests read from one store */
#define FS_PROV_MAX_ASSERTIONS 256           /* assertions per claim */
#define FS_PROV_MAX_HINTS 32

typedef enum fs_prov_state {
    FS_PROV_NONE,    /* no Content Credentials */
    FS_PROV_INVALID, /* present, but some validation failed (or the store is unreadable) */
    FS_PROV_VALID,   /* signature, hashes and binding hold; trust not established */
    FS_PROV_TRUSTED  /* valid, and the signer chains to the trust list */
} fs_prov_state;

typedef enum fs_prov_kind { FS_PROV_SUCCESS, FS_PROV_INFO, FS_PROV_FAILURE } fs_prov_kind;

typedef struct fs_prov_status {
    char *code;        /* specification code, e.g. "assertion.dataHash.mismatch" */
    fs_prov_kind kind;
    char *url;         /* JUMBF URI of what it is about (may be NULL) */
    char *explanation; /* human text (may be NULL) */
} fs_prov_status;

typedef struct fs_prov_action {
    char *action;              /* "c2pa.created", "c2pa.edited", ... */
    char *digital_source_type; /* IPTC URI or NULL */
    char *software_agent;      /* NULL when absent */
} fs_prov_action;

typedef struct fs_prov_ingredient {
    char *title, *format, *relationship; /* any may be NULL */
    char *manifest;     /* label of the ingredient's manifest (in this store), NULL if none */
    int manifest_found; /* 1 when that manifest is in the store */
    fs_prov_state state; /* validation of that manifest (FS_PROV_NONE without one) */
} fs_prov_ingredient;

typedef struct fs_prov_manifest {
    char *label;            /* "urn:uuid:..." */
    int claim_version;      /* 1 (c2pa.claim) or 2 (c2pa.claim.v2) */
    char *claim_generator;  /* name/version of the software that made the claim */
    char *title, *format, *instance_id;
    char *signer, *issuer, *sig_alg, *time; /* time: ISO 8601 from the time stamp, or NULL */
    char **assertions;      /* labels, as the claim lists them */
    size_t n_assertions;
    fs_prov_action *actions;
    size_t n_actions;
    fs_prov_ingredient *ingredients;
    size_t n_ingredients;
    fs_prov_status *status;
    size_t n_status;
    fs_prov_state state;
} fs_prov_manifest;

typedef struct fs_prov_hint {
    char *source; /* "xmp", "exif", "png:tEXt", "png:iTXt", "png:zTXt" */
    char *key;    /* "Iptc4xmpExt:DigitalSourceType", "Software", "parameters", ... */
    char *value;  /* cut at 512 bytes */
} fs_prov_hint;

typedef struct fs_prov_report {
    const char *mime;          /* static: "image/jpeg", "image/png", "image/webp" */
    fs_prov_state state;       /* of the active manifest */
    char *store_error;         /* why the store could not be read, NULL when it could */
    fs_prov_manifest *manifests; /* in store order; the active one is the last */
    size_t n_manifests;
    int active;                /* index of the active manifest, -1 when none */
    /* the signed statement about generative AI: the digitalSourceType of the active
     * manifest's actions when it is trainedAlgorithmicMedia or compositeWithTrained...;
     * NULL otherwise. Points into manifests[active]. */
    const char *ai_source_type;
    fs_prov_hint *hints;
    size_t n_hints;
    const char *ai_hint;       /* an unsigned hint that names generative AI, NULL if none */
} fs_prov_report;

typedef struct fs_prov_trust fs_prov_trust;

/* Loads trust anchors (root or intermediate CA certificates, or end-entity certificates that
 * are allowed as they are) from a PEM file. May be called again with *trust set to add a file.
 * FS_ERR_NOTFOUND/IO/FORMAT (no certificate in the file). */
fs_err fs_prov_trust_load(const char *pem_path, fs_prov_trust **trust, fs_msg *msg);
void fs_prov_trust_free(fs_prov_trust *trust);

typedef struct fs_prov_options {
    const fs_prov_trust *trust; /* NULL: trust is not judged (state at most VALID) */
} fs_prov_options;

/* Reads and validates the Content Credentials of a file held in memory. opts may be NULL. */
fs_err fs_prov_read(const uint8_t *data, size_t len, const fs_prov_options *opts,
                    fs_prov_report *report, fs_msg *msg);
/* The same for a file path (at most FS_PROV_MAX_FILE bytes). */
fs_err fs_prov_read_file(const char *path, const fs_prov_options *opts, fs_prov_report *report,
                         fs_msg *msg);
void fs_prov_report_free(fs_prov_report *report);

/* "none", "invalid", "valid", "trusted" */
const char *fs_prov_state_name(fs_prov_state state);
/* 1 when the report carries the status code `code` for manifest m (-1: the active one). */
int fs_prov_has_status(const fs_prov_report *report, int m, const char *code);

/* The report as a new JSON object (caller decrefs), NULL on allocation failure:
 * {"format", "state", "active_manifest", "signer", "issuer", "time", "claim_generator",
 *  "ai_generated": {"signed", "hint"}, "manifests": [...], "hints": [...], "store_error"}. */
json_t *fs_prov_report_json(const fs_prov_report *report);

#endif
