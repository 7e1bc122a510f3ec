/* video (media/): opening a video from a file or a memory buffer and sampling frames from it as
 * RGB8 images, with FFmpeg (libavformat, libavcodec, libswscale) underneath.
 *
 * Ownership: fs_video_open_* creates an fs_video that fs_video_close releases (NULL is fine).
 * fs_video_open_memory borrows the buffer: it must stay valid and unchanged until the close.
 * Frames handed to a callback are lent for the duration of the call; the callback may take a
 * frame's image by copying the fs_image struct and zeroing frame->image, after which the image
 * is the callback's to free with fs_image_free. fs_video_frames owns everything in it and is
 * released by fs_video_frames_free.
 *
 * Errors: FS_ERR_FORMAT for data that is not a media file, or is corrupt, truncated or empty;
 * FS_ERR_UNSUPPORTED for a valid file without a video stream or with a codec we cannot decode;
 * FS_ERR_LIMIT past a limit of fs_video_limits; FS_ERR_TIMEOUT when the decode-time limit is
 * reached; FS_ERR_IO / FS_ERR_NOTFOUND for files that cannot be read; FS_ERR_INVALID for bad
 * sampling arguments. The message names the file when a path was given.
 *
 * Threads: one fs_video is used by one thread at a time; different videos are independent. */
#ifndef FAKESCOPE_VIDEO_H
#define FAKESCOPE_VIDEO_H

#include "fakescope/core.h"
#include "fakescope/image.h"

typedef struct fs_video fs_video;

/* ---- limits ---- */
typedef struct fs_video_limits {
    size_t max_bytes;      /* encoded size of the file or buffer */
    double max_duration_s; /* container or stream duration */
    int max_width;         /* coded picture size */
    int max_height;
    int max_frames;        /* frames one fs_video_sample call may produce */
    double max_decode_ms;  /* wall-clock budget of one fs_video_sample call; 0 = none */
} fs_video_limits;
#define FS_VIDEO_MAX_BYTES_DEFAULT ((size_t)1 << 30) /* 1 GiB */
#define FS_VIDEO_MAX_DURATION_DEFAULT 600.0          /* seconds */
#define FS_VIDEO_MAX_SIDE_DEFAULT 4096               /* pixels, width and height each */
#define FS_VIDEO_MAX_FRAMES_DEFAULT 512
#define FS_VIDEO_MAX_DECODE_MS_DEFAULT 120000.0      /* two minutes */
fs_video_limits fs_video_limits_default(void);

/* ---- opening ---- */
/* Opens a video file. The file is read through our own I/O layer, so a path is always a local
 * file (never a URL or an FFmpeg protocol), and containers that refer to other files (HLS,
 * concat lists) are refused. limits may be NULL for the defaults; they are copied. */
fs_err fs_video_open_file(const char *path, const fs_video_limits *limits, fs_video **out,
                          fs_msg *msg);
/* Opens a video held in memory (an upload). data is borrowed until fs_video_close. */
fs_err fs_video_open_memory(const uint8_t *data, size_t len, const fs_video_limits *limits,
                            fs_video **out, fs_msg *msg);
void fs_video_close(fs_video *v);

typedef struct fs_video_info {
    int w, h;            /* picture size of the chosen video stream */
    double fps;          /* average frame rate; 0 when the container does not say */
    double duration_s;   /* 0 when unknown (then sampling counts frames first) */
    int64_t frame_count; /* from the container, else duration*fps rounded; 0 when unknown */
    char codec[32];      /* decoder name, "h264" */
    char container[32];  /* demuxer name, "mov,mp4,m4a,3gp,3g2,mj2" trimmed to fit */
    int seekable;        /* 1 when frames can be reached by seeking */
} fs_video_info;
/* Facts about the opened video; the pointer lives as long as v. For a stream that states no
 * duration, duration_s and frame_count are 0 until the first fs_video_sample counts them. */
const fs_video_info *fs_video_get_info(const fs_video *v);

