/* Video opening and frame sampling. Most cases run on clips the test encodes itself with
 * libavcodec (each frame a flat grey whose level encodes its frame number, so a test can tell
 * which frame came back); the shared DFDC / FF++ videos add real 1080p H.264 when present. */
#include "fs_test.h"
#include "fakescope/video.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <math.h>
#include <unistd.h>

static char tmpdir[64];

/* ---- clip generation ---- */

typedef struct {
    const char *container; /* "mp4", "avi", "m4v" ... */
    enum AVCodecID codec;
    int w, h, frames, fps, gop, b_frames;
    int faststart;         /* mp4: index at the front */
    int full_range;        /* flag the stream BT.709, full range (mp4 'colr' box) */
} gen_spec;

/* Luma of frame i: 5 levels apart, so up to 40 frames stay distinguishable after coding. */
#define LUMA_STEP 5
static int luma_of(int i) {
    return 16 + LUMA_STEP * i;
}
/* Frame number from a decoded grey RGB frame (BT.601 limited range: R = 1.164 (Y - 16)). */
static int frame_of(const fs_image *img) {
    double sum = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) sum += img->rgb[((size_t)y * img->w + x) * 3];
    double r = sum / ((double)img->w * img->h);
    return (int)lround(r / (1.164 * LUMA_STEP));
}

static int drain(AVCodecContext *c, AVFormatContext *oc, AVStream *st, AVPacket *pkt) {
    int r;
    while ((r = avcodec_receive_packet(c, pkt)) == 0) {
        if (c->codec_type == AVMEDIA_TYPE_VIDEO && pkt->duration == 0) pkt->duration = 1;
        av_packet_rescale_ts(pkt, c->time_base, st->time_base);
        pkt->stream_index = st->index;
        if (av_interleaved_write_frame(oc, pkt) < 0) return -1;
    }
    return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : -1;
}

/* Writes a clip; returns 0, or -1 when the encoder refuses the settings. */
static int gen_video(const char *path, const gen_spec *g) {
    AVFormatContext *oc = NULL;
    if (avformat_alloc_output_context2(&oc, NULL, g->container, path) < 0) return -1;
    const AVCodec *enc = avcodec_find_encoder(g->codec);
    AVCodecContext *c = enc ? avcodec_alloc_context3(enc) : NULL;
    AVStream *st = avformat_new_stream(oc, NULL);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int ok = -1;
    if (!c || !st || !pkt || !f) goto out;
    c->width = g->w;
    c->height = g->h;
    c->time_base = (AVRational){1, g->fps};
    c->framerate = (AVRational){g->fps, 1};
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->gop_size = g->gop;
    c->max_b_frames = g->b_frames;
    if (g->full_range) {
        c->color_range = AVCOL_RANGE_JPEG;
        c->colorspace = AVCOL_SPC_BT709;
        c->strict_std_compliance = FF_COMPLIANCE_UNOFFICIAL;
    }
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * 2;
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (avcodec_open2(c, enc, NULL) < 0) goto out;
    avcodec_parameters_from_context(st->codecpar, c);
    st->time_base = c->time_base;
    if (avio_open(&oc->pb, path, AVIO_FLAG_WRITE) < 0) goto out;
    AVDictionary *opt = NULL;
    if (g->faststart) av_dict_set(&opt, "movflags", "faststart", 0);
    if (g->full_range) av_dict_set(&opt, "movflags", "write_colr", 0);
    int r = avformat_write_header(oc, &opt);
    av_dict_free(&opt);
    if (r < 0) goto out;
    f->format = c->pix_fmt;
    f->width = c->width;
    f->height = c->height;
    if (av_frame_get_buffer(f, 0) < 0) goto out;
    for (int i = 0; i < g->frames; i++) {
        if (av_frame_make_writable(f) < 0) goto out;
        for (int y = 0; y < g->h; y++) memset(f->data[0] + y * f->linesize[0], luma_of(i), g->w);
        for (int y = 0; y < (g->h + 1) / 2; y++) {
            memset(f->data[1] + y * f->linesize[1], 128, (g->w + 1) / 2);
            memset(f->data[2] + y * f->linesize[2], 128, (g->w + 1) / 2);
        }
        f->pts = i;
        if (avcodec_send_frame(c, f) < 0 || drain(c, oc, st, pkt) < 0) goto out;
    }
    if (avcodec_send_frame(c, NULL) < 0 || drain(c, oc, st, pkt) < 0) goto out;
    if (av_write_trailer(oc) < 0) goto out;
    ok = 0;
out:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    if (oc && oc->pb) avio_closep(&oc->pb);
    avformat_free_context(oc);
    return ok;
}

