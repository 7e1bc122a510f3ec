/* plot_internal.h: what the plot*.c files of media/ share: the canvas behind an fs_plot, colour
 * and text helpers, and the font sizes every picture uses so they look like one family. */
#ifndef FS_MEDIA_PLOT_INTERNAL_H
#define FS_MEDIA_PLOT_INTERNAL_H

#include "fakescope/plot.h"

#define PLOT_FONT "sans-serif"
#define PLOT_TITLE_SIZE 18.0
#define PLOT_LABEL_SIZE 14.0
#define PLOT_TICK_SIZE 12.0
#define PLOT_SMALL_SIZE 11.0

struct fs_plot {
    cairo_surface_t *surface; /* ARGB32, opaque */
};

/* A new w x h plot painted white and a cairo context on it (caller destroys the context).
 * FS_ERR_INVALID when a side is < 1 or > FS_PLOT_MAX_SIDE. */
fs_err fs_plot_canvas(int w, int h, const char *what, fs_plot **out, cairo_t **cr, fs_msg *msg);
/* FS_OK, or FS_ERR_INTERNAL/NOMEM naming cairo's complaint. */
fs_err fs_plot_check(cairo_t *cr, const char *what, fs_msg *msg);

/* Sets the source colour from 0x01RRGGBB (alpha 1, or a). */
void fs_plot_rgb(cairo_t *cr, uint32_t color);
void fs_plot_rgba(cairo_t *cr, uint32_t color, double a);
/* Selects the font at a size; bold or not. */
void fs_plot_font(cairo_t *cr, double size, int bold);
/* Width of text and the height of the font's capitals-and-descenders box. */
double fs_plot_text_width(cairo_t *cr, const char *text);
double fs_plot_font_height(cairo_t *cr);
/* Draws text with its box's top-left corner at (x, y) (align 0), centred on x (0.5) or ending
 * at x (1). */
void fs_plot_text(cairo_t *cr, double x, double y, double align, const char *text);

#endif
