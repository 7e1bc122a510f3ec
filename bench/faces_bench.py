"""Helper of bench/faces.sh: samples 1080p frames and times both face finders on them."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2

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

    def opencv(threads):
        cv2.setNumThreads(threads)
        cc = cv2.CascadeClassifier(cascade)
        imgs = [cv2.imread(f) for f in files]
        cc.detectMultiScale(imgs[0], 1.1, 3)  # warm-up
        t0 = time.perf_counter()
        for im in imgs:
            cc.detectMultiScale(im, 1.1, 3)
        return (time.perf_counter() - t0) * 1000 / len(imgs)

    ms_full, ms_640 = ours(0), ours(640)
    cv1, cvn = opencv(1), opencv(-1)
    print("1080p frames: %d, cascade %s, scale 1.1" % (len(files), os.path.basename(cascade)))
    print("%-44s %8.1f ms/frame" % ("fakescope faces --max-side 0 (1 thread)", ms_full))
    print("%-44s %8.1f ms/frame" % ("fakescope faces --max-side 640 (pipeline)", ms_640))
    print("%-44s %8.1f ms/frame" % ("cv2 detectMultiScale, 1 thread", cv1))
    print("%-44s %8.1f ms/frame" % ("cv2 detectMultiScale, %d threads" % cv2.getNumThreads(), cvn))
    print("ratio fakescope/cv2 at full resolution, one thread each: %.2f" % (ms_full / cv1))