/* ---- sampling ---- */
typedef enum {
    FS_VIDEO_SAMPLE_COUNT = 0, /* count frames evenly spaced over the duration */
    FS_VIDEO_SAMPLE_EVERY      /* one frame every every_s seconds, from time 0 */
} fs_video_sample_mode;

typedef enum {
    FS_VIDEO_AUTO = 0,   /* seek when a keyframe lies between us and the target, else decode on */
    FS_VIDEO_SEQUENTIAL, /* never seek: decode from the start */
    FS_VIDEO_SEEK        /* seek before every target */
} fs_video_strategy;

typedef struct fs_video_frame {
    int64_t index; /* frame number from 0: round(time_s * fps), or counted without timestamps */
    double time_s; /* presentation time from the start of the stream */
    fs_image image; /* RGB8 */
} fs_video_frame;

/* Called after each sampled frame: done of total. */
typedef void (*fs_video_progress_fn)(void *ctx, int done, int total);
/* Called with each sampled frame in time order. Return FS_OK to go on; any other code stops
 * sampling and fs_video_sample returns it (with the message the callback wrote). */
typedef fs_err (*fs_video_frame_fn)(void *ctx, fs_video_frame *frame, fs_msg *msg);

typedef struct fs_video_sampling {
    fs_video_sample_mode mode;
    int count;      /* FS_VIDEO_SAMPLE_COUNT: frames wanted (0 = 32) */
    double every_s; /* FS_VIDEO_SAMPLE_EVERY: seconds between frames (> 0) */
    int max_side;   /* scale so the longer side is at most this; 0 = full size */
    int threads;    /* decoder threads; 0 = one per CPU */
    fs_video_strategy strategy; /* how targets are reached; AUTO unless measuring */
    int decode_all; /* 1: decode every frame, also the non-reference frames no target needs
                     * (which are otherwise dropped): same frames, slower; for tests */
    fs_video_progress_fn progress; /* optional */
    void *progress_ctx;
} fs_video_sampling;
#define FS_VIDEO_SAMPLE_COUNT_DEFAULT 32
/* Zeroed struct with the defaults: 32 evenly spaced frames, full size, one thread per CPU. */
fs_video_sampling fs_video_sampling_default(void);

/* How times are chosen (so results are reproducible):
 * - COUNT n with duration D: t_i = D * (i + 0.5) / n, i = 0..n-1 (the middle of n equal
 *   slices, so neither the first black frame nor the very last frame is favoured). A video
 *   with fewer than n frames (by its stated frame count) gives each of its frames once.
 * - EVERY k: t_j = j * k for every t_j < D (ceil(D / k) frames).
 * - Unknown duration (raw streams, or one guessed from the bit rate): packets are counted
 *   first by demuxing alone, D comes from their timestamps (or frames / fps), then as above.
 * Each target t gives the frame on screen at t: the first frame later than t - 1/fps (exact
 * for constant frame rates; within one frame period otherwise), each frame at most once. So
 * COUNT n over a clip of n frames gives every frame, and EVERY 1 s gives frames 0, fps, 2 fps...
 * Frames are reached by seeking to the keyframe before a target when a keyframe lies between
 * the current position and it, and by decoding forward (skipping non-reference frames that
 * will not be kept) otherwise.
 * Data that ends more than max(0.5 s, 3 frames) before the duration is FS_ERR_FORMAT
 * ("truncated"); a damaged frame in the middle is skipped. s may be NULL for the defaults.
 * Each call starts again from the beginning of the video. */
fs_err fs_video_sample(fs_video *v, const fs_video_sampling *s, fs_video_frame_fn on_frame,
                       void *ctx, fs_msg *msg);

/* The same, collecting the frames in an array (empty on failure). */
typedef struct fs_video_frames {
    fs_video_frame *frames;
    int n;
} fs_video_frames;
fs_err fs_video_sample_all(fs_video *v, const fs_video_sampling *s, fs_video_frames *out,
                           fs_msg *msg);
void fs_video_frames_free(fs_video_frames *f);

#endif
