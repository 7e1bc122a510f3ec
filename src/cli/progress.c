/* progress.c: see progress.h. */
#include "cli/progress.h"

#include <string.h>
#include <unistd.h>

#include "fakescope/core.h"

void fs_progress_init(fs_progress *p, FILE *out) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->enabled = isatty(fileno(out));
}

void fs_progress_start(fs_progress *p, const char *label) {
    const char *base = strrchr(label, '/');
    snprintf(p->label, sizeof p->label, "%s", base ? base + 1 : label);
    p->started_ms = fs_now_ms();
    p->last_ms = 0;
}

void fs_progress_update_extra(fs_progress *p, const char *stage, int done, int total,
                              const char *extra) {
    if (!p->enabled) return;
    double now = fs_now_ms();
    if (done < total && now - p->last_ms < 100) return;
    p->last_ms = now;
    char bar[31];
    int width = 30, filled = total > 0 ? (int)((long)width * done / total) : 0;
    if (filled > width) filled = width;
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(width - filled));
    bar[width] = '\0';
    double elapsed = (now - p->started_ms) / 1000.0;
    fprintf(p->out, "\r\033[K%.30s ", p->label);
    if (total > 0) {
        fprintf(p->out, "[%s] %d/%d %s", bar, done, total, stage);
        if (done > 0 && done < total)
            fprintf(p->out, "  ETA %.0fs", elapsed * (total - done) / done);
    } else {
        fprintf(p->out, "%d %s", done, stage);
    }
    if (extra) fprintf(p->out, "  %s", extra);
    fflush(p->out);
    p->drawn = 1;
}

void fs_progress_update(fs_progress *p, const char *stage, int done, int total) {
    fs_progress_update_extra(p, stage, done, total, NULL);
}

void fs_progress_done(fs_progress *p) {
    if (p->enabled && p->drawn) {
        fprintf(p->out, "\r\033[K");
        fflush(p->out);
    }
    p->drawn = 0;
}