/* One second of silence, with no video stream: AAC in mp4, or MP3 in mp3 with a 16x16 JPEG
 * cover picture (a video stream flagged as an attached picture, which is not a video).
 * Returns 0, -1 on failure, 1 when the encoder is missing from this libavcodec. */
static int gen_audio(const char *path, int mp3_with_cover) {
    AVFormatContext *oc = NULL;
    if (avformat_alloc_output_context2(&oc, NULL, mp3_with_cover ? "mp3" : "mp4", path) < 0)
        return -1;
    const AVCodec *enc = avcodec_find_encoder(mp3_with_cover ? AV_CODEC_ID_MP3 : AV_CODEC_ID_AAC);
    const AVCodec *penc = mp3_with_cover ? avcodec_find_encoder(AV_CODEC_ID_MJPEG) : NULL;
    if (!enc || (mp3_with_cover && !penc)) {
        avformat_free_context(oc);
        return 1;
    }
    AVCodecContext *c = avcodec_alloc_context3(enc);
    AVCodecContext *pc = penc ? avcodec_alloc_context3(penc) : NULL;
    AVStream *st = avformat_new_stream(oc, NULL);
    AVStream *pst = penc ? avformat_new_stream(oc, NULL) : NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int ok = -1;
    if (!c || !st || !pkt || !f || (penc && (!pc || !pst))) goto out;
    c->sample_fmt = enc->sample_fmts ? enc->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    c->sample_rate = 44100;
    c->bit_rate = 64000;
    av_channel_layout_default(&c->ch_layout, 1);
    c->time_base = (AVRational){1, c->sample_rate};
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (avcodec_open2(c, enc, NULL) < 0) goto out;
    avcodec_parameters_from_context(st->codecpar, c);
    st->time_base = c->time_base;
    if (pc) {
        pc->width = pc->height = 16;
        pc->pix_fmt = AV_PIX_FMT_YUVJ420P;
        pc->time_base = (AVRational){1, 1};
        if (avcodec_open2(pc, penc, NULL) < 0) goto out;
        avcodec_parameters_from_context(pst->codecpar, pc);
        pst->disposition = AV_DISPOSITION_ATTACHED_PIC;
        pst->time_base = pc->time_base;
    }
    if (avio_open(&oc->pb, path, AVIO_FLAG_WRITE) < 0) goto out;
    if (avformat_write_header(oc, NULL) < 0) goto out;
    if (pc) {
        f->format = pc->pix_fmt;
        f->width = f->height = 16;
        if (av_frame_get_buffer(f, 0) < 0) goto out;
        for (int p = 0; p < 3; p++) memset(f->data[p], 100, (size_t)f->linesize[p] * (p ? 8 : 16));
        f->pts = 0;
        if (avcodec_send_frame(pc, f) < 0 || avcodec_send_frame(pc, NULL) < 0) goto out;
        while (avcodec_receive_packet(pc, pkt) == 0) {
            pkt->stream_index = pst->index;
            pkt->pts = pkt->dts = 0;
            if (av_interleaved_write_frame(oc, pkt) < 0) goto out;
        }
        av_frame_unref(f);
    }
    f->format = c->sample_fmt;
    f->nb_samples = c->frame_size;
    f->sample_rate = c->sample_rate;
    av_channel_layout_copy(&f->ch_layout, &c->ch_layout);
    if (av_frame_get_buffer(f, 0) < 0) goto out;
    for (int64_t s = 0; s < c->sample_rate; s += c->frame_size) {
        if (av_frame_make_writable(f) < 0) goto out;
        av_samples_set_silence(f->data, 0, f->nb_samples, 1, c->sample_fmt);
        f->pts = s;
        if (avcodec_send_frame(c, f) < 0 || drain(c, oc, st, pkt) < 0) goto out;
    }
    if (avcodec_send_frame(c, NULL) < 0 || drain(c, oc, st, pkt) < 0) goto out;
    if (av_write_trailer(oc) < 0) goto out;
    ok = 0;
out:
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    avcodec_free_context(&pc);
    if (oc && oc->pb) avio_closep(&oc->pb);
    avformat_free_context(oc);
    return ok;
}

