/* video.c: the frame source of the detection pipeline. It opens a container from a file or an
 * upload held in memory, picks the best video stream and hands out RGB8 frames at planned times.
 *
 * All bytes reach FFmpeg through our own AVIOContext (read + seek over a file descriptor or a
 * buffer), and the demuxer may not open anything else, so a path is never a URL and a playlist
 * cannot pull in other files. Sampling aims at a list of target times and returns, for each, the
 * first frame whose time is >= the target. To get there it seeks when the index shows a keyframe
 * between the decoder's position and the target (so whole GOPs are skipped), and otherwise
 * decodes forward, telling the decoder to drop non-reference frames that lie before the target
 * (nothing depends on them and they will not be kept). Streams without a usable duration are
 * counted first by demuxing alone, then sampled by decoding straight through. */
#include "fakescope/video.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#define AVIO_BUFFER_BYTES (64 * 1024)
/* Decode errors tolerated before any frame came out: past this the stream is undecodable. */
#define MAX_ERRORS_BEFORE_FIRST_FRAME 32
/* Missing targets within this distance of the end are "the video ended", not truncation. */
#define END_TOLERANCE_S 0.5
#define END_TOLERANCE_FRAMES 3
/* Without an index, seek only when the next target is at least this far ahead. */
#define SEEK_GAP_NO_INDEX_S 2.0
/* Seek this many frame durations before a target: keyframes are indexed by decode time,
 * which precedes presentation time by the reorder delay. */
#define SEEK_MARGIN_FRAMES 4
/* Frame rate assumed for a stream that states none (FFmpeg's own default for raw streams). */
#define FALLBACK_FPS 25.0
/* Timestamps converted to seconds may be off by rounding: this much never changes a frame. */
#define TIME_EPSILON_S 1e-6

struct fs_video {
    AVFormatContext *fmt;
    AVIOContext *avio;
    AVStream *st;
    int stream;
    const AVCodec *codec;
    AVCodecContext *dec;
    int dec_threads;
    AVPacket *pkt;
    AVFrame *frame;
    AVFrame *rgb;        /* swscale's output: FFmpeg-allocated, aligned lines, padded tail */
    struct SwsContext *sws;
    fs_video_limits limits;
    fs_video_info info;
    char name[256]; /* for messages: the path, or "upload" */
    /* byte source: a file descriptor or a borrowed buffer */
    int fd;
    const uint8_t *mem;
    int64_t size;
    int64_t pos;
    /* timing */
    int64_t start_pts;   /* stream start in stream time base */
    int has_pts;         /* packets carry timestamps */
    /* decoding state */
    int draining;        /* a NULL packet was sent; only flushing can resume decoding */
    int64_t last_dts;    /* dts of the last packet sent, stream time base; INT64_MIN at start */
    int64_t decoded;     /* frames out of the decoder since the start (sequential numbering) */
    double last_time;    /* time of the last decoded frame */
    int errors;
    int frames_ok;       /* frames decoded since open */
    int seeks;           /* in the current sampling call, for the debug log */
    char last_error[128];
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
/* FFmpeg prints to stderr by default; our messages carry what matters. FAKESCOPE_FFMPEG_LOG=1
 * brings its own log back for debugging. */
static void quiet_ffmpeg_log(void) {
    const char *e = getenv("FAKESCOPE_FFMPEG_LOG");
    av_log_set_level(e && *e == '1' ? AV_LOG_INFO : AV_LOG_QUIET);
}

fs_video_limits fs_video_limits_default(void) {
    fs_video_limits l = {
        .max_bytes = FS_VIDEO_MAX_BYTES_DEFAULT,
        .max_duration_s = FS_VIDEO_MAX_DURATION_DEFAULT,
        .max_width = FS_VIDEO_MAX_SIDE_DEFAULT,
        .max_height = FS_VIDEO_MAX_SIDE_DEFAULT,
        .max_frames = FS_VIDEO_MAX_FRAMES_DEFAULT,
        .max_decode_ms = FS_VIDEO_MAX_DECODE_MS_DEFAULT,
    };
    return l;
}

fs_video_sampling fs_video_sampling_default(void) {
    fs_video_sampling s;
    memset(&s, 0, sizeof s);
    s.mode = FS_VIDEO_SAMPLE_COUNT;
    s.count = FS_VIDEO_SAMPLE_COUNT_DEFAULT;
    return s;
}

static const char *averr(int e, char *buf, size_t cap) {
    av_strerror(e, buf, cap);
    return buf;
}

/* ---- byte source callbacks ---- */

static int mem_read(void *opaque, uint8_t *buf, int size) {
    fs_video *v = opaque;
    int64_t left = v->size - v->pos;
    if (left <= 0) return AVERROR_EOF;
    int n = left < size ? (int)left : size;
    memcpy(buf, v->mem + v->pos, (size_t)n);
    v->pos += n;
    return n;
}

static int fd_read(void *opaque, uint8_t *buf, int size) {
    fs_video *v = opaque;
    for (;;) {
        ssize_t n = pread(v->fd, buf, (size_t)size, v->pos);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return AVERROR(errno);
        if (n == 0) return AVERROR_EOF;
        v->pos += n;
        return (int)n;
    }
}

static int64_t src_seek(void *opaque, int64_t offset, int whence) {
    fs_video *v = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return v->size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = v->pos; break;
    case SEEK_END: base = v->size; break;
    default: return AVERROR(EINVAL);
    }
    if (offset > INT64_MAX - base) return AVERROR(EINVAL);
    int64_t p = base + offset;
    if (p < 0) return AVERROR(EINVAL);
    v->pos = p; /* past the end is allowed: the next read reports EOF */
    return p;
}

