/* detect (detect/): the pipeline that turns media into a verdict with its evidence:
 * decode (image, or sampled video frames) -> find faces -> track people -> crop -> run every
 * model -> aggregate per person and for the whole media -> verdicts by heuristic.
 *
 * Objects:
 *  - fs_detector: the models and the face cascade, loaded once, read-only afterwards, so any
 *    number of threads may share one (like the fs_net inside it).
 *  - fs_scanner: what one thread needs to run a detector (a network context per model, with
 *    its planned buffers). One scanner serves one caller at a time; make one per worker.
 *  - fs_scan_result: everything one scan found; owned by the caller, released with
 *    fs_scan_result_free (safe on a zeroed struct).
 *
 * The whole-media verdict is the verdict of its main person: the track with the largest total
 * detection strength (1 + cascade neighbours, summed over the sampled frames), so a weak stray
 * detection cannot decide a video (docs/verdicts.md). Every person's verdict is kept beside it. Media in which no face is found has status
 * FS_VERDICT_NO_FACE, never a neutral score, unless the caller asks to judge whole images. */
#ifndef FAKESCOPE_DETECT_H
#define FAKESCOPE_DETECT_H

#include "fakescope/card.h"
#include "fakescope/core.h"
#include "fakescope/face.h"
#include "fakescope/image.h"
#include "fakescope/model.h"
#include "fakescope/verdict.h"
#include "fakescope/video.h"

#define FS_DETECT_MAX_MODELS FS_VERDICT_MAX_MODELS
#define FS_DETECT_MAX_FACES 16      /* faces judged per frame: the largest ones are kept */
#define FS_DETECT_NAME_MAX 64
#define FS_SCAN_MAX_THREADS 16      /* face-finding threads of a pipelined video scan */
#define FS_DETECT_CROP_SIDE 256     /* crop side of a crops-only scan: every MesoNet input */
/* Faces smaller than this share of the frame's shorter side are not looked for in a scan: a
 * MesoNet judges 256x256 crops, and a face of 100 px or less in a 1080p frame reaches it only
 * blown up 2.5x or more, where interpolation, not the face, fills the pixels. It also spares
 * the cascade its most expensive pyramid levels. */
#define FS_SCAN_MIN_FACE_SHARE 0.1

typedef struct fs_detector fs_detector;

/* An empty detector; add models, then use it. Not thread-safe until the last add. */
fs_err fs_detector_create(fs_detector **out, fs_msg *msg);
void fs_detector_free(fs_detector *d);
/* Adds a registry model (weights checked against the card's SHA-256; P(fake) follows the card). */
fs_err fs_detector_add_entry(fs_detector *d, const fs_model_entry *e, fs_msg *msg);
/* Adds weights directly (e.g. --weights FILE --arch A); P(fake) follows the weights' "output"
 * metadata (Keras MesoNet files: the sigmoid is P(real)). name is how results name the model. */
fs_err fs_detector_add_weights(fs_detector *d, const char *name, const fs_weights *w,
                               const char *arch, fs_msg *msg);
/* Adds a network the detector borrows (it must outlive the detector): how fs_engine shares
 * one loaded network among many scanners. */
struct fs_net;
fs_err fs_detector_add_net(fs_detector *d, const char *name, const struct fs_net *net,
                           int output_is_fake, fs_msg *msg);
/* Model i follows card c: its calls, the card's "decision" (threshold and uncertain band; NULL
 * or a card without one: the scan's threshold), and what it sees of a face, the card's
 * "face_crop" (aligned crops need landmarks: the first scan loads the default landmark network
 * when none is loaded, and a face without landmarks, as the cascade gives, gets the box crop).
 * fs_detector_add_entry does this itself. */
void fs_detector_set_card(fs_detector *d, int i, const fs_card *c);
/* Uses a cascade the detector borrows (it must outlive the detector). */
void fs_detector_set_cascade(fs_detector *d, const fs_cascade *c);
/* Loads the face cascade (NULL: the default frontal-face cascade); the detector then finds
 * faces with it (`--face-detector haar`). */