static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

/* 40 frames at 10 fps (4 s), 96x64 mpeg4 with B-frames and a keyframe every 8 frames. */
static const gen_spec clip = {"mp4", AV_CODEC_ID_MPEG4, 96, 64, 40, 10, 8, 2, 0, 0};

static int setup(void **state) {
    (void)state;
    av_log_set_level(AV_LOG_ERROR); /* the encoders' chatter is not the subject here */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fs_video_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char p[128];
    if (gen_video(tmp_path(p, sizeof p, "clip.mp4"), &clip) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- generated clips ---- */

static void check_frames_hit_targets(const fs_video_frames *fr, const double *targets, int n,
                                     int fps) {
    assert_int_equal(fr->n, n);
    for (int i = 0; i < n; i++) {
        /* the frame on screen at the target */
        int want = (int)floor(targets[i] * fps + 1e-9);
        assert_int_equal(frame_of(&fr->frames[i].image), want);
        assert_int_equal(fr->frames[i].index, want);
        assert_float_equal(fr->frames[i].time_s, (double)want / fps, 1e-6);
    }
}

static void info_of_generated_clip(void **state) {
    (void)state;
    char p[128];
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    const fs_video_info *in = fs_video_get_info(v);
    assert_int_equal(in->w, 96);
    assert_int_equal(in->h, 64);
    assert_float_equal(in->fps, 10.0, 1e-6);
    assert_float_equal(in->duration_s, 4.0, 1e-6);
    assert_int_equal(in->frame_count, 40);
    assert_string_equal(in->codec, "mpeg4");
    assert_true(in->seekable);
    fs_video_close(v);
}

/* Every strategy lands on exactly the frame the rule names, B-frames and all. */
static void count_sampling_hits_exact_frames(void **state) {
    (void)state;
    char p[128];
    const fs_video_strategy strategies[] = {FS_VIDEO_AUTO, FS_VIDEO_SEQUENTIAL, FS_VIDEO_SEEK};
    for (int k = 0; k < 3; k++) {
        for (int n = 1; n <= 40; n += 13) {
            fs_video *v;
            fs_msg m;
            assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m),
                             FS_OK);
            fs_video_sampling s = fs_video_sampling_default();
            s.count = n;
            s.strategy = strategies[k];
            fs_video_frames fr;
            assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
            double t[40];
            for (int i = 0; i < n; i++) t[i] = 4.0 * (i + 0.5) / n;
            check_frames_hit_targets(&fr, t, n, 10);
            for (int i = 0; i < fr.n; i++) {
                assert_int_equal(fr.frames[i].image.w, 96);
                assert_int_equal(fr.frames[i].image.h, 64);
            }
            fs_video_frames_free(&fr);
            fs_video_close(v);
        }
    }
}

static void every_k_seconds(void **state) {
    (void)state;
    char p[128];
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.mode = FS_VIDEO_SAMPLE_EVERY;
    s.every_s = 1.0;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    double t1[] = {0, 1, 2, 3}; /* ceil(4 / 1) */
    check_frames_hit_targets(&fr, t1, 4, 10);
    fs_video_frames_free(&fr);
    /* a second call on the same video starts over */
    s.every_s = 0.75; /* ceil(4 / .75) = 6: 0 .75 1.5 2.25 3 3.75 */
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    double t2[] = {0, 0.75, 1.5, 2.25, 3.0, 3.75};
    check_frames_hit_targets(&fr, t2, 6, 10);
    fs_video_frames_free(&fr);
    s.every_s = 0;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_INVALID);
    assert_int_equal(fr.n, 0);
    s.every_s = NAN;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_INVALID);
    s.mode = FS_VIDEO_SAMPLE_COUNT;
    s.count = -1;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_INVALID);
    s.mode = (fs_video_sample_mode)7;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_INVALID);
    fs_video_close(v);
}

/* Asking for more frames than the clip has gives each frame once. */
static void more_frames_than_the_clip_has(void **state) {
    (void)state;
    char p[128];
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 100;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fr.n, 40);
    for (int i = 0; i < 40; i++) assert_int_equal(frame_of(&fr.frames[i].image), i);
    fs_video_frames_free(&fr);
    fs_video_close(v);
}