/* Containers that reference other resources (HLS, DASH, concat, image2 patterns) would open
 * them through this hook; an upload must never reach the file system or the network. */
static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* ---- opening ---- */

static void trim_copy(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "?");
}

static double ts_seconds(const fs_video *v, int64_t ts) {
    /* in doubles: damaged timestamps near the int64 limits must not overflow */
    return ((double)ts - (double)v->start_pts) * av_q2d(v->st->time_base);
}

/* Pre: v->avio is set up. Fills everything else or returns an error (v is then closed by the
 * caller). */
static fs_err open_container(fs_video *v, fs_msg *msg) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening video");
    fmt->pb = v->avio;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->io_open = refuse_io_open;
    int r = avformat_open_input(&fmt, "", NULL, NULL); /* frees fmt on failure */
    if (r < 0) {
        /* ENOMEM here nearly always comes from a damaged size field asking for gigabytes, so
         * it is reported as what the input is, not as a server fault. */
        return fs_fail(msg, FS_ERR_FORMAT, "not a media file, an unknown format, or a file "
                       "cut short before its index (%s)", averr(r, eb, sizeof eb));
    }
    v->fmt = fmt;
    r = avformat_find_stream_info(fmt, NULL);
    if (r < 0)
        return fs_fail(msg, FS_ERR_FORMAT, "corrupt or truncated media: stream information "
                       "could not be read (%s)", averr(r, eb, sizeof eb));

    int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    /* A cover picture in an audio file is a video stream of one still: not a video. */
    if (idx >= 0 && (fmt->streams[idx]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        idx = AVERROR_STREAM_NOT_FOUND;
        for (unsigned i = 0; i < fmt->nb_streams; i++) {
            const AVStream *s = fmt->streams[i];
            if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
                idx = (int)i;
                break;
            }
        }
    }
    /* No streams at all is a file cut short after its first header, not an audio file. */
    if (fmt->nb_streams == 0)
        return fs_fail(msg, FS_ERR_FORMAT, "no media streams: truncated or not a media file");
    if (idx < 0)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "no video stream in this %s file",
                       fmt->iformat->name);
    v->stream = idx;
    v->st = fmt->streams[idx];
    const AVCodecParameters *par = v->st->codecpar;
    v->codec = avcodec_find_decoder(par->codec_id);
    if (!v->codec)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "no decoder for video codec %s",
                       avcodec_get_name(par->codec_id));
    if (par->width <= 0 || par->height <= 0)
        return fs_fail(msg, FS_ERR_FORMAT, "video stream has no picture size (%dx%d): corrupt "
                       "or truncated", par->width, par->height);
    if (par->width > v->limits.max_width || par->height > v->limits.max_height)
        return fs_fail(msg, FS_ERR_LIMIT, "video is %dx%d, larger than the limit of %dx%d",
                       par->width, par->height, v->limits.max_width, v->limits.max_height);

    fs_video_info *in = &v->info;
    in->w = par->width;
    in->h = par->height;
    AVRational fr = v->st->avg_frame_rate.num > 0 ? v->st->avg_frame_rate : v->st->r_frame_rate;
    in->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0.0;
    if (in->fps > 1000.0) in->fps = 0.0; /* a time base mistaken for a rate */
    v->start_pts = v->st->start_time != AV_NOPTS_VALUE ? v->st->start_time : 0;
    double d = 0.0;
    if (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0)
        d = (double)v->st->duration * av_q2d(v->st->time_base);
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        d = (double)fmt->duration / AV_TIME_BASE;
    /* A duration guessed from the bit rate can be far off; count frames instead. */
    if (fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE) d = 0.0;
    if (!isfinite(d) || d < 0) d = 0.0;
    if (d > v->limits.max_duration_s)
        return fs_fail(msg, FS_ERR_LIMIT, "video lasts %.1f s, longer than the limit of %.0f s",
                       d, v->limits.max_duration_s);
    in->duration_s = d;
    if (v->st->nb_frames > 0) in->frame_count = v->st->nb_frames;
    else if (d > 0 && in->fps > 0) in->frame_count = llround(d * in->fps);
    trim_copy(in->codec, sizeof in->codec, v->codec->name);
    trim_copy(in->container, sizeof in->container, fmt->iformat->name);
    in->seekable = d > 0 && !(fmt->ctx_flags & AVFMTCTX_UNSEEKABLE);

    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->pkt || !v->frame) return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening video");
    v->last_dts = INT64_MIN;
    v->last_time = -INFINITY;
    v->has_pts = d > 0; /* otherwise count_frames finds out */
    return FS_OK;
}

