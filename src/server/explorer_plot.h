/* explorer_plot.h: the explorer's one drawing call, kept in its own file because
 * fakescope/plot.h and fakescope/detect.h (through face.h) both define fs_box and cannot be
 * included together. */
#ifndef FS_SERVER_EXPLORER_PLOT_H
#define FS_SERVER_EXPLORER_PLOT_H

#include "fakescope/core.h"

/* Draws an h x w x c activation as a feature-map grid (fs_plot_feature_maps) into the PNG
 * file path, written atomically. */
fs_err fs_explorer_draw_maps(const float *act, int h, int w, int c, const char *title,
                             const char *path, fs_msg *msg);

/* Releases the font caches drawing filled (fs_plot_cleanup), once no thread draws any more. */
void fs_explorer_plot_cleanup(void);

#endif
