/* plot (media/): pictures for people: line charts (loss curves, ROC curves, video timelines),
 * feature-map grids, heat-map overlays (Grad-CAM), face boxes and contact sheets. Drawn with
 * cairo; PNG out to a file or to memory.
 *
 * Charts and grids are built as an fs_plot (a rendered picture, opaque), then written as PNG or
 * turned into an fs_image. Overlays, boxes and sheets work on fs_images directly.
 * Output is deterministic for the same input on the same machine (text goes through the
 * installed fonts, so pixels may differ between machines).
 *
 * Errors: FS_ERR_INVALID for unusable input (no series, an empty series, no finite point,
 * a zero or oversized canvas, a tensor with a zero dimension), with a message naming the
 * culprit; FS_ERR_NOMEM; FS_ERR_IO when a file cannot be written; FS_ERR_INTERNAL when cairo
 * fails. On failure the out-parameters are NULL/zeroed. */
#ifndef FAKESCOPE_PLOT_H
#define FAKESCOPE_PLOT_H

#include "fakescope/core.h"
#include "fakescope/image.h"

#include <cairo.h>
#include <stdbool.h>

/* Colours are 0x01RRGGBB made with FS_RGB; 0 (FS_COLOR_AUTO) means "pick one" (the next
 * colour of the palette for a series, the track's colour for a box). */
#define FS_RGB(r, g, b) (0x1000000u | ((uint32_t)(r) << 16) | ((uint32_t)(g) << 8) | (uint32_t)(b))
#define FS_COLOR_AUTO 0u
/* Colour i of the palette used for series and tracks (10 distinct colours, cycling). */
uint32_t fs_plot_palette(int i);

/* Canvas bounds, in pixels. */
#define FS_PLOT_MAX_SIDE 8192
#define FS_CHART_WIDTH_DEFAULT 800
#define FS_CHART_HEIGHT_DEFAULT 500

typedef struct fs_plot fs_plot;

int fs_plot_width(const fs_plot *p);
int fs_plot_height(const fs_plot *p);
/* PNG in a new malloc'd buffer (caller frees *png), written by cairo. */
fs_err fs_plot_png(const fs_plot *p, uint8_t **png, size_t *len, fs_msg *msg);
/* PNG file, written atomically. */
fs_err fs_plot_save(const fs_plot *p, const char *path, fs_msg *msg);
/* The picture as RGB8. */
fs_err fs_plot_image(const fs_plot *p, fs_image *out, fs_msg *msg);
void fs_plot_free(fs_plot *p);

/* ---- line chart ---- */
typedef struct fs_series {
    const char *name;    /* legend entry; NULL or "" keeps the series out of the legend */
    const double *x, *y; /* n points; a point with a non-finite coordinate is skipped and
                          * breaks the line there */
    size_t n;
    uint32_t color;    /* FS_RGB(...) or FS_COLOR_AUTO */
    double line_width; /* pixels; 0 = 2 */
    bool dashed;
    bool markers; /* a dot on each point */
    const char *const *point_labels; /* NULL, or n small labels drawn beside the points (a NULL
                                      * entry or a skipped point draws none): e.g. how many
                                      * samples a point stands for */
} fs_series;

typedef enum {
    FS_LEGEND_AUTO = 0, /* the inside corner that hides fewest points, outside when all hide some */
    FS_LEGEND_NONE,
    FS_LEGEND_OUTSIDE, /* to the right of the plot area */
} fs_legend_pos;

typedef struct fs_chart {
    int width, height; /* 0 = FS_CHART_WIDTH/HEIGHT_DEFAULT */
    const char *title, *x_label, *y_label;
    const fs_series *series;
    size_t n_series;
    bool fix_x, fix_y; /* use [x_min, x_max] / [y_min, y_max] rather than the data's range */
    double x_min, x_max, y_min, y_max;
    bool hline; /* a dashed horizontal reference line at hline_y (a threshold) */
    double hline_y;
    const char *hline_label;
    bool diagonal; /* dashed y = x (chance line of a ROC curve) */
    bool markers;  /* markers on every series */
    fs_legend_pos legend;
} fs_chart;

/* Axes with "nice" ticks (1, 2 or 5 x 10^k), grid, labels, title, legend. */
fs_err fs_plot_chart(const fs_chart *c, fs_plot **out, fs_msg *msg);

/* ---- feature maps ---- */
/* One tile per channel of an H x W x C activation (float, NHWC, one image) in a grid of
 * ceil(sqrt(C)) columns, each channel scaled from its own min (dark) to max (bright) with
 * viridis, its index in the tile's corner. NaN values are drawn grey and ignored by the
 * scaling. title may be NULL. */
fs_err fs_plot_feature_maps(const float *act, int h, int w, int c, const char *title, fs_plot **out,
                            fs_msg *msg);

/* ---- colour maps and images ---- */
typedef enum { FS_CMAP_VIRIDIS = 0, FS_CMAP_GRAY } fs_colormap;
/* Colour of v in [0, 1] (clamped; NaN gives 0) as 0x01RRGGBB. */
uint32_t fs_colormap_rgb(fs_colormap cmap, double v);

/* out = (1 - alpha) * img + alpha * cmap(map), the map (mh x mw values in [0, 1], row-major,
 * any size; values outside are clamped, NaN counts as 0) upsampled bilinearly to the image
 * with pixel centres aligned. alpha in [0, 1]; 0 gives a copy of img. out is a new image. */
fs_err fs_heatmap_overlay(const fs_image *img, const float *map, int mw, int mh, double alpha,
                          fs_colormap cmap, fs_image *out, fs_msg *msg);

/* A rectangle in image pixels (x, y = top-left corner). */
typedef struct fs_draw_box {
    double x, y, w, h;
    int track_id; /* picks the colour when color is FS_COLOR_AUTO */
    uint32_t color;
    const char *label; /* drawn on a tag above the box (inside it when no room); may be NULL */
    int nkp;           /* keypoints drawn as dots in the box's colour (0..68) */
    double kp[68][2];
} fs_draw_box;
/* Draws box outlines (line_width pixels, 0 = 2, drawn inside the rectangle, without
 * anti-aliasing so outline pixels are exactly the box colour) and their labels onto img, in
 * place. Boxes partly outside the image are clipped; wholly outside, skipped. */
fs_err fs_draw_boxes(fs_image *img, const fs_draw_box *boxes, size_t n, int line_width, fs_msg *msg);

/* N images tiled in a grid (columns = 0 picks ceil(sqrt(n))), each scaled to fit a
 * tile_size x tile_size cell (0 = 256) keeping its aspect ratio, a caption under each (captions
 * and any caption may be NULL), a title on top (may be NULL). out is a new image. */
fs_err fs_contact_sheet(const fs_image *imgs, const char *const *captions, size_t n, int columns,
                        int tile_size, const char *title, fs_image *out, fs_msg *msg);

/* Releases the font caches cairo keeps for the life of the process, so a leak checker run at
 * exit reports only real leaks. Call once, at exit, when no thread draws any more. */
void fs_plot_cleanup(void);

/* ---- cairo <-> fs_image ---- */
/* An ARGB32 or RGB24 surface to RGB8; translucent pixels are composited onto white. */
fs_err fs_image_from_surface(cairo_surface_t *s, fs_image *out, fs_msg *msg);
/* A new opaque ARGB32 surface holding img; caller releases it with cairo_surface_destroy. */
fs_err fs_image_to_surface(const fs_image *img, cairo_surface_t **out, fs_msg *msg);

#endif
