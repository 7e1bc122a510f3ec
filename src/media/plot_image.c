/* plot_image.c: pictures made of pictures: the feature-map grid that shows what a convolution
 * layer responds to, the heat-map overlay of an explanation (Grad-CAM) on the frame it
 * explains, face boxes per tracked person, and contact sheets of sampled frames. The overlay
 * is plain arithmetic on RGB8; the others compose with cairo. */
#include "media/plot_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_TARGET_WIDTH 960.0 /* the feature grid aims at this width */
#define GRID_MIN_TILE 48.0
#define GRID_MAX_TILE 256.0
#define GRID_GAP 6
#define GRID_MARGIN 12
#define FMAP_MAX_CHANNELS 4096
#define FMAP_MAX_VALUES ((size_t)1 << 28) /* a tensor we would never plot whole */
#define SHEET_TILE_DEFAULT 256
#define SHEET_GAP 8
#define SHEET_MARGIN 12
#define SHEET_MAX_IMAGES 1024

static const uint32_t nan_grey = FS_RGB(128, 128, 128);

/* ---- feature maps ---------------------------------------------------------------------- */

/* Channel k of act as an ARGB32 surface of w x h, scaled to its own range with viridis. */
static cairo_surface_t *channel_surface(const float *act, int h, int w, int c, int k) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
    float lo = INFINITY, hi = -INFINITY;
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) {
        float v = act[i * c + k];
        if (!isfinite(v)) continue;
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
    }
    double scale = hi > lo ? 1.0 / ((double)hi - lo) : 0; /* constant: everything at 0 */
    cairo_surface_flush(s);
    uint8_t *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * stride);
        for (int x = 0; x < w; x++) {
            float v = act[((size_t)y * w + x) * c + k];
            uint32_t rgb =
                isfinite(v) ? fs_colormap_rgb(FS_CMAP_VIRIDIS, (v - lo) * scale) : nan_grey;
            row[x] = 0xFF000000u | (rgb & 0xFFFFFFu);
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

fs_err fs_plot_feature_maps(const float *act, int h, int w, int c, const char *title, fs_plot **out,
                            fs_msg *msg) {
    assert(out);
    *out = NULL;
    if (!act || h < 1 || w < 1 || c < 1)
        return fs_fail(msg, FS_ERR_INVALID, "feature maps of %d x %d x %d: nothing to draw", h, w,
                       c);
    if (c > FMAP_MAX_CHANNELS || (size_t)h * w * c > FMAP_MAX_VALUES || h > 32767 || w > 32767)
        return fs_fail(msg, FS_ERR_LIMIT,
                       "feature maps of %d x %d x %d are too large to draw "
                       "(at most %d channels)",
                       h, w, c, FMAP_MAX_CHANNELS);
    int cols = (int)ceil(sqrt((double)c));
    int rows = (c + cols - 1) / cols;
    /* Small maps grow by a whole factor (crisp pixels); large ones shrink to the target. */
    int side = w > h ? w : h;
    double want = fmin(GRID_MAX_TILE, fmax(GRID_MIN_TILE, GRID_TARGET_WIDTH / cols));
    double scale = want / side;
    if (scale >= 1) scale = floor(scale);
    int tw = (int)lround(w * scale), th = (int)lround(h * scale);
    if (tw < 1) tw = 1;
    if (th < 1) th = 1;

    /* Probe text sizes on a scratch context. */
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *m = cairo_create(scratch);
    fs_plot_font(m, PLOT_TITLE_SIZE, 1);
    double title_h = title && *title ? fs_plot_font_height(m) + 10 : 0;
    fs_plot_font(m, PLOT_SMALL_SIZE, 0);
    double note_h = fs_plot_font_height(m) + 8;
    char note[160];
    snprintf(note, sizeof note,
             "%d channels of %d x %d; each tile scaled to its own range "
             "(dark = min, bright = max)",
             c, h, w);
    double note_w = fs_plot_text_width(m, note);
    cairo_destroy(m);
    cairo_surface_destroy(scratch);

    int grid_w = cols * tw + (cols - 1) * GRID_GAP, grid_h = rows * th + (rows - 1) * GRID_GAP;
    int width = 2 * GRID_MARGIN + (int)fmax(grid_w, note_w);
    int height = 2 * GRID_MARGIN + (int)ceil(title_h) + grid_h + (int)ceil(note_h);
    fs_plot *p;
    cairo_t *cr;
    fs_err err = fs_plot_canvas(width, height, "feature-map grid", &p, &cr, msg);
    if (err) return err;
    double x0 = (width - grid_w) / 2.0, y0 = GRID_MARGIN + title_h;
    if (title_h > 0) {
        fs_plot_font(cr, PLOT_TITLE_SIZE, 1);
        fs_plot_rgb(cr, FS_RGB(40, 40, 40));
        fs_plot_text(cr, width / 2.0, GRID_MARGIN, 0.5, title);
    }
    fs_plot_font(cr, PLOT_SMALL_SIZE, 0);
    double lab_h = fs_plot_font_height(cr);
    for (int k = 0; k < c && !err; k++) {
        double tx = round(x0 + (k % cols) * (tw + GRID_GAP)),
               ty = round(y0 + (k / cols) * (th + GRID_GAP));
        cairo_surface_t *s = channel_surface(act, h, w, c, k);
        if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
            err = fs_fail(msg, FS_ERR_NOMEM, "out of memory drawing channel %d", k);
            cairo_surface_destroy(s);
            break;
        }
        cairo_save(cr);
        cairo_translate(cr, tx, ty);
        cairo_scale(cr, (double)tw / w, (double)th / h);
        cairo_set_source_surface(cr, s, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr),
                                 scale >= 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
        cairo_rectangle(cr, 0, 0, w, h);
        cairo_fill(cr);
        cairo_restore(cr);
        cairo_surface_destroy(s);
        /* The index on a dark tag in the top-left corner, readable on any colour. */
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        double iw = fs_plot_text_width(cr, idx);
        if (iw + 6 <= tw && lab_h + 4 <= th) {
            cairo_rectangle(cr, tx, ty, iw + 6, lab_h + 2);
            cairo_set_source_rgba(cr, 0, 0, 0, 0.6);
            cairo_fill(cr);
            cairo_set_source_rgb(cr, 1, 1, 1);
            fs_plot_text(cr, tx + 3, ty + 1, 0, idx);
        }
    }
    if (!err) {
        fs_plot_rgb(cr, FS_RGB(90, 90, 90));
        fs_plot_text(cr, width / 2.0, y0 + grid_h + 6, 0.5, note);
        err = fs_plot_check(cr, "feature-map grid", msg);
    }
    cairo_destroy(cr);
    if (err) {
        fs_plot_free(p);
        return err;
    }
    *out = p;
    return FS_OK;
}

