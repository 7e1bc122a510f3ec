/* plot_chart.c: line charts: loss curves per epoch, ROC curves against the chance diagonal,
 * and P(fake) along a video's timeline per model. One routine draws them all: it sizes the
 * margins from the text they must hold (tick labels, axis labels, title, an outside legend),
 * picks "nice" ticks (1, 2 or 5 times a power of ten), clips the data to the plot area, and
 * puts the legend in the inside corner that hides the fewest data, or outside when every
 * corner would hide some. */
#include "media/plot_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_MIN_WIDTH 240
#define CHART_MIN_HEIGHT 180
#define MAX_TICKS 24
#define PAD 12.0 /* canvas edge to text */
#define TICK_LEN 5.0
#define TICK_GAP 4.0 /* tick to its label */
#define LEGEND_PAD 8.0
#define LEGEND_SAMPLE 26.0 /* length of the line sample in a legend entry */
#define LEGEND_INSET 8.0   /* legend to plot-area edge */
#define HIT_STEP 3.0       /* pixels between samples when testing what a legend would hide */
#define CLIP_SLACK 3.0     /* data may overdraw the frame by this much */
#define COORD_LIMIT 1e5    /* pixel coordinates are clamped here, far outside any canvas */

static const uint32_t ink = FS_RGB(40, 40, 40);
static const uint32_t grid = FS_RGB(228, 228, 228);
static const uint32_t refline = FS_RGB(110, 110, 110);

typedef struct axis {
    double lo, hi, step;
    int n_ticks;
    double ticks[MAX_TICKS];
    int decimals;
} axis;

/* Heckbert's nice number: 1, 2, 5 or 10 times a power of ten, near x. */
static double nice_num(double x, int round_it) {
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

/* Ticks for [lo, hi]; a data range (fixed = 0) is widened to whole steps. */
static void axis_make(axis *a, double lo, double hi, int fixed, int target) {
    if (!(hi > lo)) { /* one value: give it some room */
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    if (target < 2) target = 2;
    double step = nice_num((hi - lo) / (target - 1), 1);
    /* The steps must not outnumber the tick array, whatever the range. */
    while ((hi - lo) / step > MAX_TICKS - 2) step = nice_num(step * 2, 1);
    if (!fixed) {
        lo = floor(lo / step) * step;
        hi = ceil(hi / step) * step;
    }
    a->lo = lo;
    a->hi = hi;
    a->step = step;
    a->n_ticks = 0;
    double first = ceil(lo / step - 1e-9) * step;
    for (int i = 0; i < MAX_TICKS; i++) {
        double t = first + i * step;
        if (t > hi + step * 1e-9) break;
        if (fabs(t) < step * 1e-9) t = 0; /* no "-0.0" */
        a->ticks[a->n_ticks++] = t;
    }
    if (a->n_ticks == 0) { /* rounding ate every tick of a fixed range: mark its ends */
        a->ticks[a->n_ticks++] = lo;
        a->ticks[a->n_ticks++] = hi;
    }
    a->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (a->decimals > 12) a->decimals = 12;
}

static void tick_label(const axis *a, double v, char *buf, size_t cap) {
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4))
        snprintf(buf, cap, "%.3g", v);
    else
        snprintf(buf, cap, "%.*f", a->decimals, v);
}

typedef struct frame {
    double left, top, width, height; /* plot area */
    axis x, y;
} frame;

static double px_x(const frame *f, double x) {
    double v = f->left + (x - f->x.lo) / (f->x.hi - f->x.lo) * f->width;
    return fmax(-COORD_LIMIT, fmin(COORD_LIMIT, v));
}

static double px_y(const frame *f, double y) {
    double v = f->top + f->height - (y - f->y.lo) / (f->y.hi - f->y.lo) * f->height;
    return fmax(-COORD_LIMIT, fmin(COORD_LIMIT, v));
}

