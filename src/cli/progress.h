/* progress: a one-line progress bar on a terminal (stderr), silent when stderr is not a tty,
 * so scripts and CI logs stay clean. */
#ifndef FS_CLI_PROGRESS_H
#define FS_CLI_PROGRESS_H

#include <stdio.h>

typedef struct fs_progress {
    FILE *out;
    int enabled;     /* out is a terminal */
    char label[64];
    double started_ms;
    double last_ms;  /* last redraw: redraws are limited to 10 a second */
    int drawn;       /* a line is on screen and must be cleared */
} fs_progress;

void fs_progress_init(fs_progress *p, FILE *out);
void fs_progress_start(fs_progress *p, const char *label);
/* Redraws "label [#####.....] done/total stage  ETA". total <= 0 draws a count only.
 * extra (may be NULL) is appended, e.g. "loss 0.31 acc 0.88". */
void fs_progress_update_extra(fs_progress *p, const char *stage, int done, int total,
                              const char *extra);
void fs_progress_update(fs_progress *p, const char *stage, int done, int total);
void fs_progress_done(fs_progress *p); /* clears the line */

#endif
