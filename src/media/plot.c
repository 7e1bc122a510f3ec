/* plot.c: the common ground of media/'s pictures: the fs_plot canvas (a cairo image surface),
 * its PNG output (cairo's own writer, to memory or to a file), the conversions between cairo
 * surfaces and fs_image, the palette and the colour maps. Charts live in plot_chart.c; feature
 * maps, overlays, boxes and contact sheets in plot_image.c. */
#include "media/plot_internal.h"

#include <assert.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cairo keeps coordinates in 24.8 fixed point; its image surfaces stop at 32767 pixels. */
#define CAIRO_MAX_SIDE 32767

/* ---- palette and colour maps ---------------------------------------------------------- */

/* Ten colours that stay apart on white and from each other (blue, orange, green, red,
 * purple, brown, pink, grey, olive, cyan), in the order people expect from plotting tools. */
static const uint32_t palette[10] = {
    FS_RGB(31, 119, 180),  FS_RGB(255, 127, 14), FS_RGB(44, 160, 44),   FS_RGB(214, 39, 40),
    FS_RGB(148, 103, 189), FS_RGB(140, 86, 75),  FS_RGB(227, 119, 194), FS_RGB(127, 127, 127),
    FS_RGB(188, 189, 34),  FS_RGB(23, 190, 207),
};

uint32_t fs_plot_palette(int i) {
    int n = (int)(sizeof palette / sizeof palette[0]);
    return palette[((i % n) + n) % n];
}

/* Viridis from the published degree-6 polynomial fit (Matt Zucker, 2020) of its R, G and B
 * channels: c0 + t (c1 + t (c2 + ...)). Within 1/255 of the reference map almost everywhere. */
static const double viridis_poly[7][3] = {
    {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
    {0.1050930431085774, 1.404613529898575, 1.384590162594685},
    {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
    {-4.634230498983486, -5.799100973351585, -19.33244095627987},
    {6.228269936347081, 14.17993336680509, 56.69055260068105},
    {4.776384997670288, -13.74514537774601, -65.35303263337234},
    {-5.435455855934631, 4.645852612178535, 26.3124352495832},
};

static uint8_t unit_to_byte(double v) {
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (uint8_t)lrint(v * 255.0);
}

uint32_t fs_colormap_rgb(fs_colormap cmap, double v) {
    if (!(v > 0)) v = 0; /* also NaN */
    if (v > 1) v = 1;
    if (cmap == FS_CMAP_GRAY) {
        uint8_t g = unit_to_byte(v);
        return FS_RGB(g, g, g);
    }
    uint8_t c[3];
    for (int k = 0; k < 3; k++) {
        double acc = viridis_poly[6][k];
        for (int i = 5; i >= 0; i--) acc = acc * v + viridis_poly[i][k];
        c[k] = unit_to_byte(acc);
    }
    return FS_RGB(c[0], c[1], c[2]);
}

/* ---- cairo helpers -------------------------------------------------------------------- */

void fs_plot_rgba(cairo_t *cr, uint32_t color, double a) {
    cairo_set_source_rgba(cr, ((color >> 16) & 255) / 255.0, ((color >> 8) & 255) / 255.0,
                          (color & 255) / 255.0, a);
}

void fs_plot_rgb(cairo_t *cr, uint32_t color) {
    fs_plot_rgba(cr, color, 1.0);
}

void fs_plot_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double fs_plot_text_width(cairo_t *cr, const char *text) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, text ? text : "", &te);
    return te.x_advance;
}

double fs_plot_font_height(cairo_t *cr) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

void fs_plot_text(cairo_t *cr, double x, double y, double align, const char *text) {
    if (!text || !*text) return;
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_move_to(cr, x - align * fs_plot_text_width(cr, text), y + fe.ascent);
    cairo_show_text(cr, text);
}

fs_err fs_plot_check(cairo_t *cr, const char *what, fs_msg *msg) {
    cairo_status_t st = cairo_status(cr);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(cairo_get_target(cr));
    if (st == CAIRO_STATUS_SUCCESS) return FS_OK;
    return fs_fail(msg, st == CAIRO_STATUS_NO_MEMORY ? FS_ERR_NOMEM : FS_ERR_INTERNAL,
                   "drawing the %s failed: %s", what, cairo_status_to_string(st));
}

/* ---- fs_plot -------------------------------------------------------------------------- */

fs_err fs_plot_canvas(int w, int h, const char *what, fs_plot **out, cairo_t **cr, fs_msg *msg) {
    *out = NULL;
    *cr = NULL;
    if (w < 1 || h < 1 || w > FS_PLOT_MAX_SIDE || h > FS_PLOT_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID,
                       "%s would be %d x %d pixels; each side must be "
                       "1 to %d",
                       what, w, h, FS_PLOT_MAX_SIDE);
    fs_plot *p = calloc(1, sizeof *p);
    if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory for a %s", what);
    p->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_t *c = cairo_create(p->surface);
    fs_err err = fs_plot_check(c, what, msg);
    if (err) {
        cairo_destroy(c);
        fs_plot_free(p);
        return err;
    }
    cairo_set_source_rgb(c, 1, 1, 1);
    cairo_paint(c);
    *out = p;
    *cr = c;
    return FS_OK;
}