static fs_err open_source(fs_video *v, fs_video **out, fs_msg *msg) {
    pthread_once(&log_once, quiet_ffmpeg_log);
    uint8_t *buf = av_malloc(AVIO_BUFFER_BYTES);
    if (buf)
        v->avio = avio_alloc_context(buf, AVIO_BUFFER_BYTES, 0, v, v->mem ? mem_read : fd_read,
                                     NULL, src_seek);
    if (!v->avio) {
        av_free(buf);
        fs_video_close(v);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening video");
    }
    fs_err e = open_container(v, msg);
    if (e != FS_OK) {
        fs_msg_prefix(msg, "%s: ", v->name);
        fs_video_close(v);
        return e;
    }
    *out = v;
    return FS_OK;
}

static fs_video *video_new(const fs_video_limits *limits) {
    fs_video *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->limits = limits ? *limits : fs_video_limits_default();
    v->fd = -1;
    return v;
}

fs_err fs_video_open_file(const char *path, const fs_video_limits *limits, fs_video **out,
                          fs_msg *msg) {
    *out = NULL;
    if (!path) return fs_fail(msg, FS_ERR_INVALID, "no video path given");
    fs_video *v = video_new(limits);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening %s", path);
    snprintf(v->name, sizeof v->name, "%s", path);
    v->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->fd < 0) {
        int err = errno;
        fs_video_close(v);
        return fs_fail(msg, err == ENOENT ? FS_ERR_NOTFOUND : FS_ERR_IO, "%s: %s", path,
                       strerror(err));
    }
    struct stat st;
    if (fstat(v->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fs_video_close(v);
        return fs_fail(msg, FS_ERR_INVALID, "%s: not a regular file", path);
    }
    v->size = st.st_size;
    fs_err e = FS_OK;
    if (st.st_size == 0) e = fs_fail(msg, FS_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    else if ((uint64_t)st.st_size > v->limits.max_bytes)
        e = fs_fail(msg, FS_ERR_LIMIT, "%s: %lld bytes, larger than the limit of %zu", path,
                    (long long)st.st_size, v->limits.max_bytes);
    if (e != FS_OK) {
        fs_video_close(v);
        return e;
    }
    return open_source(v, out, msg);
}

fs_err fs_video_open_memory(const uint8_t *data, size_t len, const fs_video_limits *limits,
                            fs_video **out, fs_msg *msg) {
    *out = NULL;
    if (!data || len == 0) return fs_fail(msg, FS_ERR_FORMAT, "upload: empty video (0 bytes)");
    fs_video *v = video_new(limits);
    if (!v) return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening upload");
    snprintf(v->name, sizeof v->name, "upload");
    if (len > v->limits.max_bytes || len > (size_t)INT64_MAX) {
        fs_err e = fs_fail(msg, FS_ERR_LIMIT, "upload: %zu bytes, larger than the limit of %zu",
                           len, v->limits.max_bytes);
        fs_video_close(v);
        return e;
    }
    v->mem = data;
    v->size = (int64_t)len;
    return open_source(v, out, msg);
}

void fs_video_close(fs_video *v) {
    if (!v) return;
    sws_freeContext(v->sws);
    av_frame_free(&v->frame);
    av_frame_free(&v->rgb);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt); /* custom pb: not freed by this */
    if (v->avio) {
        av_freep(&v->avio->buffer);
        avio_context_free(&v->avio);
    }
    if (v->fd >= 0) close(v->fd);
    free(v);
}