fs_err fs_detector_load_cascade(fs_detector *d, const char *cascade, fs_msg *msg);
/* Loads the learned face detector (blazeface.h; NULL: FS_BLAZEFACE_DEFAULT_NAME looked up by
 * fs_blazeface_find), which then finds the faces, keypoints included. When neither this nor a
 * cascade was given, the first scan that needs faces loads the default learned detector, and
 * fails with its set-up message when it is missing (never the cascade in its place). */
struct fs_blazeface;
fs_err fs_detector_load_blazeface(fs_detector *d, const char *name, fs_msg *msg);
/* Uses b from now on: owns = 1 hands it over (freed with the detector), 0 borrows it (the
 * caller keeps it alive; it serialises its own calls). */
void fs_detector_set_blazeface(fs_detector *d, struct fs_blazeface *b, int owns);
int fs_detector_has_face_finder(const fs_detector *d);
/* Loads the 68-point landmark network (landmarks.h; NULL name: FS_LANDMARKS_DEFAULT_NAME found
 * by fs_face_model_find): from then on every face the learned detector finds also gets its 68
 * landmarks (scan --landmarks). Missing weights: FS_ERR_NOTFOUND naming the set-up. */
fs_err fs_detector_load_landmarks(fs_detector *d, const char *name, fs_msg *msg);
int fs_detector_model_count(const fs_detector *d);
const char *fs_detector_model_name(const fs_detector *d, int i);
const char *fs_detector_model_arch(const fs_detector *d, int i);

/* How a scan looks at the media. */
typedef enum {
    FS_CROP_FACES = 0,     /* judge face crops only; no face -> NO_FACE */
    FS_CROP_WHOLE,         /* judge the whole picture, resized to the model input */
    FS_CROP_FACES_OR_WHOLE /* face crops; a still image without a face is judged whole */
} fs_crop_mode;

typedef void (*fs_scan_progress_fn)(void *ctx, const char *stage, int done, int total);

/* Where the bytes of a file are turned into pixels. A scan with no decoder (NULL in
 * fs_scan_opts) decodes in the calling process with media/; a server hands scans of uploads a
 * decoder that runs every parser of the untrusted bytes (container, codecs, image formats,
 * EXIF) in a sandboxed worker process (jobs/media_worker.h) and gets back only RGB8 pixels,
 * whose sizes it checks against the same limits. The functions mirror media/'s:
 *  - decode_image: as fs_image_decode;
 *  - video_open: as fs_video_open_memory, *video an opaque handle and *info its facts;
 *  - video_sample: as fs_video_sample (frames in order, on the calling thread);
 *  - video_close: releases the handle (safe on NULL). */
typedef struct fs_media_decoder {
    void *ctx;
    fs_err (*decode_image)(void *ctx, const uint8_t *data, size_t len,
                           const fs_image_limits *limits, fs_image *out, fs_msg *msg);
    fs_err (*video_open)(void *ctx, const uint8_t *data, size_t len,
                         const fs_video_limits *limits, void **video, fs_video_info *info,
                         fs_msg *msg);
    fs_err (*video_sample)(void *video, const fs_video_sampling *s, fs_video_frame_fn on_frame,
                           void *frame_ctx, fs_msg *msg);
    void (*video_close)(void *video);
} fs_media_decoder;