static void scaling_to_max_side(void **state) {
    (void)state;
    char p[128];
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 3;
    s.max_side = 48;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fr.n, 3);
    assert_int_equal(fr.frames[0].image.w, 48);
    assert_int_equal(fr.frames[0].image.h, 32);
    assert_int_equal(frame_of(&fr.frames[1].image), 20); /* t = 2.0 */
    assert_int_equal(frame_of(&fr.frames[2].image), 33); /* t = 3.33 */
    fs_video_frames_free(&fr);
    fs_video_close(v);
}

typedef struct {
    int calls, last_done, last_total;
} progress_log;
static void on_progress(void *ctx, int done, int total) {
    progress_log *p = ctx;
    p->calls++;
    assert_int_equal(done, p->last_done + 1);
    p->last_done = done;
    p->last_total = total;
}
static fs_err stop_at_third(void *ctx, fs_video_frame *f, fs_msg *msg) {
    int *seen = ctx;
    assert_non_null(f->image.rgb);
    if (++*seen == 3) return fs_fail(msg, FS_ERR_TIMEOUT, "enough");
    return FS_OK;
}

static void progress_and_callback_stop(void **state) {
    (void)state;
    char p[128];
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    progress_log log = {0, 0, 0};
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 10;
    s.progress = on_progress;
    s.progress_ctx = &log;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(log.calls, 10);
    assert_int_equal(log.last_total, 10);
    fs_video_frames_free(&fr);
    int seen = 0;
    s.progress = NULL;
    assert_int_equal(fs_video_sample(v, &s, stop_at_third, &seen, &m), FS_ERR_TIMEOUT);
    assert_int_equal(seen, 3);
    assert_non_null(strstr(m.text, "enough"));
    fs_video_close(v);
}

static void memory_and_file_agree(void **state) {
    (void)state;
    char p[128];
    tmp_path(p, sizeof p, "clip.mp4");
    uint8_t *data;
    size_t len;
    fs_msg m;
    assert_int_equal(fs_read_file(p, 1 << 24, &data, &len, &m), FS_OK);
    fs_video *a, *b;
    assert_int_equal(fs_video_open_file(p, NULL, &a, &m), FS_OK);
    assert_int_equal(fs_video_open_memory(data, len, NULL, &b, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 7;
    fs_video_frames fa, fb;
    assert_int_equal(fs_video_sample_all(a, &s, &fa, &m), FS_OK);
    assert_int_equal(fs_video_sample_all(b, &s, &fb, &m), FS_OK);
    assert_int_equal(fa.n, fb.n);
    for (int i = 0; i < fa.n; i++) {
        assert_int_equal(fa.frames[i].index, fb.frames[i].index);
        assert_memory_equal(fa.frames[i].image.rgb, fb.frames[i].image.rgb, 96 * 64 * 3);
    }
    fs_video_frames_free(&fa);
    fs_video_frames_free(&fb);
    fs_video_close(a);
    fs_video_close(b);
    free(data);
}

static double mean_red(const fs_image *img) {
    double sum = 0;
    for (size_t i = 0; i < (size_t)img->w * img->h; i++) sum += img->rgb[i * 3];
    return sum / ((double)img->w * img->h);
}

/* A stream flagged full range: luma maps to RGB one to one instead of being stretched from
 * 16-235 (grey, so the BT.709 matrix does not change it). */
static void full_range_flag_is_honoured(void **state) {
    (void)state;
    char p[128];
    gen_spec g = clip;
    g.full_range = 1;
    assert_int_equal(gen_video(tmp_path(p, sizeof p, "full.mp4"), &g), 0);
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 4;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fr.n, 4);
    for (int i = 0; i < 4; i++) /* frames 5, 15, 25, 35 */
        assert_float_equal(mean_red(&fr.frames[i].image), luma_of(5 + 10 * i), 1.5);
    fs_video_frames_free(&fr);
    fs_video_close(v);
    /* the same clip unflagged is stretched: 1.164 (Y - 16) */
    assert_int_equal(fs_video_open_file(tmp_path(p, sizeof p, "clip.mp4"), NULL, &v, &m), FS_OK);
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_float_equal(mean_red(&fr.frames[3].image), 1.164 * (luma_of(35) - 16), 1.5);
    fs_video_frames_free(&fr);
    fs_video_close(v);
}

/* A raw MPEG-4 elementary stream states no duration: frames are counted, then sampled. */
static void raw_stream_without_duration(void **state) {
    (void)state;
    char p[128];
    gen_spec g = clip;
    g.container = "m4v";
    g.b_frames = 0;
    assert_int_equal(gen_video(tmp_path(p, sizeof p, "raw.m4v"), &g), 0);
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
    assert_int_equal(fs_video_get_info(v)->seekable, 0);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 4;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fs_video_get_info(v)->frame_count, 40);
    assert_int_equal(fr.n, 4);
    /* whatever the time base, the frames are in order and distinct */
    for (int i = 1; i < fr.n; i++) {
        assert_true(fr.frames[i].time_s > fr.frames[i - 1].time_s);
        assert_true(frame_of(&fr.frames[i].image) > frame_of(&fr.frames[i - 1].image));
    }
    fs_video_frames_free(&fr);
    /* once counted, the clip is 4 s at 10 fps like its mp4 twin */
    assert_float_equal(fs_video_get_info(v)->duration_s, 4.0, 1e-6);
    s.mode = FS_VIDEO_SAMPLE_EVERY;
    s.every_s = 1.0;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    double t[] = {0, 1, 2, 3};
    check_frames_hit_targets(&fr, t, 4, 10);
    fs_video_frames_free(&fr);
    fs_video_close(v);
    /* the duration limit holds for counted streams too */
    fs_video_limits l = fs_video_limits_default();
    l.max_duration_s = 2;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_OK);
    assert_int_equal(fs_video_sample_all(v, NULL, &fr, &m), FS_ERR_LIMIT);
    fs_video_close(v);
}