const fs_video_info *fs_video_get_info(const fs_video *v) {
    return &v->info;
}

/* ---- decoding ---- */

static fs_err open_decoder(fs_video *v, int threads, fs_msg *msg) {
    if (threads <= 0) threads = fs_cpu_count();
    if (v->dec && v->dec_threads == threads) return FS_OK;
    avcodec_free_context(&v->dec);
    char eb[AV_ERROR_MAX_STRING_SIZE];
    v->dec = avcodec_alloc_context3(v->codec);
    if (!v->dec) return fs_fail(msg, FS_ERR_NOMEM, "out of memory opening the decoder");
    int r = avcodec_parameters_to_context(v->dec, v->st->codecpar);
    if (r < 0) return fs_fail(msg, FS_ERR_INTERNAL, "decoder setup: %s", averr(r, eb, sizeof eb));
    v->dec->pkt_timebase = v->st->time_base;
    v->dec->thread_count = threads;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    r = avcodec_open2(v->dec, v->codec, NULL);
    if (r < 0)
        return fs_fail(msg, FS_ERR_FORMAT, "the %s stream could not be opened for decoding (%s)",
                       v->codec->name, averr(r, eb, sizeof eb));
    v->dec_threads = threads;
    return FS_OK;
}

/* Puts the demuxer and decoder back at the start of the stream. */
static fs_err rewind_stream(fs_video *v, fs_msg *msg) {
    int r = av_seek_frame(v->fmt, v->stream, v->start_pts, AVSEEK_FLAG_BACKWARD);
    if (r < 0) r = av_seek_frame(v->fmt, -1, 0, AVSEEK_FLAG_BYTE);
    if (r < 0) return fs_fail(msg, FS_ERR_UNSUPPORTED, "stream cannot be rewound");
    if (v->dec) avcodec_flush_buffers(v->dec);
    v->draining = 0;
    v->last_dts = INT64_MIN;
    v->decoded = 0;
    v->last_time = -INFINITY;
    return FS_OK;
}

/* For a stream without a trustworthy duration: demux (no decoding) to count frames and find
 * the last timestamp, then rewind. */
