"""Helper of bench/faces.sh: samples 1080p frames and times the face finders on them: fakescope's
BlazeFace (short and full range) and cascade, the numpy BlazeFace reference of tests/tools, and
OpenCV's cascade. Rounds alternate the order; every figure is the median over the rounds."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import statistics

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
import blazeface_ref  # noqa: E402
import landmarks68_ref  # noqa: E402

binary, data, nframes = sys.argv[1], sys.argv[2], int(sys.argv[3])
cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
videos = sorted(glob.glob(os.path.join(data, "dfdc/videos/*/*.mp4")))
with tempfile.TemporaryDirectory() as tmp:
    files = []
    for v in videos:
        cap = cv2.VideoCapture(v)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        per = max(1, nframes // len(videos))
        for k in range(per):
            cap.set(cv2.CAP_PROP_POS_FRAMES, k * total // per)
            ok, fr = cap.read()
            if ok and fr.shape[0] == 1080:
                f = os.path.join(tmp, "f%03d.png" % len(files))
                cv2.imwrite(f, fr)
                files.append(f)
    if not files:
        sys.exit("no 1080p frames found under " + data)

    def ours(max_side):
        out = subprocess.run([binary, "faces", "--json", "--neighbors", "3", "--max-side",
                              str(max_side)] + files, capture_output=True, text=True, check=True)
        return sum(json.loads(l)["ms"] for l in out.stdout.splitlines()) / len(files)

    def blaze(model, landmarks=False):
        # the first picture also builds the detector's buffers: it is timed like the rest
        out = subprocess.run([binary, "faces", "--json", "--face-model", model] +
                             (["--landmarks"] if landmarks else []) + files,
                             capture_output=True, text=True, check=True)
        return sum(json.loads(l)["ms"] for l in out.stdout.splitlines()) / len(files)

    third = os.environ.get("FAKESCOPE_THIRD_PARTY", os.path.expanduser("~/.cache/fakescope/third_party"))
    tfl = os.path.join(third, "mediapipe-face_detection-0.4.1657300184", "face_detection_full_range.tflite")
    ref_model = blazeface_ref.Model(tfl) if os.path.exists(tfl) else None

    lm_manifest = os.path.join(third, "vladmandic-face-api-1.7.15", "model",
                               "face_landmark_68_model-weights_manifest.json")
    lm_params = landmarks68_ref.load_tfjs(lm_manifest) if os.path.exists(lm_manifest) else None

    def reference(landmarks=False):
        imgs = [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in files]
        t0 = time.perf_counter()
        for im in imgs:
            faces = blazeface_ref.detect(ref_model, im)
            for f in faces if landmarks else []:
                x, _, _, _ = landmarks68_ref.crop(im.astype(np.float64), f["x"], f["y"], f["w"], f["h"])
                landmarks68_ref.net(lm_params, (x - landmarks68_ref.MEAN) / 255.0)
        return (time.perf_counter() - t0) * 1000 / len(imgs)

    def opencv(threads):
        cv2.setNumThreads(threads)
        cc = cv2.CascadeClassifier(cascade)
        imgs = [cv2.imread(f) for f in files]
        cc.detectMultiScale(imgs[0], 1.1, 3)  # warm-up
        t0 = time.perf_counter()
        for im in imgs:
            cc.detectMultiScale(im, 1.1, 3)
        return (time.perf_counter() - t0) * 1000 / len(imgs)

    runs = {}
    rounds = int(os.environ.get("BENCH_FACES_ROUNDS", "3"))
    jobs = [("bf_full", lambda: blaze("blazeface-full")), ("bf_short", lambda: blaze("blazeface-short")),
            ("bf_full_lm", lambda: blaze("blazeface-full", True)),
            ("full", lambda: ours(0)), ("640", lambda: ours(640)), ("cv1", lambda: opencv(1)),
            ("cvn", lambda: opencv(-1))]
    if ref_model is not None:
        jobs.append(("ref", reference))
        if lm_params is not None:
            jobs.append(("ref_lm", lambda: reference(True)))
    for r in range(rounds):
        for name, fn in (jobs if r % 2 == 0 else jobs[::-1]):
            runs.setdefault(name, []).append(fn())
    med = {k: statistics.median(v) for k, v in runs.items()}
    ms_full, ms_640, cv1, cvn = med["full"], med["640"], med["cv1"], med["cvn"]
    print("1080p frames: %d, %d interleaved rounds, medians; cascade %s, scale 1.1"
          % (len(files), rounds, os.path.basename(cascade)))
    print("%-44s %8.1f ms/frame" % ("fakescope BlazeFace full range (1 thread)", med["bf_full"]))
    print("%-44s %8.1f ms/frame" % ("fakescope BlazeFace short range (1 thread)", med["bf_short"]))
    print("%-44s %8.1f ms/frame" % ("fakescope BlazeFace full + 68 landmarks", med["bf_full_lm"]))
    if "ref" in med:
        print("%-44s %8.1f ms/frame" % ("numpy BlazeFace reference, full range", med["ref"]))
        print("ratio numpy reference / fakescope (full range): %.1fx" % (med["ref"] / med["bf_full"]))
        if "ref_lm" in med:
            print("%-44s %8.1f ms/frame" % ("numpy reference, full range + 68 landmarks", med["ref_lm"]))
            print("ratio numpy reference / fakescope (with landmarks): %.1fx" % (med["ref_lm"] / med["bf_full_lm"]))
    else:
        print("numpy reference: not run (%s missing; scripts/deps.sh)" % tfl)
    print("%-44s %8.1f ms/frame" % ("fakescope faces --max-side 0 (1 thread)", ms_full))
    print("%-44s %8.1f ms/frame" % ("fakescope faces --max-side 640 (pipeline)", ms_640))
    print("%-44s %8.1f ms/frame" % ("cv2 detectMultiScale, 1 thread", cv1))
    print("%-44s %8.1f ms/frame" % ("cv2 detectMultiScale, %d threads" % cv2.getNumThreads(), cvn))
    print("ratio fakescope/cv2 at full resolution, one thread each: %.2f" % (ms_full / cv1))