int fs_plot_width(const fs_plot *p) {
    return p ? cairo_image_surface_get_width(p->surface) : 0;
}

int fs_plot_height(const fs_plot *p) {
    return p ? cairo_image_surface_get_height(p->surface) : 0;
}

void fs_plot_free(fs_plot *p) {
    if (!p) return;
    if (p->surface) cairo_surface_destroy(p->surface);
    free(p);
}

typedef struct png_buf {
    uint8_t *data;
    size_t len, cap;
    int nomem;
} png_buf;

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int len) {
    png_buf *b = closure;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + len) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->nomem = 1;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CAIRO_STATUS_SUCCESS;
}

fs_err fs_plot_png(const fs_plot *p, uint8_t **png, size_t *len, fs_msg *msg) {
    assert(png && len);
    *png = NULL;
    *len = 0;
    if (!p) return fs_fail(msg, FS_ERR_INVALID, "no plot to encode");
    png_buf b = {0};
    cairo_status_t st = cairo_surface_write_to_png_stream(p->surface, png_append, &b);
    if (st != CAIRO_STATUS_SUCCESS) {
        free(b.data);
        return fs_fail(msg, b.nomem ? FS_ERR_NOMEM : FS_ERR_INTERNAL, "PNG encoding failed: %s",
                       cairo_status_to_string(st));
    }
    *png = b.data;
    *len = b.len;
    return FS_OK;
}

fs_err fs_plot_save(const fs_plot *p, const char *path, fs_msg *msg) {
    if (!path || !*path) return fs_fail(msg, FS_ERR_INVALID, "no path to save the plot to");
    uint8_t *png;
    size_t len;
    fs_err err = fs_plot_png(p, &png, &len, msg);
    if (err) return err;
    err = fs_write_file(path, png, len, msg);
    free(png);
    return err;
}

fs_err fs_plot_image(const fs_plot *p, fs_image *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!p) return fs_fail(msg, FS_ERR_INVALID, "no plot to convert");
    return fs_image_from_surface(p->surface, out, msg);
}

void fs_plot_cleanup(void) {
    /* cairo first: its font map holds fontconfig patterns. */
    cairo_debug_reset_static_data();
    FcFini();
}

/* ---- cairo <-> fs_image --------------------------------------------------------------- */

fs_err fs_image_from_surface(cairo_surface_t *s, fs_image *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!s || cairo_surface_status(s) != CAIRO_STATUS_SUCCESS ||
        cairo_surface_get_type(s) != CAIRO_SURFACE_TYPE_IMAGE)
        return fs_fail(msg, FS_ERR_INVALID, "not a valid cairo image surface");
    cairo_format_t fmt = cairo_image_surface_get_format(s);
    if (fmt != CAIRO_FORMAT_ARGB32 && fmt != CAIRO_FORMAT_RGB24)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "cairo surface format %d is not ARGB32 or RGB24",
                       (int)fmt);
    cairo_surface_flush(s);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const uint8_t *data = cairo_image_surface_get_data(s);
    if (!data || w < 1 || h < 1) return fs_fail(msg, FS_ERR_INVALID, "empty cairo surface");
    fs_err err = fs_image_alloc(out, w, h, msg);
    if (err) return err;
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * stride);
        uint8_t *dst = out->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            uint32_t px = row[x];
            /* Premultiplied: over white, colour = c + (255 - a). */
            unsigned a = fmt == CAIRO_FORMAT_ARGB32 ? px >> 24 : 255;
            unsigned r = (px >> 16) & 255, g = (px >> 8) & 255, b = px & 255, add = 255 - a;
            dst[3 * x] = (uint8_t)(r + add > 255 ? 255 : r + add);
            dst[3 * x + 1] = (uint8_t)(g + add > 255 ? 255 : g + add);
            dst[3 * x + 2] = (uint8_t)(b + add > 255 ? 255 : b + add);
        }
    }
    return FS_OK;
}

fs_err fs_image_to_surface(const fs_image *img, cairo_surface_t **out, fs_msg *msg) {
    assert(out);
    *out = NULL;
    if (!img || !img->rgb || img->w < 1 || img->h < 1)
        return fs_fail(msg, FS_ERR_INVALID, "empty image");
    if (img->w > CAIRO_MAX_SIDE || img->h > CAIRO_MAX_SIDE)
        return fs_fail(msg, FS_ERR_LIMIT, "image is %d x %d; drawing stops at %d pixels a side",
                       img->w, img->h, CAIRO_MAX_SIDE);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, img->w, img->h);
    cairo_status_t st = cairo_surface_status(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return fs_fail(msg, st == CAIRO_STATUS_NO_MEMORY ? FS_ERR_NOMEM : FS_ERR_INTERNAL,
                       "cannot make a %d x %d surface: %s", img->w, img->h,
                       cairo_status_to_string(st));
    }
    cairo_surface_flush(s);
    uint8_t *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < img->h; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * stride);
        const uint8_t *src = img->rgb + (size_t)y * img->w * 3;
        for (int x = 0; x < img->w; x++)
            row[x] = 0xFF000000u | (uint32_t)src[3 * x] << 16 | (uint32_t)src[3 * x + 1] << 8 |
                     src[3 * x + 2];
    }
    cairo_surface_mark_dirty(s);
    *out = s;
    return FS_OK;
}