static fs_err count_frames(fs_video *v, double deadline, fs_msg *msg) {
    int64_t n = 0, first = INT64_MAX, end = INT64_MIN;
    int r;
    while ((r = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (v->pkt->stream_index == v->stream) {
            n++;
            if (v->pkt->pts != AV_NOPTS_VALUE) {
                if (v->pkt->pts < first) first = v->pkt->pts;
                int64_t d = v->pkt->duration > 0 ? v->pkt->duration : 0;
                int64_t e = v->pkt->pts > INT64_MAX - d ? INT64_MAX : v->pkt->pts + d;
                if (e > end) end = e;
            }
        }
        av_packet_unref(v->pkt);
        if (deadline > 0 && fs_now_ms() > deadline)
            return fs_fail(msg, FS_ERR_TIMEOUT, "decode time limit reached while counting frames");
        /* Stop counting as soon as the frames alone say the video is too long. */
        double fps = v->info.fps > 0 ? v->info.fps : FALLBACK_FPS;
        if ((double)n / fps > v->limits.max_duration_s)
            return fs_fail(msg, FS_ERR_LIMIT, "video lasts more than the limit of %.0f s",
                           v->limits.max_duration_s);
    }
    if (n == 0) return fs_fail(msg, FS_ERR_FORMAT, "no video frames in the stream");
    fs_video_info *in = &v->info;
    if (in->fps <= 0) in->fps = FALLBACK_FPS;
    in->frame_count = n;
    v->has_pts = end > first;
    if (v->has_pts) {
        v->start_pts = first;
        in->duration_s = ((double)end - (double)first) * av_q2d(v->st->time_base);
    } else {
        in->duration_s = (double)n / in->fps;
    }
    if (in->duration_s > v->limits.max_duration_s)
        return fs_fail(msg, FS_ERR_LIMIT, "video lasts %.1f s, longer than the limit of %.0f s",
                       in->duration_s, v->limits.max_duration_s);
    return rewind_stream(v, msg);
}

enum { NEXT_FRAME = 0, NEXT_EOF = 1 };

/* The target times of one sampling call. */
typedef struct {
    const double *t; /* ascending */
    int n;
    double period;   /* 1 / fps */
    int decode_all;  /* no dropping of non-reference frames (fs_video_sampling.decode_all) */
} plan;

/* Whether a frame presented at time p could be the frame on screen at some target, i.e. lies
 * in (t_k - period, t_k] for some k. Every other frame may be dropped by the decoder if
 * nothing refers to it. */
static int wanted(const plan *pl, double p) {
    int lo = 0, hi = pl->n; /* first k with t_k >= p */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (pl->t[mid] + TIME_EPSILON_S < p) lo = mid + 1;
        else hi = mid;
    }
    return lo < pl->n && p >= pl->t[lo] - pl->period + TIME_EPSILON_S;
}

/* Decodes until one frame is available in v->frame (NEXT_FRAME), the stream ends (NEXT_EOF),
 * or an error. */
static int next_frame(fs_video *v, const plan *pl, double deadline, fs_err *err, fs_msg *msg) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    for (;;) {
        int r = avcodec_receive_frame(v->dec, v->frame);
        if (r == 0) {
            v->frames_ok++;
            v->decoded++;
            return NEXT_FRAME;
        }
        if (r == AVERROR_EOF) return NEXT_EOF;
        if (r != AVERROR(EAGAIN)) {
            /* a damaged frame: remember why, go on with the next one */
            v->errors++;
            snprintf(v->last_error, sizeof v->last_error, "%s", averr(r, eb, sizeof eb));
        }
        if (v->frames_ok == 0 && v->errors > MAX_ERRORS_BEFORE_FIRST_FRAME) {
            *err = fs_fail(msg, FS_ERR_FORMAT, "the %s stream could not be decoded (%s)",
                           v->codec->name, v->last_error);
            return -1;
        }
        if (deadline > 0 && fs_now_ms() > deadline) {
            *err = fs_fail(msg, FS_ERR_TIMEOUT, "decode time limit of %.0f ms reached",
                           v->limits.max_decode_ms);
            return -1;
        }
        if (v->draining) return NEXT_EOF;
        r = av_read_frame(v->fmt, v->pkt);
        if (r < 0) {
            /* End of data, or damage the demuxer cannot get past: either way, drain. */
            v->draining = 1;
            avcodec_send_packet(v->dec, NULL);
            continue;
        }
        if (v->pkt->stream_index != v->stream) {
            av_packet_unref(v->pkt);
            continue;
        }
        /* Decided per packet, in decode order: frames still in the decoder's reorder and
         * thread queues when a target is met must not all be decoded in full. */
        int skip = !pl->decode_all && v->pkt->pts != AV_NOPTS_VALUE &&
                   !wanted(pl, ts_seconds(v, v->pkt->pts));
        v->dec->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
        if (v->pkt->dts != AV_NOPTS_VALUE) v->last_dts = v->pkt->dts;
        r = avcodec_send_packet(v->dec, v->pkt);
        av_packet_unref(v->pkt);
        if (r < 0 && r != AVERROR(EAGAIN)) {
            v->errors++;
            snprintf(v->last_error, sizeof v->last_error, "%s", averr(r, eb, sizeof eb));
        }
    }
}

static double frame_time(fs_video *v) {
    int64_t ts = v->frame->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) ts = v->frame->pts;
    if (ts != AV_NOPTS_VALUE && v->has_pts) return ts_seconds(v, ts);
    return (double)(v->decoded - 1) / (v->info.fps > 0 ? v->info.fps : FALLBACK_FPS);
}