static int finite_pt(const fs_series *s, size_t i) {
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

static uint32_t series_color(const fs_series *s, size_t i) {
    return s->color ? s->color : fs_plot_palette((int)i);
}

static int in_legend(const fs_series *s) {
    return s->name && *s->name;
}

/* ---- validation ----------------------------------------------------------------------- */

static fs_err check_chart(const fs_chart *c, int *w, int *h, fs_msg *msg) {
    if (!c) return fs_fail(msg, FS_ERR_INVALID, "no chart given");
    *w = c->width ? c->width : FS_CHART_WIDTH_DEFAULT;
    *h = c->height ? c->height : FS_CHART_HEIGHT_DEFAULT;
    if (*w < CHART_MIN_WIDTH || *h < CHART_MIN_HEIGHT || *w > FS_PLOT_MAX_SIDE ||
        *h > FS_PLOT_MAX_SIDE)
        return fs_fail(msg, FS_ERR_INVALID,
                       "a chart of %d x %d pixels is outside %d x %d .. "
                       "%d x %d",
                       *w, *h, CHART_MIN_WIDTH, CHART_MIN_HEIGHT, FS_PLOT_MAX_SIDE,
                       FS_PLOT_MAX_SIDE);
    if (!c->series || c->n_series == 0)
        return fs_fail(msg, FS_ERR_INVALID, "chart \"%s\" has no series", c->title ? c->title : "");
    size_t finite = 0;
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        if (s->n == 0 || !s->x || !s->y)
            return fs_fail(msg, FS_ERR_INVALID, "series %zu (\"%s\") has no points", i,
                           s->name ? s->name : "");
        for (size_t k = 0; k < s->n; k++) finite += finite_pt(s, k);
    }
    if (finite == 0)
        return fs_fail(msg, FS_ERR_INVALID, "chart \"%s\" has no point with finite x and y",
                       c->title ? c->title : "");
    if (c->fix_x && !(isfinite(c->x_min) && isfinite(c->x_max) && c->x_max > c->x_min))
        return fs_fail(msg, FS_ERR_INVALID, "fixed x range [%g, %g] is empty", c->x_min, c->x_max);
    if (c->fix_y && !(isfinite(c->y_min) && isfinite(c->y_max) && c->y_max > c->y_min))
        return fs_fail(msg, FS_ERR_INVALID, "fixed y range [%g, %g] is empty", c->y_min, c->y_max);
    if (c->hline && !isfinite(c->hline_y))
        return fs_fail(msg, FS_ERR_INVALID, "reference line at a non-finite y");
    return FS_OK;
}

/* ---- legend --------------------------------------------------------------------------- */

typedef struct legend {
    int entries;
    double w, h, line_h;
} legend;

static void legend_measure(cairo_t *cr, const fs_chart *c, legend *lg) {
    memset(lg, 0, sizeof *lg);
    fs_plot_font(cr, PLOT_LABEL_SIZE - 1, 0);
    lg->line_h = fs_plot_font_height(cr) + 4;
    double tw = 0;
    for (size_t i = 0; i < c->n_series; i++) {
        if (!in_legend(&c->series[i])) continue;
        lg->entries++;
        tw = fmax(tw, fs_plot_text_width(cr, c->series[i].name));
    }
    if (!lg->entries) return;
    lg->w = 2 * LEGEND_PAD + LEGEND_SAMPLE + 8 + tw;
    lg->h = 2 * LEGEND_PAD + lg->entries * lg->line_h - 4;
}

static int hits_rect(double x, double y, double rx, double ry, double rw, double rh) {
    return x >= rx && x <= rx + rw && y >= ry && y <= ry + rh;
}

/* How much of the data (points, and samples along the lines between them) falls inside the
 * rectangle: the cost of putting the legend there. */
static long legend_cost(const fs_chart *c, const frame *f, double rx, double ry, double rw,
                        double rh) {
    long cost = 0;
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        int have_prev = 0;
        double px = 0, py = 0;
        for (size_t k = 0; k < s->n; k++) {
            if (!finite_pt(s, k)) {
                have_prev = 0;
                continue;
            }
            double x = px_x(f, s->x[k]), y = px_y(f, s->y[k]);
            cost += 4 * hits_rect(x, y, rx, ry, rw, rh);
            if (have_prev) {
                double len = hypot(x - px, y - py);
                int steps = (int)fmin(len / HIT_STEP, 4096);
                for (int j = 1; j < steps; j++) {
                    double t = (double)j / steps;
                    cost += hits_rect(px + t * (x - px), py + t * (y - py), rx, ry, rw, rh);
                }
            }
            px = x;
            py = y;
            have_prev = 1;
        }
    }
    return cost;
}