typedef struct fs_scan_opts {
    fs_video_sampling sampling; /* frames of a video (count or every k s) */
    fs_video_limits video_limits;
    fs_image_limits image_limits;
    fs_face_params face;        /* cascade parameters (min_share: FS_SCAN_MIN_FACE_SHARE) */
    float margin;               /* crop margin around a face (0.3 = 30%) */
    /* Crops-only scans (a detector without models): < 0 cuts the box crop (the default);
     * otherwise the face aligned on its landmarks with this margin (fs_align_face), as a model
     * whose card says "face_crop": aligned sees it. Scans with models follow each card. */
    float align_margin;
    fs_crop_mode crop;
    double threshold;           /* P(fake) at or above which every model's score says fake, in
                                 * place of each card's decision; 0 = the cards' (0.5 without) */
    int keep_thumbs;            /* keep a small copy of each sampled frame (contact sheets) */
    int thumb_side;             /* longest side of those copies; 0 = 320 */
    int keep_crops;             /* keep each face crop at model input size (plots, Grad-CAM) */
    int threads;                /* videos: 1 decodes, finds faces and judges in turn on the
                                 * calling thread; N > 1 decodes on a thread of its own while N
                                 * threads find faces in the frames already decoded, frames judged
                                 * in order (same results); 0 = one per CPU */
    fs_scan_progress_fn progress;
    void *progress_ctx;
    const fs_media_decoder *decoder; /* fs_scan_memory: NULL decodes in this process */
    /* Robustness tests (eval --scale, --jpeg): each decoded frame or picture is first shrunk
     * by degrade_scale (0 or 1: not) and then re-encoded as JPEG at degrade_jpeg (1..100; 0:
     * not), before faces are looked for, as an upload that went through a platform would be. */
    double degrade_scale;
    int degrade_jpeg;
} fs_scan_opts;
/* Defaults: 32 evenly spaced frames, default cascade parameters with faces of at least
 * FS_SCAN_MIN_FACE_SHARE of the shorter side, 30% margin, faces only, one face-finding thread
 * per CPU. */
fs_scan_opts fs_scan_opts_default(void);

typedef struct fs_scanner fs_scanner;
/* threads: per network context (<= 0: all CPUs). A detector without models gives a crops-only
 * scanner: faces are found, tracked and (with keep_crops) cropped at FS_DETECT_CROP_SIDE square
 * exactly as for a model of that input, the main person is chosen as usual, but no score is
 * computed (p_fake 0, every verdict report zeroed): how training data is cut from videos. */
fs_err fs_scanner_create(fs_detector *d, int threads, fs_scanner **out, fs_msg *msg);
void fs_scanner_free(fs_scanner *s);

typedef struct fs_scan_face {
    fs_box box;       /* the face, in frame pixels (the whole frame in FS_CROP_WHOLE) */
    fs_box crop;      /* the region the models saw (an aligned crop: the box around it) */
    int track;        /* person id, 0.. (stable across frames) */
    int neighbors;    /* cascade windows merged into the box: detection strength */
    float score;      /* the learned detector's score (0 with the cascade) */
    int nkp;          /* keypoints (FS_FACE_KEYPOINTS with the learned detector, else 0) */
    float kp[FS_FACE_KEYPOINTS][2]; /* frame pixels */
    int nlm;          /* 68 with landmarks (fs_detector_load_landmarks), else 0 */
    float lm[68][2];  /* iBUG 300-W order, frame pixels */
    float p_fake[FS_DETECT_MAX_MODELS];
    float raw[FS_DETECT_MAX_MODELS]; /* the network's own sigmoid output */
    fs_image crop_img; /* only with keep_crops: the model input, input size RGB8 */
} fs_scan_face;

typedef struct fs_scan_frame {
    int64_t index;     /* frame number in the video (0 for an image, i for a frame list) */
    double time_s;     /* presentation time; 0 for images and frame lists */
    int n_faces;
    fs_scan_face *faces;
    double faces_ms;   /* face finding in this frame */
    double model_ms[FS_DETECT_MAX_MODELS]; /* each model's inference on this frame's faces */
    fs_image thumb;    /* only with keep_thumbs */
    float thumb_scale; /* thumb pixels per frame pixel */
} fs_scan_frame;

typedef struct fs_scan_person {
    int track;
    int n_frames;            /* frames in which this person has a face */
    fs_verdict_report report; /* per model summaries and verdicts over this person's frames */
} fs_scan_person;

/* Milliseconds. Serially decode = total - faces - inference. In a pipelined video scan the
 * stages overlap: faces and inference are the summed work of each stage and decode the
 * decoding thread's busy time (waits for a free slot excluded), so they add up to more than
 * total, which is wall-clock time. */
typedef struct fs_scan_timing {
    double decode_ms, faces_ms, inference_ms, total_ms;
} fs_scan_timing;