/* ---- heat-map overlay ----------------------------------------------------------------- */

static float map_at(const float *map, int mw, int x, int y) {
    float v = map[(size_t)y * mw + x];
    return isnan(v) ? 0.0f : fminf(1.0f, fmaxf(0.0f, v));
}

fs_err fs_heatmap_overlay(const fs_image *img, const float *map, int mw, int mh, double alpha,
                          fs_colormap cmap, fs_image *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb || img->w < 1 || img->h < 1)
        return fs_fail(msg, FS_ERR_INVALID, "no image to overlay on");
    if (!map || mw < 1 || mh < 1)
        return fs_fail(msg, FS_ERR_INVALID, "heat map of %d x %d: nothing to overlay", mw, mh);
    if (!(alpha >= 0 && alpha <= 1))
        return fs_fail(msg, FS_ERR_INVALID, "overlay alpha %g is outside [0, 1]", alpha);
    if (cmap != FS_CMAP_VIRIDIS && cmap != FS_CMAP_GRAY)
        return fs_fail(msg, FS_ERR_INVALID, "unknown colour map %d", (int)cmap);
    fs_err err = fs_image_alloc(out, img->w, img->h, msg);
    if (err) return err;
    /* 256 colours cover every value to within the precision of a byte. */
    uint8_t lut[256][3];
    for (int i = 0; i < 256; i++) {
        uint32_t rgb = fs_colormap_rgb(cmap, i / 255.0);
        lut[i][0] = (uint8_t)(rgb >> 16);
        lut[i][1] = (uint8_t)(rgb >> 8);
        lut[i][2] = (uint8_t)rgb;
    }
    double sx = (double)mw / img->w, sy = (double)mh / img->h;
    for (int y = 0; y < img->h; y++) {
        /* Pixel centres aligned: source = (dst + 0.5) * scale - 0.5, clamped at the edges. */
        double fy = fmin(fmax((y + 0.5) * sy - 0.5, 0), mh - 1);
        int y0 = (int)fy, y1 = y0 + 1 < mh ? y0 + 1 : y0;
        double wy = fy - y0;
        for (int x = 0; x < img->w; x++) {
            double fx = fmin(fmax((x + 0.5) * sx - 0.5, 0), mw - 1);
            int x0 = (int)fx, x1 = x0 + 1 < mw ? x0 + 1 : x0;
            double wx = fx - x0;
            double v =
                (1 - wy) * ((1 - wx) * map_at(map, mw, x0, y0) + wx * map_at(map, mw, x1, y0)) +
                wy * ((1 - wx) * map_at(map, mw, x0, y1) + wx * map_at(map, mw, x1, y1));
            const uint8_t *c = lut[(int)lrint(v * 255)];
            size_t o = ((size_t)y * img->w + x) * 3;
            for (int k = 0; k < 3; k++)
                out->rgb[o + k] = (uint8_t)lrint((1 - alpha) * img->rgb[o + k] + alpha * c[k]);
        }
    }
    return FS_OK;
}

