/* json.c: JSON text with shortest real numbers (fakescope/json.h). jansson writes the document
 * with 17 significant digits, which always reads back exactly; each real number token outside
 * strings is then replaced by the fewest digits that still read back as the same double. */
#include "fakescope/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_REAL_DIGITS_MAX 17 /* enough for any double (DBL_DECIMAL_DIG) */
#define REAL_TOKEN_MAX 64       /* jansson's reals are at most ~25 characters */

int fs_json_format_real(double v, char *buf, size_t cap) {
    if (!isfinite(v) || !buf || cap < FS_JSON_REAL_MAX) return -1;
    /* The fewest significant digits that read back as v; %.16e always does. */
    char e[FS_JSON_REAL_MAX];
    for (int p = 1; p <= JSON_REAL_DIGITS_MAX; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e is [-]d[.ddd]e(+|-)XX: split it into sign, digits and decimal exponent. */
    const char *s = e;
    int neg = *s == '-';
    if (neg) s++;
    char digits[JSON_REAL_DIGITS_MAX + 1];
    int nd = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9' && nd < JSON_REAL_DIGITS_MAX) digits[nd++] = *s;
    int x = *s ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;

    /* jansson's notation: what %.17g chooses (fixed for exponents -4..16), without '+' or
     * leading zeros in the exponent, and a ".0" when nothing else marks the number as real. */
    char *o = buf;
    if (neg) *o++ = '-';
    if (x < -4 || x >= JSON_REAL_DIGITS_MAX) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        o += snprintf(o, cap - (size_t)(o - buf), "e%d", x);
    } else if (x < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i <= x; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > x + 1) {
            memcpy(o, digits + x + 1, (size_t)(nd - x - 1));
            o += nd - x - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = '\0';
    return (int)(o - buf);
}

typedef struct out_buf {
    char *p;
    size_t len, cap;
} out_buf;

static int out_put(out_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap * 2;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Appends one number token (text[0..n)) to b: an integer as it is, a real in shortest form. */
static int put_number(out_buf *b, const char *text, size_t n) {
    int real = memchr(text, '.', n) || memchr(text, 'e', n) || memchr(text, 'E', n);
    if (!real || n >= REAL_TOKEN_MAX) return out_put(b, text, n);
    char tok[REAL_TOKEN_MAX], shortest[FS_JSON_REAL_MAX];
    memcpy(tok, text, n);
    tok[n] = '\0';
    char *end;
    double v = strtod(tok, &end);
    int len = *end ? -1 : fs_json_format_real(v, shortest, sizeof shortest);
    return len < 0 ? out_put(b, text, n) : out_put(b, shortest, (size_t)len);
}

char *fs_json_dumps(const json_t *json, size_t flags) {
    flags = (flags & ~(size_t)JSON_REAL_PRECISION(31)) | JSON_REAL_PRECISION(JSON_REAL_DIGITS_MAX);
    char *text = json_dumps(json, flags);
    if (!text) return NULL;
    size_t len = strlen(text);
    out_buf b = {.p = malloc(len + 1), .cap = len + 1};
    if (!b.p) {
        free(text);
        return NULL;
    }
    b.p[0] = '\0';
    int err = 0;
    for (size_t i = 0; i < len && !err;) {
        size_t j = i + 1;
        char c = text[i];
        if (c == '"') {
            /* A string (key or value) is copied whole; \" inside it does not end it. */
            while (j < len && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
            if (j < len) j++;
            err = out_put(&b, text + i, (j < len ? j : len) - i);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            while (j < len && strchr("0123456789+-.eE", text[j])) j++;
            err = put_number(&b, text + i, j - i);
        } else {
            err = out_put(&b, text + i, 1);
        }
        i = j;
    }
    free(text);
    if (err) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

fs_err fs_json_dump_file(const json_t *json, const char *path, size_t flags, fs_msg *msg) {
    char *text = fs_json_dumps(json, flags);
    if (!text) return fs_fail(msg, FS_ERR_NOMEM, "%s: cannot encode the JSON document", path);
    fs_err e = fs_write_file(path, text, strlen(text), msg);
    free(text);
    return e;
}
