/* prov_internal.h: the pieces of provenance/ that its files share and that the fuzz targets
 * and unit tests drive one by one: container extraction, COSE_Sign1 verification, the XMP,
 * EXIF and PNG text readers. The public contract is include/fakescope/provenance.h. */
#ifndef FS_PROV_INTERNAL_H
#define FS_PROV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fakescope/cbor.h"
#include "fakescope/core.h"
#include "fakescope/provenance.h"

/* ---- container.c: where the manifest store and the metadata sit in a file ---- */
#define PROV_MAX_TEXT 64        /* PNG text chunks kept */
#define PROV_MAX_JUMBF_GROUPS 8 /* distinct APP11 box instances followed in one JPEG */

typedef struct prov_text {
    char key[80];
    const uint8_t *value; /* into the file */
    size_t len;
    int compressed;       /* zTXt or compressed iTXt: value not readable without inflating */
} prov_text;

typedef struct prov_container {
    const char *mime;      /* "image/jpeg", "image/png", "image/webp" */
    uint8_t *store;        /* malloc'd JUMBF manifest store, NULL when none */
    size_t store_len;
    char store_error[FS_MSG_MAX]; /* set when C2PA segments were found but are inconsistent */
    const uint8_t *xmp;    /* first XMP packet, into the file */
    size_t xmp_len;
    const uint8_t *exif;   /* TIFF structure (after "Exif\0\0"), into the file */
    size_t exif_len;
    prov_text text[PROV_MAX_TEXT];
    size_t n_text;
} prov_container;

/* Finds the C2PA manifest store and metadata in a JPEG, PNG or WebP file. FS_ERR_UNSUPPORTED
 * for other formats, FS_ERR_NOMEM; a damaged file is not an error (what was found is kept,
 * store_error says what was wrong with the store). Caller releases with
 * prov_container_free. */
fs_err prov_container_read(const uint8_t *data, size_t len, prov_container *c, fs_msg *msg);
void prov_container_free(prov_container *c);

/* ---- boxes.c: a JPEG's or PNG's boxes, named as the box-hash binding names them ---- */
#define PROV_BOX_NAME 8            /* "APP15", "RST7", "PNGh", "C2PA", chunk types */
#define PROV_MAX_BOXES (1 << 20)   /* boxes listed in one file (restart markers included) */

typedef struct prov_box {
    char name[PROV_BOX_NAME];
    uint64_t start, len; /* byte range in the file */
} prov_box;

/* Lists the boxes of a JPEG or PNG file in file order (the names and ranges of boxes.c's
 * comment). *out is malloc'd (the caller frees it), *n its length. FS_ERR_UNSUPPORTED for
 * other formats, FS_ERR_FORMAT for a structure that cannot be cut into boxes (msg says
 * where), FS_ERR_LIMIT past PROV_MAX_BOXES, FS_ERR_NOMEM; *out is NULL then. */
fs_err prov_box_map(const uint8_t *data, size_t len, prov_box **out, size_t *n, fs_msg *msg);

/* ---- cose.c: COSE_Sign1 over a claim, the signer's certificate chain, the time stamp ---- */
#define PROV_MAX_CHAIN 16 /* certificates accepted in an x5chain */

typedef struct prov_cose_result {
    int alg;                 /* COSE algorithm id (-7 ES256, -37 PS256, -8 EdDSA, ...) */
    char alg_name[16];       /* "ES256", ... or "" */
    int verified;            /* 1 the signature matches the claim, 0 it does not */
    char signer[256];        /* subject of the signing certificate: CN, O */
    char issuer[256];
    char serial[128];
    int trust;               /* 1 chain reaches the trust list, 0 not, -1 no trust list given */
    char trust_error[160];   /* why the chain was not accepted */
    int in_validity;         /* 1 the certificate was valid at the signing time, 0 not */
    int has_tst;             /* a time stamp token was present */
    int tst_status;          /* 1 imprint matches, 0 mismatch, -1 malformed */
    int tst_signature;       /* the token's own CMS signature: 1 valid, 0 not, -1 not read */
    int tst_trust;           /* its authority's chain: 1 reaches the trust list (time stamping
                              * purpose), 0 not, -1 no trust list or no valid signature */
    char tst_error[160];     /* why the signature or the chain was not accepted */
    /* Embedded OCSP (the unprotected header's rVals.ocspVals; nothing is fetched): 0 none,
     * 1 a response signed for the leaf's issuer says "good" at the signing time, 2 it says
     * "revoked" (at or before that time), -1 present but unreadable, unverifiable, about
     * another certificate, or not current at the signing time (ocsp_error says which). */
    int ocsp;
    char ocsp_error[160];
    time_t signed_at;        /* from the time stamp, 0 when none */
    char time[32];           /* ISO 8601 of signed_at, "" when none */
} prov_cose_result;

/* Verifies the COSE_Sign1 in sig (the content of a c2pa.signature 'cbor' box) against the
 * detached payload (the claim's CBOR bytes). Returns FS_OK when the structure could be read,
 * whatever the verification outcome (in *res); FS_ERR_FORMAT for a malformed COSE structure
 * or certificate, FS_ERR_UNSUPPORTED for an unknown algorithm, FS_ERR_LIMIT for a chain
 * longer than PROV_MAX_CHAIN. trust may be NULL. */
fs_err prov_cose_verify(const uint8_t *sig, size_t sig_len, const uint8_t *payload,
                        size_t payload_len, const fs_prov_trust *trust, prov_cose_result *res,
                        fs_msg *msg);

/* ---- hints.c: unsigned metadata ---- */
/* Value of an XMP property `name` ("Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool") as an
 * attribute or a simple element, copied into out (NUL-terminated, XML entities for &, <, >,
 * " and ' decoded). 1 when found. Reads at most len bytes; never allocates. */
int prov_xmp_get(const uint8_t *xmp, size_t len, const char *name, char *out, size_t cap);
/* The ASCII tag `tag` of IFD0 of a TIFF structure (0x0131 Software, 0x010E ImageDescription,
 * 0x013B Artist) into out. 1 when found. */
int prov_exif_ascii(const uint8_t *tiff, size_t len, unsigned tag, char *out, size_t cap);

#endif