/* Whether to seek before decoding toward a frame later than t. Pre: the stream can be seeked. */
static int should_seek(fs_video *v, double t, int64_t *seek_ts) {
    double margin = SEEK_MARGIN_FRAMES / (v->info.fps > 0 ? v->info.fps : FALLBACK_FPS);
    double tb = av_q2d(v->st->time_base);
    double off = tb > 0 ? floor((t - margin) / tb) : 0.0;
    /* clamp in doubles before converting: the sum must stay representable */
    double ts = (double)v->start_pts + (off > 0 ? off : 0.0);
    *seek_ts = ts < 9e18 ? (int64_t)ts : v->start_pts;
    if (v->draining) return 1; /* the decoder ran dry: only a seek can resume it */
    if (v->last_dts == INT64_MIN) return 0; /* at the start already */
    int n = avformat_index_get_entries_count(v->st);
    if (n > 0) {
        const AVIndexEntry *e = avformat_index_get_entry_from_timestamp(v->st, ts,
                                                                         AVSEEK_FLAG_BACKWARD);
        /* Seeking pays off only if it skips packets we would otherwise decode. */
        return e && e->timestamp > v->last_dts;
    }
    return t - ts_seconds(v, v->last_dts) > SEEK_GAP_NO_INDEX_S;
}

/* swscale assumes BT.601 limited range unless told; streams that state their matrix (BT.709
 * HD, BT.2020) or full range get it applied, so flagged colours come out right. */
