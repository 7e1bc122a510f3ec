/* fuzz_video: libFuzzer target for the FFmpeg demux/decode wrapper as an upload reaches it:
 * fs_video_open_memory then fs_video_sample_all. The first input byte picks the sampling
 * (2..4 frames, or one every 0.x s; the strategy) and is then part of the file as well, so the
 * seeds stay real media files. Limits are small so that a hostile header cannot make one run
 * slow: a few frames, small pictures, a short decode budget, one decoder thread. */
#include <stdint.h>
#include <stdlib.h>

#include "fakescope/video.h"

#define FUZZ_MAX_SIDE 256
#define FUZZ_MAX_FRAMES 8
#define FUZZ_MAX_DURATION_S 120.0
#define FUZZ_DECODE_MS 3000.0 /* under libFuzzer's -timeout=10 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) {
        fs_log_set_level(FS_LOG_ERROR);
        quiet = 1;
    }
    uint8_t knob = size ? data[0] : 0;
    fs_video_limits lim = fs_video_limits_default();
    lim.max_bytes = (size_t)1 << 20;
    lim.max_width = lim.max_height = FUZZ_MAX_SIDE;
    lim.max_frames = FUZZ_MAX_FRAMES;
    lim.max_duration_s = FUZZ_MAX_DURATION_S;
    lim.max_decode_ms = FUZZ_DECODE_MS;
    fs_video *v = NULL;
    fs_msg msg;
    if (fs_video_open_memory(data, size, &lim, &v, &msg) != FS_OK) {
        if (v) abort(); /* nothing is handed out on failure */
        return 0;
    }
    const fs_video_info *info = fs_video_get_info(v);
    if (!info || info->w <= 0 || info->h <= 0 || info->w > FUZZ_MAX_SIDE || info->h > FUZZ_MAX_SIDE)
        abort();
    fs_video_sampling s = fs_video_sampling_default();
    s.threads = 1;
    s.max_side = (knob & 0x40) ? 16 : 0;
    s.strategy = (fs_video_strategy)((knob >> 2) % 3);
    if (knob & 0x80) {
        s.mode = FS_VIDEO_SAMPLE_EVERY;
        s.every_s = 0.1 * (1 + (knob & 3));
    } else {
        s.mode = FS_VIDEO_SAMPLE_COUNT;
        s.count = 2 + (knob & 3) % 3;
    }
    fs_video_frames fr = {0};
    if (fs_video_sample_all(v, &s, &fr, &msg) == FS_OK) {
        if (fr.n < 0 || fr.n > FUZZ_MAX_FRAMES) abort();
        for (int i = 0; i < fr.n; i++) {
            const fs_image *im = &fr.frames[i].image;
            if (im->w <= 0 || im->h <= 0 || !im->rgb) abort();
            if (i && fr.frames[i].time_s < fr.frames[i - 1].time_s) abort(); /* time order */
        }
    } else if (fr.n != 0) {
        abort(); /* "empty on failure" */
    }
    fs_video_frames_free(&fr);
    fs_video_close(v);
    return 0;
}
