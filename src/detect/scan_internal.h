/* scan_internal.h: what the serial scan (scan.c) and the pipelined video scan
 * (scan_pipeline.c) share. Nothing here is public API. */
#ifndef FS_DETECT_SCAN_INTERNAL_H
#define FS_DETECT_SCAN_INTERNAL_H

#include "fakescope/detect.h"

/* The state of one scan call. */
typedef struct scan_run {
    fs_scanner *s;
    const fs_scan_opts *o;
    fs_scan_result *r;
    int cap_frames;
    int total_frames; /* for progress; 0 when unknown */
    int clip;         /* a list of frames: judged like a video */
    int pipelined;    /* stages overlapped: decode_ms was measured by the decoding thread */
    double decode_ms;
} scan_run;

/* Finds the faces of one frame (none in FS_CROP_WHOLE) and says how long it took. Reads only
 * the detector and the options, so any number of threads may call it for the same run. */
fs_err fs_scan_find_faces(const scan_run *run, const fs_image *img, fs_face **found, size_t *n,
                          double *ms, fs_msg *msg);
/* Records the next frame with its faces (found is taken, also on failure), tracks and judges
 * them. Caller: one thread, frames in order. */
fs_err fs_scan_frame_found(scan_run *run, const fs_image *img, int64_t index, double time_s,
                           fs_face *found, size_t n, double faces_ms, fs_msg *msg);
/* Applies the options' degradation (degrade_scale, degrade_jpeg) to img in place: a no-op
 * without one. FS_ERR_NOMEM, or the codec's error. */
fs_err fs_scan_degrade(const scan_run *run, fs_image *img, fs_msg *msg);
/* Reports progress of the run (the caller's callback, if any). */
void fs_scan_progress(scan_run *run, const char *stage, int done, int total);

/* Samples the video with decoding on one thread and face finding on `threads` others, frames
 * judged in order on the calling thread: the same frames, faces and scores as the serial
 * path. Pre: threads >= 1. */
typedef fs_err (*scan_sample_fn)(void *video, const fs_video_sampling *s,
                                 fs_video_frame_fn on_frame, void *ctx, fs_msg *msg);
fs_err fs_scan_video_pipelined(scan_run *run, scan_sample_fn sample, void *video,
                               const fs_video_sampling *sp, int threads, fs_msg *msg);

#endif