/* ---- bad input ---- */

static void expect_open_error(const char *path, fs_err want, const char *words) {
    fs_video *v = (fs_video *)1;
    fs_msg m = {{0}};
    fs_err e = fs_video_open_file(path, NULL, &v, &m);
    if (e == FS_OK) {
        /* opening may succeed when the damage is past the headers: sampling must then fail */
        fs_video_frames fr;
        e = fs_video_sample_all(v, NULL, &fr, &m);
        fs_video_close(v);
    } else {
        assert_null(v);
    }
    printf("  %s -> %s: %s\n", strrchr(path, '/') + 1, fs_err_name(e), m.text);
    assert_int_equal(e, want);
    assert_non_null(strstr(m.text, path)); /* the message names the file */
    if (words) assert_non_null(strstr(m.text, words));
}

static void text_file_renamed_mp4(void **state) {
    (void)state;
    char p[128];
    const char *txt = "This is not a video, just some text someone named .mp4\n";
    write_bytes(tmp_path(p, sizeof p, "text.mp4"), txt, strlen(txt));
    expect_open_error(p, FS_ERR_FORMAT, "not a media file");
    /* the same bytes uploaded: the message names the upload */
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_memory((const uint8_t *)txt, strlen(txt), NULL, &v, &m),
                     FS_ERR_FORMAT);
    assert_null(v);
    assert_true(strncmp(m.text, "upload: not a media file", 24) == 0);
}

static void zero_byte_file(void **state) {
    (void)state;
    char p[128];
    write_bytes(tmp_path(p, sizeof p, "empty.mp4"), "", 0);
    expect_open_error(p, FS_ERR_FORMAT, "empty");
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_memory((const uint8_t *)"", 0, NULL, &v, &m), FS_ERR_FORMAT);
    assert_null(v);
    assert_int_equal(fs_video_open_file("/nonexistent/clip.mp4", NULL, &v, &m), FS_ERR_NOTFOUND);
}

static void audio_only_files(void **state) {
    (void)state;
    char p[128];
    assert_int_equal(gen_audio(tmp_path(p, sizeof p, "audio.mp4"), 0), 0);
    expect_open_error(p, FS_ERR_UNSUPPORTED, "no video stream");
    /* a cover picture is a video stream of one still: still no video */
    int r = gen_audio(tmp_path(p, sizeof p, "cover.mp3"), 1);
    if (r == 1) {
        printf("  no MP3 or MJPEG encoder: cover-picture case not run\n");
        return;
    }
    assert_int_equal(r, 0);
    expect_open_error(p, FS_ERR_UNSUPPORTED, "no video stream in this mp3 file");
}

static void truncate_copy(const char *src, const char *dst, double fraction) {
    uint8_t *data;
    size_t len;
    fs_msg m;
    assert_int_equal(fs_read_file(src, (size_t)1 << 30, &data, &len, &m), FS_OK);
    write_bytes(dst, data, (size_t)(len * fraction));
    free(data);
}