static void legend_draw(cairo_t *cr, const fs_chart *c, const legend *lg, double x, double y) {
    cairo_rectangle(cr, x + 0.5, y + 0.5, lg->w - 1, lg->h - 1);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    fs_plot_rgb(cr, FS_RGB(190, 190, 190));
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    fs_plot_font(cr, PLOT_LABEL_SIZE - 1, 0);
    double ty = y + LEGEND_PAD;
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        if (!in_legend(s)) continue;
        double mid = ty + (lg->line_h - 4) / 2;
        fs_plot_rgb(cr, series_color(s, i));
        cairo_set_line_width(cr, s->line_width > 0 ? s->line_width : 2);
        if (s->dashed) cairo_set_dash(cr, (const double[]){6, 4}, 2, 0);
        cairo_move_to(cr, x + LEGEND_PAD, mid);
        cairo_line_to(cr, x + LEGEND_PAD + LEGEND_SAMPLE, mid);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (s->markers || c->markers) {
            cairo_arc(cr, x + LEGEND_PAD + LEGEND_SAMPLE / 2, mid, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        fs_plot_rgb(cr, ink);
        fs_plot_text(cr, x + LEGEND_PAD + LEGEND_SAMPLE + 8, ty, 0, s->name);
        ty += lg->line_h;
    }
}

/* ---- drawing -------------------------------------------------------------------------- */

static void data_range(const fs_chart *c, double *x0, double *x1, double *y0, double *y1) {
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        for (size_t k = 0; k < s->n; k++) {
            if (!finite_pt(s, k)) continue;
            *x0 = fmin(*x0, s->x[k]);
            *x1 = fmax(*x1, s->x[k]);
            *y0 = fmin(*y0, s->y[k]);
            *y1 = fmax(*y1, s->y[k]);
        }
    }
    if (c->hline) {
        *y0 = fmin(*y0, c->hline_y);
        *y1 = fmax(*y1, c->hline_y);
    }
    if (c->fix_x) {
        *x0 = c->x_min;
        *x1 = c->x_max;
    }
    if (c->fix_y) {
        *y0 = c->y_min;
        *y1 = c->y_max;
    }
}

static void draw_series(cairo_t *cr, const fs_chart *c, const frame *f) {
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        double lw = s->line_width > 0 ? s->line_width : 2;
        fs_plot_rgb(cr, series_color(s, i));
        cairo_set_line_width(cr, lw);
        if (s->dashed) cairo_set_dash(cr, (const double[]){6, 4}, 2, 0);
        int pen_down = 0;
        for (size_t k = 0; k < s->n; k++) {
            if (!finite_pt(s, k)) { /* a gap in the data is a gap in the line */
                pen_down = 0;
                continue;
            }
            double x = px_x(f, s->x[k]), y = px_y(f, s->y[k]);
            if (pen_down)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen_down = 1;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (s->markers || c->markers || s->n == 1) {
            for (size_t k = 0; k < s->n; k++) {
                if (!finite_pt(s, k)) continue;
                cairo_new_sub_path(cr);
                cairo_arc(cr, px_x(f, s->x[k]), px_y(f, s->y[k]), lw + 1.5, 0, 2 * M_PI);
            }
            cairo_fill(cr);
        }
    }
}

/* Each series' point labels, small, in its colour, up and right of the point; moved to the
 * other side where they would leave the plot area. */
static void draw_point_labels(cairo_t *cr, const fs_chart *c, const frame *f) {
    fs_plot_font(cr, PLOT_SMALL_SIZE, 0);
    const double th = fs_plot_font_height(cr);
    for (size_t i = 0; i < c->n_series; i++) {
        const fs_series *s = &c->series[i];
        if (!s->point_labels) continue;
        fs_plot_rgb(cr, series_color(s, i));
        for (size_t k = 0; k < s->n; k++) {
            const char *t = s->point_labels[k];
            if (!t || !*t || !finite_pt(s, k)) continue;
            double x = px_x(f, s->x[k]) + 6, y = px_y(f, s->y[k]) - th - 4;
            const double tw = fs_plot_text_width(cr, t);
            if (x + tw > f->left + f->width) x = px_x(f, s->x[k]) - 6 - tw;
            if (y < f->top) y = px_y(f, s->y[k]) + 4;
            fs_plot_text(cr, x, y, 0, t);
        }
    }
}

