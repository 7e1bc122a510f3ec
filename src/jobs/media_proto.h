/* media_proto.h: the conversation between the pool (media_pool.c) and a worker
 * (media_worker.c) over their socket, with the bulk bytes in a shared-memory arena (a memfd
 * both map). Messages are fixed-size structs: both sides are the same binary. The pool trusts
 * nothing a worker says: every size, offset and code is checked before use.
 *
 *   pool                                  worker
 *   OPEN_VIDEO (media at arena[0, len)) ->
 *                                       <- INFO (facts) | ERROR
 *   SAMPLE (sampling)                   ->
 *                                       <- FRAME (pixels at arena[offset, +w*h*3))
 *   ACK | STOP (one reply per FRAME)    ->
 *                                       <- ... FRAME ..., then DONE (err, text)
 *   CLOSE                               ->
 *   IMAGE (media at arena[0, len))      ->
 *                                       <- IMAGE_OK (pixels at offset) | ERROR
 *
 * Frames alternate between two slots after the media, so the worker decodes the next frame
 * while the pool copies the last; it writes into a slot only after the reply to the frame that
 * was there. The worker grows the arena (ftruncate) when a frame needs more room; the pool
 * maps what fstat says, never what the message says, and sealed the arena against shrinking
 * (F_SEAL_SHRINK) before the worker started, so a mapping once backed stays backed. */
#ifndef FS_JOBS_MEDIA_PROTO_H
#define FS_JOBS_MEDIA_PROTO_H

#include "fakescope/image.h"
#include "fakescope/video.h"

#define MW_FD_SOCKET 3
#define MW_FD_ARENA 4
#define MW_ALIGN 4096
/* The arena never grows past this: the largest media plus two of the largest frames. */
#define MW_ARENA_MAX ((uint64_t)8 << 30)

enum mw_op {
    /* pool -> worker */
    MW_OPEN_VIDEO = 1,
    MW_SAMPLE,
    MW_CLOSE,
    MW_IMAGE,
    MW_ACK,
    MW_STOP,
    /* worker -> pool */
    MW_INFO = 101,
    MW_FRAME,
    MW_DONE,
    MW_IMAGE_OK,
    MW_ERROR
};

typedef struct mw_request {
    uint32_t op;
    uint32_t cpu_s;           /* CPU seconds this call may use from now */
    uint64_t media_len;       /* OPEN_VIDEO, IMAGE */
    fs_video_limits video_limits;
    fs_image_limits image_limits;
    fs_video_sampling sampling; /* SAMPLE; its pointers are zeroed */
} mw_request;

typedef struct mw_reply {
    uint32_t op;
    int32_t err;              /* DONE, ERROR: an fs_err */
    fs_video_info info;       /* INFO */
    int64_t index;            /* FRAME */
    double time_s;
    int32_t w, h;             /* FRAME, IMAGE_OK */
    uint64_t offset;          /* FRAME, IMAGE_OK: where the pixels are in the arena */
    int32_t retire;           /* DONE, IMAGE_OK, ERROR: the worker has used half its CPU hard
                               * limit; the pool replaces it after this call */
    char text[FS_MSG_MAX];    /* DONE, ERROR */
} mw_reply;

static inline uint64_t mw_align(uint64_t n) { return (n + MW_ALIGN - 1) / MW_ALIGN * MW_ALIGN; }

#endif