static void truncated_generated_clips(void **state) {
    (void)state;
    char p[128], q[128];
    /* index at the end: the first half has no index at all */
    truncate_copy(tmp_path(p, sizeof p, "clip.mp4"), tmp_path(q, sizeof q, "half.mp4"), 0.5);
    expect_open_error(q, FS_ERR_FORMAT, NULL);
    /* index at the front: it opens, and the data runs out mid-way */
    gen_spec g = clip;
    g.faststart = 1;
    assert_int_equal(gen_video(tmp_path(p, sizeof p, "fast.mp4"), &g), 0);
    truncate_copy(p, tmp_path(q, sizeof q, "fasthalf.mp4"), 0.5);
    expect_open_error(q, FS_ERR_FORMAT, "truncated");
    /* and every strategy says so */
    fs_video *v;
    fs_msg m;
    for (int k = FS_VIDEO_AUTO; k <= FS_VIDEO_SEEK; k++) {
        assert_int_equal(fs_video_open_file(q, NULL, &v, &m), FS_OK);
        fs_video_sampling s = fs_video_sampling_default();
        s.strategy = (fs_video_strategy)k;
        fs_video_frames fr;
        assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_FORMAT);
        assert_null(fr.frames);
        fs_video_close(v);
    }
    /* 30 bytes: the start of a header and nothing else */
    truncate_copy(p, tmp_path(q, sizeof q, "stub.mp4"), 30.0 / 4000);
    expect_open_error(q, FS_ERR_FORMAT, NULL);
}

/* Damage anywhere in the file: an answer or an error, never a crash, hang or leak (ASan runs
 * this too). The corruptions are fixed by a seed so a failure can be replayed. */
static void corrupted_bytes_are_survived(void **state) {
    (void)state;
    char p[128];
    uint8_t *orig;
    size_t len;
    fs_msg m;
    assert_int_equal(fs_read_file(tmp_path(p, sizeof p, "clip.mp4"), 1 << 24, &orig, &len, &m),
                     FS_OK);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    uint32_t seed = 12345;
    int ok = 0, failed = 0;
    for (int round = 0; round < 60; round++) {
        memcpy(buf, orig, len);
        int flips = 1 + round % 20;
        for (int i = 0; i < flips; i++) {
            seed = seed * 1664525u + 1013904223u;
            buf[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));
        }
        fs_video *v;
        fs_err e = fs_video_open_memory(buf, len, NULL, &v, &m);
        if (e == FS_OK) {
            fs_video_sampling s = fs_video_sampling_default();
            s.count = 8;
            s.strategy = (fs_video_strategy)(round % 3);
            fs_video_frames fr;
            e = fs_video_sample_all(v, &s, &fr, &m);
            if (e == FS_OK) {
                assert_true(fr.n <= 8);
                for (int i = 0; i < fr.n; i++) assert_non_null(fr.frames[i].image.rgb);
            } else {
                assert_int_equal(fr.n, 0);
            }
            fs_video_frames_free(&fr);
            fs_video_close(v);
        }
        if (e == FS_OK) ok++;
        else {
            failed++;
            assert_true(strlen(m.text) > 0);
        }
    }
    printf("  60 damaged copies: %d sampled, %d refused\n", ok, failed);
    free(buf);
    free(orig);
}

/* The smallest picture: 1x1 when the encoder accepts it, else 2x2. */
static void tiny_picture(void **state) {
    (void)state;
    char p[128];
    gen_spec g = {"avi", AV_CODEC_ID_MPEG4, 1, 1, 5, 5, 5, 0, 0, 0};
    int side = 1;
    if (gen_video(tmp_path(p, sizeof p, "tiny.avi"), &g) != 0) {
        side = g.w = g.h = 2;
        assert_int_equal(gen_video(p, &g), 0);
    }
    printf("  smallest picture encoded: %dx%d\n", side, side);
    fs_video *v;
    fs_msg m;
    assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
    assert_int_equal(fs_video_get_info(v)->w, side);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 5;
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fr.n, 5);
    for (int i = 0; i < fr.n; i++) {
        assert_int_equal(fr.frames[i].image.w, side);
        assert_int_equal(fr.frames[i].image.h, side);
        assert_int_equal(frame_of(&fr.frames[i].image), i);
    }
    fs_video_frames_free(&fr);
    fs_video_close(v);
}

