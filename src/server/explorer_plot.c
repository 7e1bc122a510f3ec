/* explorer_plot.c: feature-map PNGs for the model explorer (see explorer_plot.h for why this
 * is a file of its own). */
#include "server/explorer_plot.h"

#include "fakescope/plot.h"

fs_err fs_explorer_draw_maps(const float *act, int h, int w, int c, const char *title,
                             const char *path, fs_msg *msg) {
    fs_plot *p = NULL;
    fs_err e = fs_plot_feature_maps(act, h, w, c, title, &p, msg);
    if (!e) e = fs_plot_save(p, path, msg);
    fs_plot_free(p);
    return e;
}

void fs_explorer_plot_cleanup(void) { fs_plot_cleanup(); }