fs_err fs_plot_chart(const fs_chart *c, fs_plot **out, fs_msg *msg) {
    assert(out);
    *out = NULL;
    int w = 0, h = 0;
    fs_err err = check_chart(c, &w, &h, msg);
    if (err) return err;
    fs_plot *p;
    cairo_t *cr;
    if ((err = fs_plot_canvas(w, h, "chart", &p, &cr, msg))) return err;

    /* Text sizes decide the margins. */
    fs_plot_font(cr, PLOT_TITLE_SIZE, 1);
    double title_h = c->title && *c->title ? fs_plot_font_height(cr) : 0;
    fs_plot_font(cr, PLOT_LABEL_SIZE, 0);
    double label_h = fs_plot_font_height(cr);
    fs_plot_font(cr, PLOT_TICK_SIZE, 0);
    double tick_h = fs_plot_font_height(cr);
    legend lg;
    legend_measure(cr, c, &lg);

    double x0, x1, y0, y1;
    data_range(c, &x0, &x1, &y0, &y1);
    if (!isfinite(x1 - x0) || !isfinite(y1 - y0)) {
        cairo_destroy(cr);
        fs_plot_free(p);
        return fs_fail(msg, FS_ERR_INVALID,
                       "chart \"%s\": the data spans more than a double "
                       "can hold (x %g .. %g, y %g .. %g)",
                       c->title ? c->title : "", x0, x1, y0, y1);
    }
    frame f;
    double top = PAD + (title_h > 0 ? title_h + 10 : 4);
    double bottom =
        TICK_LEN + TICK_GAP + tick_h + (c->x_label && *c->x_label ? label_h + 8 : 0) + PAD;
    axis_make(&f.y, y0, y1, c->fix_y, (int)fmax(3, (h - top - bottom) / 55));
    fs_plot_font(cr, PLOT_TICK_SIZE, 0);
    double ytw = 0;
    char buf[64];
    for (int i = 0; i < f.y.n_ticks; i++) {
        tick_label(&f.y, f.y.ticks[i], buf, sizeof buf);
        ytw = fmax(ytw, fs_plot_text_width(cr, buf));
    }
    double left = PAD + (c->y_label && *c->y_label ? label_h + 8 : 0) + ytw + TICK_GAP + TICK_LEN;
    double right = PAD + 8;
    int outside = c->legend == FS_LEGEND_OUTSIDE && lg.entries;
    for (int pass = 0; pass < 2; pass++) {
        double r = right + (outside ? lg.w + 12 : 0);
        f.left = left;
        f.top = top;
        f.width = w - left - r;
        f.height = h - top - bottom;
        axis_make(&f.x, x0, x1, c->fix_x, (int)fmax(3, f.width / 90));
        /* The last x label is centred on the right edge and must not leave the canvas. */
        tick_label(&f.x, f.x.ticks[f.x.n_ticks - 1], buf, sizeof buf);
        double half = fs_plot_text_width(cr, buf) / 2;
        if (r < half + 4) f.width -= half + 4 - r;
        if (f.width < 40 || f.height < 40) {
            cairo_destroy(cr);
            fs_plot_free(p);
            return fs_fail(msg, FS_ERR_INVALID, "a %d x %d chart leaves no room to plot in", w, h);
        }
        if (pass == 1 || outside || c->legend != FS_LEGEND_AUTO || !lg.entries) break;
        /* Inside corners: top-right, top-left, bottom-right, bottom-left. */
        long best = -1;
        for (int k = 0; k < 4; k++) {
            double lx = k % 2 == 0 ? f.left + f.width - lg.w - LEGEND_INSET : f.left + LEGEND_INSET;
            double ly = k < 2 ? f.top + LEGEND_INSET : f.top + f.height - lg.h - LEGEND_INSET;
            long cost = legend_cost(c, &f, lx, ly, lg.w, lg.h);
            if (best < 0 || cost < best) best = cost;
        }
        if (best > 0 && lg.w < w / 3.0)
            outside = 1; /* every corner hides data: move out */
        else
            break;
    }

    /* Grid and frame. */
    cairo_set_line_width(cr, 1);
    fs_plot_rgb(cr, grid);
    for (int i = 0; i < f.x.n_ticks; i++) {
        double x = round(px_x(&f, f.x.ticks[i])) + 0.5;
        cairo_move_to(cr, x, f.top);
        cairo_line_to(cr, x, f.top + f.height);
    }
    for (int i = 0; i < f.y.n_ticks; i++) {
        double y = round(px_y(&f, f.y.ticks[i])) + 0.5;
        cairo_move_to(cr, f.left, y);
        cairo_line_to(cr, f.left + f.width, y);
    }
    cairo_stroke(cr);

    /* Ticks and their labels. */
    fs_plot_rgb(cr, ink);
    fs_plot_font(cr, PLOT_TICK_SIZE, 0);
    for (int i = 0; i < f.x.n_ticks; i++) {
        double x = round(px_x(&f, f.x.ticks[i])) + 0.5;
        cairo_move_to(cr, x, f.top + f.height);
        cairo_line_to(cr, x, f.top + f.height + TICK_LEN);
        cairo_stroke(cr);
        tick_label(&f.x, f.x.ticks[i], buf, sizeof buf);
        fs_plot_text(cr, x, f.top + f.height + TICK_LEN + TICK_GAP, 0.5, buf);
    }
    for (int i = 0; i < f.y.n_ticks; i++) {
        double y = round(px_y(&f, f.y.ticks[i])) + 0.5;
        cairo_move_to(cr, f.left - TICK_LEN, y);
        cairo_line_to(cr, f.left, y);
        cairo_stroke(cr);
        tick_label(&f.y, f.y.ticks[i], buf, sizeof buf);
        fs_plot_text(cr, f.left - TICK_LEN - TICK_GAP, y - tick_h / 2, 1, buf);
    }

    /* Frame under the data, so a curve along an edge (a ROC curve at TPR = 1) stays visible. */
    fs_plot_rgb(cr, ink);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, round(f.left) + 0.5, round(f.top) + 0.5, round(f.width), round(f.height));
    cairo_stroke(cr);

    /* Data, clipped to the plot area widened by a line's width (same reason). */
    cairo_save(cr);
    cairo_rectangle(cr, f.left - CLIP_SLACK, f.top - CLIP_SLACK, f.width + 2 * CLIP_SLACK,
                    f.height + 2 * CLIP_SLACK);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.2);
    cairo_set_dash(cr, (const double[]){5, 4}, 2, 0);
    fs_plot_rgb(cr, refline);
    if (c->diagonal) {
        double lo = fmin(f.x.lo, f.y.lo), hi = fmax(f.x.hi, f.y.hi);
        cairo_move_to(cr, px_x(&f, lo), px_y(&f, lo));
        cairo_line_to(cr, px_x(&f, hi), px_y(&f, hi));
        cairo_stroke(cr);
    }
    if (c->hline) {
        cairo_move_to(cr, f.left, px_y(&f, c->hline_y));
        cairo_line_to(cr, f.left + f.width, px_y(&f, c->hline_y));
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    draw_series(cr, c, &f);
    draw_point_labels(cr, c, &f);
    if (c->hline && c->hline_label && *c->hline_label) {
        fs_plot_font(cr, PLOT_SMALL_SIZE, 0);
        double th = fs_plot_font_height(cr), ty = px_y(&f, c->hline_y) - th - 2;
        if (ty < f.top) ty = px_y(&f, c->hline_y) + 2;
        fs_plot_rgb(cr, refline);
        fs_plot_text(cr, f.left + 6, ty, 0, c->hline_label);
    }
    cairo_restore(cr);

    /* Title and axis labels. */
    if (title_h > 0) {
        /* Centred over the plot area; a long title shifts, then shrinks, to stay whole. */
        double size = PLOT_TITLE_SIZE;
        fs_plot_font(cr, size, 1);
        double tw = fs_plot_text_width(cr, c->title);
        if (tw > w - 2 * PAD) {
            size = fmax(PLOT_SMALL_SIZE, size * (w - 2 * PAD) / tw);
            fs_plot_font(cr, size, 1);
            tw = fs_plot_text_width(cr, c->title);
        }
        double cx = fmin(fmax(f.left + f.width / 2, PAD + tw / 2), w - PAD - tw / 2);
        fs_plot_text(cr, cx, PAD, 0.5, c->title);
    }
    fs_plot_font(cr, PLOT_LABEL_SIZE, 0);
    if (c->x_label && *c->x_label)
        fs_plot_text(cr, f.left + f.width / 2, h - PAD - label_h, 0.5, c->x_label);
    if (c->y_label && *c->y_label) {
        cairo_save(cr);
        cairo_translate(cr, PAD, f.top + f.height / 2);
        cairo_rotate(cr, -M_PI / 2);
        fs_plot_text(cr, 0, 0, 0.5, c->y_label);
        cairo_restore(cr);
    }

    /* Legend last, over everything. */
    if (lg.entries && c->legend != FS_LEGEND_NONE) {
        double lx, ly;
        if (outside) {
            lx = f.left + f.width + 12;
            ly = f.top;
        } else {
            long best = -1;
            lx = ly = 0;
            for (int k = 0; k < 4; k++) {
                double cx =
                    k % 2 == 0 ? f.left + f.width - lg.w - LEGEND_INSET : f.left + LEGEND_INSET;
                double cy = k < 2 ? f.top + LEGEND_INSET : f.top + f.height - lg.h - LEGEND_INSET;
                long cost = legend_cost(c, &f, cx, cy, lg.w, lg.h);
                if (best < 0 || cost < best) {
                    best = cost;
                    lx = cx;
                    ly = cy;
                }
            }
        }
        legend_draw(cr, c, &lg, round(lx), round(ly));
    }

    err = fs_plot_check(cr, "chart", msg);
    cairo_destroy(cr);
    if (err) {
        fs_plot_free(p);
        return err;
    }
    *out = p;
    return FS_OK;
}