/* ---- boxes ---------------------------------------------------------------------------- */

/* Black or white, whichever reads better on the colour. */
static int dark_text_on(uint32_t rgb) {
    double r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, b = rgb & 255;
    return 0.299 * r + 0.587 * g + 0.114 * b > 150;
}

fs_err fs_draw_boxes(fs_image *img, const fs_draw_box *boxes, size_t n, int line_width, fs_msg *msg) {
    if (!img || !img->rgb || img->w < 1 || img->h < 1)
        return fs_fail(msg, FS_ERR_INVALID, "no image to draw boxes on");
    if (n > 0 && !boxes) return fs_fail(msg, FS_ERR_INVALID, "no boxes given");
    if (line_width < 0 || line_width > 64)
        return fs_fail(msg, FS_ERR_INVALID, "box line width %d is outside 0..64", line_width);
    if (line_width == 0) line_width = 2;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(boxes[i].x) || !isfinite(boxes[i].y) || !isfinite(boxes[i].w) ||
            !isfinite(boxes[i].h) || boxes[i].w < 0 || boxes[i].h < 0)
            return fs_fail(msg, FS_ERR_INVALID, "box %zu is not a rectangle (%g, %g, %g x %g)", i,
                           boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h);
    if (n == 0) return FS_OK;
    cairo_surface_t *s;
    fs_err err = fs_image_to_surface(img, &s, msg);
    if (err) return err;
    cairo_t *cr = cairo_create(s);
    /* Text scales with the image so labels stay readable on large frames. */
    double font = fmax(PLOT_SMALL_SIZE, fmin(img->w, img->h) / 40.0);
    fs_plot_font(cr, font, 1);
    double text_h = fs_plot_font_height(cr);
    for (size_t i = 0; i < n; i++) {
        const fs_draw_box *b = &boxes[i];
        /* Whole pixels: the outline occupies the box's own edge pixels. */
        double x0 = round(b->x), y0 = round(b->y), x1 = round(b->x + b->w), y1 = round(b->y + b->h);
        if (x1 <= 0 || y1 <= 0 || x0 >= img->w || y0 >= img->h || x1 <= x0 || y1 <= y0) continue;
        uint32_t color = b->color ? b->color : fs_plot_palette(b->track_id);
        double lw = fmin(line_width, fmin(x1 - x0, y1 - y0) / 2);
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
        cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        cairo_rectangle(cr, x0 + lw, y0 + lw, x1 - x0 - 2 * lw, y1 - y0 - 2 * lw);
        fs_plot_rgb(cr, color);
        cairo_fill(cr);
        cairo_set_fill_rule(cr, CAIRO_FILL_RULE_WINDING);
        for (int k = 0; k < b->nkp && k < 68; k++) {
            if (!isfinite(b->kp[k][0]) || !isfinite(b->kp[k][1])) continue;
            /* 68 landmarks smaller than the detector's 6 keypoints */
            cairo_arc(cr, b->kp[k][0], b->kp[k][1], b->nkp > 6 ? fmax(1.0, lw / 2) : fmax(1.5, lw), 0,
                      2 * M_PI);
            cairo_fill(cr);
        }
        if (!b->label || !*b->label) continue;
        double tw = fs_plot_text_width(cr, b->label) + 8, th = text_h + 4;
        double ty = y0 - th >= 0 ? y0 - th : y0 + lw; /* above the box, else just inside */
        double tx = fmin(fmax(x0, 0), fmax(img->w - tw, 0));
        cairo_rectangle(cr, tx, ty, tw, th);
        cairo_fill(cr);
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
        if (dark_text_on(color))
            cairo_set_source_rgb(cr, 0, 0, 0);
        else
            cairo_set_source_rgb(cr, 1, 1, 1);
        fs_plot_text(cr, tx + 4, ty + 2, 0, b->label);
    }
    err = fs_plot_check(cr, "boxes", msg);
    cairo_destroy(cr);
    if (!err) {
        fs_image drawn;
        err = fs_image_from_surface(s, &drawn, msg);
        if (!err) {
            /* Same size: copy back, so img->rgb stays the caller's buffer. */
            assert(drawn.w == img->w && drawn.h == img->h);
            memcpy(img->rgb, drawn.rgb, (size_t)img->w * img->h * 3);
            fs_image_free(&drawn);
        }
    }
    cairo_surface_destroy(s);
    return err;
}

/* ---- contact sheet -------------------------------------------------------------------- */