static void limits_are_enforced(void **state) {
    (void)state;
    char p[128];
    tmp_path(p, sizeof p, "clip.mp4");
    fs_video *v;
    fs_msg m;
    fs_video_limits l = fs_video_limits_default();
    l.max_width = 64;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_ERR_LIMIT);
    assert_non_null(strstr(m.text, "96x64"));
    l = fs_video_limits_default();
    l.max_duration_s = 3;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_ERR_LIMIT);
    l = fs_video_limits_default();
    l.max_bytes = 100;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_ERR_LIMIT);
    uint8_t buf[200] = {0};
    assert_int_equal(fs_video_open_memory(buf, sizeof buf, &l, &v, &m), FS_ERR_LIMIT);
    l = fs_video_limits_default();
    l.max_frames = 8;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    fs_video_frames fr;
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_LIMIT); /* 32 > 8 */
    s.mode = FS_VIDEO_SAMPLE_EVERY;
    s.every_s = 0.25; /* 16 frames > 8 */
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_ERR_LIMIT);
    s.every_s = 0.5; /* 8 frames */
    assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
    assert_int_equal(fr.n, 8);
    fs_video_frames_free(&fr);
    fs_video_close(v);
    /* a decode-time budget that cannot be met */
    l = fs_video_limits_default();
    l.max_decode_ms = 1e-6;
    assert_int_equal(fs_video_open_file(p, &l, &v, &m), FS_OK);
    assert_int_equal(fs_video_sample_all(v, NULL, &fr, &m), FS_ERR_TIMEOUT);
    fs_video_close(v);
}

/* ---- shared real videos ---- */

static const char *dfdc[] = {"dfdc/videos/fake/abofeumbvv.mp4", "dfdc/videos/fake/abqwwspghj.mp4",
                             "dfdc/videos/real/lynaeydofd.mp4"};

static void dfdc_videos_give_32_frames(void **state) {
    (void)state;
    char buf[512];
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        const char *p = fs_test_shared(dfdc[i], buf, sizeof buf);
        if (!p) continue;
        ran++;
        fs_video *v;
        fs_msg m;
        assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
        const fs_video_info *in = fs_video_get_info(v);
        assert_int_equal(in->w, 1920);
        assert_int_equal(in->h, 1080);
        assert_string_equal(in->codec, "h264");
        double t0 = fs_now_ms();
        fs_video_frames fr;
        assert_int_equal(fs_video_sample_all(v, NULL, &fr, &m), FS_OK);
        printf("  %s: %d frames in %.0f ms (%.2f s, %.2f fps)\n", dfdc[i], fr.n,
               fs_now_ms() - t0, in->duration_s, in->fps);
        assert_int_equal(fr.n, 32);
        for (int k = 0; k < fr.n; k++) {
            assert_int_equal(fr.frames[k].image.w, 1920);
            assert_int_equal(fr.frames[k].image.h, 1080);
            assert_true(fr.frames[k].time_s >= 0 && fr.frames[k].time_s < in->duration_s);
            if (k) {
                assert_true(fr.frames[k].time_s > fr.frames[k - 1].time_s);
                assert_true(fr.frames[k].index > fr.frames[k - 1].index);
            }
            /* the frame on screen at its target */
            double target = in->duration_s * (k + 0.5) / 32;
            assert_true(fr.frames[k].time_s <= target + 1e-6);
            assert_true(fr.frames[k].time_s > target - 1.0 / in->fps);
        }
        fs_video_frames_free(&fr);
        /* every 2 s: 0 2 4 6 8 */
        fs_video_sampling s = fs_video_sampling_default();
        s.mode = FS_VIDEO_SAMPLE_EVERY;
        s.every_s = 2.0;
        s.max_side = 640;
        assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
        assert_int_equal(fr.n, (int)ceil(in->duration_s / 2.0));
        assert_int_equal(fr.frames[0].image.w, 640);
        assert_int_equal(fr.frames[0].image.h, 360);
        assert_float_equal(fr.frames[0].time_s, 0.0, 1e-6);
        fs_video_frames_free(&fr);
        fs_video_close(v);
    }
    if (!ran) skip();
}