static void apply_colorspace(struct SwsContext *sws, const AVFrame *f) {
    int full = f->color_range == AVCOL_RANGE_JPEG;
    if (f->colorspace == AVCOL_SPC_UNSPECIFIED && !full) return;
    int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : (int)f->colorspace;
    sws_setColorspaceDetails(sws, sws_getCoefficients(cs), full,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
}

/* Makes v->rgb a w x h RGB24 frame. swscale's SIMD paths write whole vectors, past the last
 * pixel of a line and past the end of the last line, so its output must come from FFmpeg's own
 * allocator (aligned line sizes, padded tail), never from a tight w*h*3 buffer: a 300x300 frame
 * once overran such a buffer by 4 bytes. The frame is kept across calls of the same size. */
static fs_err rgb_target(fs_video *v, int w, int h, fs_msg *msg) {
    if (v->rgb && v->rgb->width == w && v->rgb->height == h) return FS_OK;
    av_frame_free(&v->rgb);
    v->rgb = av_frame_alloc();
    if (!v->rgb) return fs_fail(msg, FS_ERR_NOMEM, "out of memory converting a frame");
    v->rgb->format = AV_PIX_FMT_RGB24;
    v->rgb->width = w;
    v->rgb->height = h;
    if (av_frame_get_buffer(v->rgb, 0) < 0) {
        av_frame_free(&v->rgb);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory converting a %dx%d frame", w, h);
    }
    return FS_OK;
}

static fs_err emit(fs_video *v, const fs_video_sampling *s, double t, fs_video_frame_fn on_frame,
                   void *ctx, fs_msg *msg) {
    const AVFrame *f = v->frame;
    if (f->width <= 0 || f->height <= 0)
        return fs_fail(msg, FS_ERR_FORMAT, "decoded frame has no size");
    if (f->width > v->limits.max_width || f->height > v->limits.max_height)
        return fs_fail(msg, FS_ERR_LIMIT, "frame is %dx%d, larger than the limit of %dx%d",
                       f->width, f->height, v->limits.max_width, v->limits.max_height);
    int w = f->width, h = f->height;
    if (s->max_side > 0 && (w > s->max_side || h > s->max_side)) {
        double k = (double)s->max_side / (w > h ? w : h);
        w = (int)lround(w * k);
        h = (int)lround(h * k);
        if (w < 1) w = 1;
        if (h < 1) h = 1;
    }
    /* Same size: only chroma is interpolated, where the fast path is exact enough. */
    int flags = (w == f->width && h == f->height) ? SWS_FAST_BILINEAR : SWS_BILINEAR;
    v->sws = sws_getCachedContext(v->sws, f->width, f->height, f->format, w, h, AV_PIX_FMT_RGB24,
                                  flags, NULL, NULL, NULL);
    if (!v->sws)
        return fs_fail(msg, FS_ERR_UNSUPPORTED, "cannot convert %s frames to RGB",
                       av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
    apply_colorspace(v->sws, f);
    fs_video_frame fr;
    memset(&fr, 0, sizeof fr);
    fr.time_s = t;
    fr.index = v->info.fps > 0 && v->has_pts ? llround(t * v->info.fps) : v->decoded - 1;
    fs_err e = rgb_target(v, w, h, msg);
    if (e != FS_OK) return e;
    int r = sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                      v->rgb->data, v->rgb->linesize);
    if (r <= 0) return fs_fail(msg, FS_ERR_INTERNAL, "frame conversion to RGB failed");
    e = fs_image_alloc(&fr.image, w, h, msg);
    if (e != FS_OK) return e;
    const size_t row = (size_t)w * 3;
    for (int y = 0; y < h; y++)
        memcpy(fr.image.rgb + (size_t)y * row, v->rgb->data[0] + (size_t)y * v->rgb->linesize[0],
               row);
    e = on_frame(ctx, &fr, msg);
    fs_image_free(&fr.image); /* zeroed when the callback took the image */
    return e;
}

/* Builds the target times into a new array (*out, *n). */
static fs_err plan_targets(const fs_video *v, const fs_video_sampling *s, double **out, int *n_out,
                           fs_msg *msg) {
    *out = NULL;
    double d = v->info.duration_s;
    int max = v->limits.max_frames;
    int64_t n;
    if (s->mode == FS_VIDEO_SAMPLE_COUNT) {
        if (s->count < 0)
            return fs_fail(msg, FS_ERR_INVALID, "frame count must not be negative (%d)", s->count);
        n = s->count > 0 ? s->count : FS_VIDEO_SAMPLE_COUNT_DEFAULT;
        if (n > max)
            return fs_fail(msg, FS_ERR_LIMIT, "%lld frames asked, more than the limit of %d",
                           (long long)n, max);
        if (v->info.frame_count > 0 && v->info.frame_count < n) n = v->info.frame_count;
    } else if (s->mode == FS_VIDEO_SAMPLE_EVERY) {
        if (!(s->every_s > 0) || !isfinite(s->every_s))
            return fs_fail(msg, FS_ERR_INVALID,
                           "sampling interval must be a positive number of seconds");
        double c = ceil(d / s->every_s);
        if (c < 1) c = 1;
        if (c > max)
            return fs_fail(msg, FS_ERR_LIMIT, "one frame every %g s over %.1f s is %.0f frames, "
                           "more than the limit of %d", s->every_s, d, c, max);
        n = (int64_t)c;
    } else {
        return fs_fail(msg, FS_ERR_INVALID, "unknown sampling mode %d", (int)s->mode);
    }
    double *t = malloc(sizeof *t * (size_t)n);
    if (!t) return fs_fail(msg, FS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        t[i] = s->mode == FS_VIDEO_SAMPLE_COUNT ? d * ((double)i + 0.5) / (double)n
                                                : (double)i * s->every_s;
    *out = t;
    *n_out = (int)n;
    return FS_OK;
}

static fs_err sample_targets(fs_video *v, const fs_video_sampling *s, const double *t, int n,
                             double deadline, fs_video_frame_fn on_frame, void *ctx,
                             fs_msg *msg) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int done = 0, decide = 1;
    double last_emitted = -INFINITY;
    int can_seek = v->info.seekable && s->strategy != FS_VIDEO_SEQUENTIAL;
    const double period = 1.0 / (v->info.fps > 0 ? v->info.fps : FALLBACK_FPS);
    const plan pl = {t, n, period, s->decode_all};
    while (done < n) {
        if (decide) {
            decide = 0;
            int64_t ts;
            double from = t[done] - period;
            int seek = can_seek && should_seek(v, from, &ts);
            if (s->strategy == FS_VIDEO_SEEK && can_seek) {
                seek = 1;
                should_seek(v, from, &ts); /* for ts */
            }
            if (seek) {
                int r = av_seek_frame(v->fmt, v->stream, ts, AVSEEK_FLAG_BACKWARD);
                if (r >= 0) {
                    v->seeks++;
                    avcodec_flush_buffers(v->dec);
                    v->draining = 0;
                    v->last_dts = INT64_MIN + 1; /* not "at the start" any more */
                } else {
                    /* The demuxer cannot seek after all: read on from here. */
                    can_seek = 0;
                    fs_log(FS_LOG_DEBUG, "%s: seek failed (%s), decoding sequentially", v->name,
                           averr(r, eb, sizeof eb));
                }
            }
        }
        /* The frame on screen at t[done] is the first one later than t[done] - period. */
        double from = t[done] - period + TIME_EPSILON_S;
        fs_err err = FS_OK;
        int r = next_frame(v, &pl, deadline, &err, msg);
        if (r < 0) return err;
        if (r == NEXT_EOF) {
            if (v->frames_ok == 0)
                return fs_fail(msg, FS_ERR_FORMAT, "no frame of the %s stream could be decoded%s%s",
                               v->codec->name, v->last_error[0] ? ": " : "", v->last_error);
            double fps = v->info.fps > 0 ? v->info.fps : FALLBACK_FPS;
            double tol = fmax(END_TOLERANCE_S, END_TOLERANCE_FRAMES / fps);
            if (v->last_time + tol < v->info.duration_s)
                return fs_fail(msg, FS_ERR_FORMAT, "truncated or corrupt video: data ends at "
                               "%.2f s of %.2f s (%d of %d frames sampled)",
                               v->last_time > 0 ? v->last_time : 0.0, v->info.duration_s, done, n);
            break; /* the last targets fall after the last frame: the video is just shorter */
        }
        double ft = frame_time(v);
        v->last_time = ft;
        if (ft < from || ft <= last_emitted) continue;
        fs_err e = emit(v, s, ft, on_frame, ctx, msg);
        if (e != FS_OK) return e;
        last_emitted = ft;
        done++;
        decide = 1;
        if (s->progress) s->progress(s->progress_ctx, done, n);
    }
    return FS_OK;
}

fs_err fs_video_sample(fs_video *v, const fs_video_sampling *s, fs_video_frame_fn on_frame,
                       void *ctx, fs_msg *msg) {
    assert(v && on_frame);
    fs_video_sampling def = fs_video_sampling_default();
    if (!s) s = &def;
    double deadline = v->limits.max_decode_ms > 0 ? fs_now_ms() + v->limits.max_decode_ms : 0;
    fs_err e = open_decoder(v, s->threads, msg);
    if (e == FS_OK && v->info.duration_s <= 0) e = count_frames(v, deadline, msg);
    else if (e == FS_OK && (v->last_dts != INT64_MIN || v->draining))
        e = rewind_stream(v, msg); /* a second call starts over from the beginning */
    double *t = NULL;
    int n = 0;
    if (e == FS_OK) e = plan_targets(v, s, &t, &n, msg);
    int decoded_before = v->frames_ok;
    double t0 = fs_now_ms();
    v->seeks = 0;
    if (e == FS_OK) e = sample_targets(v, s, t, n, deadline, on_frame, ctx, msg);
    fs_log(FS_LOG_DEBUG, "%s: %d targets, %d frames decoded, %d seeks, %.1f ms", v->name, n,
           v->frames_ok - decoded_before, v->seeks, fs_now_ms() - t0);
    free(t);
    if (e != FS_OK) fs_msg_prefix(msg, "%s: ", v->name);
    return e;
}

/* ---- collecting into an array ---- */

typedef struct {
    fs_video_frames *out;
    int cap;
} collect_ctx;

static fs_err collect(void *ctx, fs_video_frame *frame, fs_msg *msg) {
    collect_ctx *c = ctx;
    if (c->out->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 32;
        fs_video_frame *p = realloc(c->out->frames, sizeof *p * (size_t)cap);
        if (!p) return fs_fail(msg, FS_ERR_NOMEM, "out of memory collecting frames");
        c->out->frames = p;
        c->cap = cap;
    }
    c->out->frames[c->out->n++] = *frame;
    memset(&frame->image, 0, sizeof frame->image); /* taken */
    return FS_OK;
}

fs_err fs_video_sample_all(fs_video *v, const fs_video_sampling *s, fs_video_frames *out,
                           fs_msg *msg) {
    memset(out, 0, sizeof *out);
    collect_ctx c = {out, 0};
    fs_err e = fs_video_sample(v, s, collect, &c, msg);
    if (e != FS_OK) fs_video_frames_free(out);
    return e;
}

void fs_video_frames_free(fs_video_frames *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) fs_image_free(&f->frames[i].image);
    free(f->frames);
    memset(f, 0, sizeof *f);
}