fs_err fs_contact_sheet(const fs_image *imgs, const char *const *captions, size_t n, int columns,
                        int tile_size, const char *title, fs_image *out, fs_msg *msg) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!imgs || n == 0) return fs_fail(msg, FS_ERR_INVALID, "no images for a contact sheet");
    if (n > SHEET_MAX_IMAGES)
        return fs_fail(msg, FS_ERR_LIMIT, "%zu images for one contact sheet; at most %d", n,
                       SHEET_MAX_IMAGES);
    for (size_t i = 0; i < n; i++)
        if (!imgs[i].rgb || imgs[i].w < 1 || imgs[i].h < 1)
            return fs_fail(msg, FS_ERR_INVALID, "image %zu of the contact sheet is empty", i);
    if (columns < 0 || tile_size < 0)
        return fs_fail(msg, FS_ERR_INVALID, "negative columns (%d) or tile size (%d)", columns,
                       tile_size);
    int cols = columns ? columns : (int)ceil(sqrt((double)n));
    if ((size_t)cols > n) cols = (int)n;
    int rows = (int)((n + cols - 1) / cols);
    int tile = tile_size ? tile_size : SHEET_TILE_DEFAULT;

    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *m = cairo_create(scratch);
    fs_plot_font(m, PLOT_TITLE_SIZE, 1);
    double title_h = title && *title ? fs_plot_font_height(m) + 10 : 0;
    fs_plot_font(m, PLOT_TICK_SIZE, 0);
    double cap_h = captions ? fs_plot_font_height(m) + 6 : 0;
    cairo_destroy(m);
    cairo_surface_destroy(scratch);

    long long width = 2LL * SHEET_MARGIN + (long long)cols * tile + (cols - 1LL) * SHEET_GAP;
    long long height = 2LL * SHEET_MARGIN + (long long)ceil(title_h) +
                       rows * (long long)(tile + ceil(cap_h)) + (rows - 1LL) * SHEET_GAP;
    if (width > FS_PLOT_MAX_SIDE || height > FS_PLOT_MAX_SIDE)
        return fs_fail(msg, FS_ERR_LIMIT,
                       "contact sheet would be %lld x %lld pixels; at most %d "
                       "a side",
                       width, height, FS_PLOT_MAX_SIDE);
    fs_plot *p;
    cairo_t *cr;
    fs_err err = fs_plot_canvas((int)width, (int)height, "contact sheet", &p, &cr, msg);
    if (err) return err;
    if (title_h > 0) {
        fs_plot_font(cr, PLOT_TITLE_SIZE, 1);
        fs_plot_rgb(cr, FS_RGB(40, 40, 40));
        fs_plot_text(cr, width / 2.0, SHEET_MARGIN, 0.5, title);
    }
    fs_plot_font(cr, PLOT_TICK_SIZE, 0);
    for (size_t i = 0; i < n && !err; i++) {
        double cx = SHEET_MARGIN + (double)(i % cols) * (tile + SHEET_GAP);
        double cy = SHEET_MARGIN + title_h + (double)(i / cols) * (tile + ceil(cap_h) + SHEET_GAP);
        cairo_rectangle(cr, cx, cy, tile, tile);
        fs_plot_rgb(cr, FS_RGB(236, 236, 236));
        cairo_fill(cr);
        cairo_surface_t *s;
        if ((err = fs_image_to_surface(&imgs[i], &s, msg))) break;
        double k = fmin((double)tile / imgs[i].w, (double)tile / imgs[i].h);
        double dw = imgs[i].w * k, dh = imgs[i].h * k;
        cairo_save(cr);
        cairo_translate(cr, round(cx + (tile - dw) / 2), round(cy + (tile - dh) / 2));
        cairo_scale(cr, k, k);
        cairo_set_source_surface(cr, s, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
        cairo_rectangle(cr, 0, 0, imgs[i].w, imgs[i].h);
        cairo_fill(cr);
        cairo_restore(cr);
        cairo_surface_destroy(s);
        if (captions && captions[i] && *captions[i]) {
            fs_plot_rgb(cr, FS_RGB(40, 40, 40));
            /* A caption wider than its tile is cut at the tile's edge. */
            cairo_save(cr);
            cairo_rectangle(cr, cx, cy + tile, tile, cap_h);
            cairo_clip(cr);
            double tw = fs_plot_text_width(cr, captions[i]);
            fs_plot_text(cr, tw <= tile ? cx + tile / 2.0 : cx, cy + tile + 3, tw <= tile ? 0.5 : 0,
                         captions[i]);
            cairo_restore(cr);
        }
    }
    if (!err) err = fs_plot_check(cr, "contact sheet", msg);
    cairo_destroy(cr);
    if (!err) err = fs_plot_image(p, out, msg);
    fs_plot_free(p);
    return err;
}