static uint64_t hash_frames(const fs_video_frames *fr) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < fr->n; i++) {
        const fs_image *im = &fr->frames[i].image;
        for (size_t k = 0; k < (size_t)im->w * im->h * 3; k++) h = (h ^ im->rgb[k]) * 1099511628211ull;
    }
    return h;
}

static void dfdc_memory_file_and_strategies_agree(void **state) {
    (void)state;
    char buf[512];
    const char *p = fs_test_shared(dfdc[0], buf, sizeof buf);
    if (!p) skip();
    uint8_t *data;
    size_t len;
    fs_msg m;
    assert_int_equal(fs_read_file(p, (size_t)1 << 30, &data, &len, &m), FS_OK);
    fs_video_sampling s = fs_video_sampling_default();
    s.count = 6;
    uint64_t h[3];
    for (int k = 0; k < 3; k++) {
        fs_video *v;
        if (k == 0) assert_int_equal(fs_video_open_memory(data, len, NULL, &v, &m), FS_OK);
        else assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
        s.strategy = k == 2 ? FS_VIDEO_SEQUENTIAL : FS_VIDEO_AUTO;
        fs_video_frames fr;
        assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
        assert_int_equal(fr.n, 6);
        h[k] = hash_frames(&fr);
        fs_video_frames_free(&fr);
        fs_video_close(v);
    }
    assert_true(h[0] == h[1]);
    assert_true(h[1] == h[2]);
    /* the first half of it */
    char q[128];
    write_bytes(tmp_path(q, sizeof q, "dfdc_half.mp4"), data, len / 2);
    free(data);
    expect_open_error(q, FS_ERR_FORMAT, NULL);
}

/* Dropping the non-reference frames that no target needs (and decoding with frame threads)
 * must not change a single sampled pixel: the hashes of the 32 default frames of every DFDC
 * clip with and without the drop, with one and two decoder threads. */
static void dfdc_dropping_nonref_frames_keeps_pixels(void **state) {
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof dfdc / sizeof dfdc[0]; i++) {
        char buf[512];
        const char *p = fs_test_shared(dfdc[i], buf, sizeof buf);
        if (!p) continue;
        ran = 1;
        uint64_t h[3];
        int64_t idx[3][FS_VIDEO_SAMPLE_COUNT_DEFAULT];
        for (int k = 0; k < 3; k++) {
            fs_video *v;
            fs_msg m;
            assert_int_equal(fs_video_open_file(p, NULL, &v, &m), FS_OK);
            fs_video_sampling s = fs_video_sampling_default();
            s.decode_all = k == 0;
            s.threads = k == 2 ? 2 : 1;
            fs_video_frames fr;
            assert_int_equal(fs_video_sample_all(v, &s, &fr, &m), FS_OK);
            assert_int_equal(fr.n, FS_VIDEO_SAMPLE_COUNT_DEFAULT);
            for (int f = 0; f < fr.n; f++) idx[k][f] = fr.frames[f].index;
            h[k] = hash_frames(&fr);
            fs_video_frames_free(&fr);
            fs_video_close(v);
        }
        assert_memory_equal(idx[0], idx[1], sizeof idx[0]);
        assert_memory_equal(idx[0], idx[2], sizeof idx[0]);
        assert_true(h[0] == h[1]);
        assert_true(h[0] == h[2]);
    }
    if (!ran) skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(info_of_generated_clip),
        cmocka_unit_test(dfdc_dropping_nonref_frames_keeps_pixels),
        cmocka_unit_test(count_sampling_hits_exact_frames),
        cmocka_unit_test(every_k_seconds),
        cmocka_unit_test(more_frames_than_the_clip_has),
        cmocka_unit_test(scaling_to_max_side),
        cmocka_unit_test(progress_and_callback_stop),
        cmocka_unit_test(memory_and_file_agree),
        cmocka_unit_test(full_range_flag_is_honoured),
        cmocka_unit_test(raw_stream_without_duration),
        cmocka_unit_test(text_file_renamed_mp4),
        cmocka_unit_test(zero_byte_file),
        cmocka_unit_test(audio_only_files),
        cmocka_unit_test(truncated_generated_clips),
        cmocka_unit_test(corrupted_bytes_are_survived),
        cmocka_unit_test(tiny_picture),
        cmocka_unit_test(limits_are_enforced),
        cmocka_unit_test(dfdc_videos_give_32_frames),
        cmocka_unit_test(dfdc_memory_file_and_strategies_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