typedef struct fs_scan_result {
    int is_video;
    int width, height;        /* of the picture */
    fs_video_info video;      /* when is_video */
    int n_models;
    char models[FS_DETECT_MAX_MODELS][FS_DETECT_NAME_MAX];
    int n_frames;
    fs_scan_frame *frames;
    int n_people;
    fs_scan_person *people;
    int main_person;           /* track judged by `overall`; -1 when no face was found */
    fs_verdict_report overall; /* status NO_FACE when no frame had a face */
    int whole_image;           /* 1 when the picture itself was judged (no face crop) */
    unsigned box_not_aligned;  /* bit m: model m's card asks for faces aligned on their
                                * landmarks, but the face finder (the cascade) gives none, so
                                * its faces were cut by box: its scores are off its training
                                * (the JSON's "warnings" says so) */
    fs_scan_timing timing;
} fs_scan_result;

void fs_scan_result_free(fs_scan_result *r);

/* Scans a file: an image (by content) or else a video. Errors: those of the decoders
 * (FS_ERR_FORMAT for what is neither a decodable image nor video, FS_ERR_UNSUPPORTED for a
 * file with no video stream, FS_ERR_LIMIT, ...); NO_FACE is not an error but a status. */
fs_err fs_scan_file(fs_scanner *s, const char *path, const fs_scan_opts *o, fs_scan_result *out,
                    fs_msg *msg);
/* The same on bytes in memory (uploads), decoded by o->decoder when one is given. */
fs_err fs_scan_memory(fs_scanner *s, const uint8_t *data, size_t len, const fs_scan_opts *o,
                      fs_scan_result *out, fs_msg *msg);
/* Scans a list of decoded frames as one clip (frame i has index i, time 0). */
fs_err fs_scan_images(fs_scanner *s, const fs_image *frames, int n, const fs_scan_opts *o,
                      fs_scan_result *out, fs_msg *msg);

/* ---- explanations (detect/explain.c) ----
 * Grad-CAM (model.h) of one judged crop for model i of the scanner, and its picture: the heat
 * map upsampled to the crop, colour-mapped (viridis: dark = no weight, yellow = most) and
 * blended over it with FS_EXPLAIN_ALPHA. crop is what the scan kept with keep_crops (any size:
 * it is resized to the model input when it differs). A diagnostic of what the network looked
 * at, not proof (docs/explain.md). Both out-parameters are zeroed first; release with
 * fs_explanation_free (safe on a zeroed struct). */
#define FS_EXPLAIN_ALPHA 0.5

typedef struct fs_explanation {
    fs_gradcam cam;
    fs_image overlay; /* crop size, RGB8 */
} fs_explanation;

fs_err fs_scanner_explain(fs_scanner *s, int model, const fs_image *crop, fs_explanation *out,
                          fs_msg *msg);
void fs_explanation_free(fs_explanation *x);
/* The network of model i of a scanner's detector (borrowed; NULL when i is out of range). */
const struct fs_net *fs_scanner_net(const fs_scanner *s, int i);

/* Evidence pictures of a scan (media/plot underneath). The timeline draws, per model, the
 * P(fake) of each sampled frame (the highest among its faces; gaps where no face was found)
 * against time, with the threshold line. The contact sheet tiles the sampled frames (needs
 * keep_thumbs) with every face box drawn in its person's colour and labelled with the person
 * and the first model's P(fake). Both return new images the caller frees. */
fs_err fs_scan_timeline(const fs_scan_result *r, const char *title, double threshold,
                        fs_image *out, fs_msg *msg);
fs_err fs_scan_sheet(const fs_scan_result *r, const char *title, fs_image *out, fs_msg *msg);

/* One JSON object (jansson, new reference) in the shape of the command-line contract:
 * status, media, models, frames, people, verdicts, summaries, timing. NULL on allocation
 * failure. */
struct json_t;
struct json_t *fs_scan_result_json(const fs_scan_result *r, const char *file);
/* The warning for model m of r when its bit in box_not_aligned is set (what the JSON's
 * "warnings" holds and `fakescope scan` prints), into buf; 0 when there is none. */
int fs_scan_box_warning(const fs_scan_result *r, int m, char *buf, size_t cap);

#endif
