/* json: JSON text as fakescope writes it, with every real number in its shortest exact form.
 *
 * jansson prints a real with one fixed precision for the whole document: its default (17
 * significant digits) shows 0.614086 as 0.61408600000000002, and any lower precision loses
 * doubles that need more digits. fs_json_dumps prints each real as the shortest decimal that
 * strtod reads back as the identical double (0.614086, 0.30000000000000004 for 0.1 + 0.2), in
 * jansson's notation otherwise: fixed for decimal exponents -4..16 and exponent form beyond
 * (1e-7, 1e300, no '+' and no leading zeros in the exponent), and always with a '.' or an
 * exponent so that a real reads back as a real (5.0, -0.0). Integers and strings are left as
 * jansson writes them. Every JSON document fakescope emits (HTTP answers, CLI --json output,
 * model cards, stored results that are served again) goes through here. */
#ifndef FAKESCOPE_JSON_H
#define FAKESCOPE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "fakescope/core.h"

/* Longest real number fs_json_format_real writes, with its NUL ("-2.2250738585072014e-308"). */
#define FS_JSON_REAL_MAX 32

/* json_dumps with jansson's flags (JSON_COMPACT, JSON_INDENT(n), JSON_SORT_KEYS, ...); any
 * JSON_REAL_PRECISION in flags is ignored, reals are always shortest. A new malloc'd string the
 * caller frees, or NULL when jansson fails or memory runs out (as json_dumps). */
char *fs_json_dumps(const json_t *json, size_t flags);

/* fs_json_dumps written to path atomically (fs_write_file), with no trailing newline. */
fs_err fs_json_dump_file(const json_t *json, const char *path, size_t flags, fs_msg *msg);

/* The shortest text of a finite double as fs_json_dumps writes it, into buf (at least
 * FS_JSON_REAL_MAX bytes); returns its length, or -1 when v is not finite. */
int fs_json_format_real(double v, char *buf, size_t cap);

#endif
