#!/usr/bin/python3
"""Reference for bench/http_bench.sh: the image check (seed 001) as a minimal Flask + PyTorch
server doing the same work per request as fakescope's: parse the JSON body, check both
credentials, decode the base64 data: URL and the JPEG, resize to 256x256, run Meso4 (the graph
of bench/torch_meso.py, random weights, eval mode, no autograd) and answer in the seed's shape.
Bench only, not part of fakescope.

usage: flask_imagecheck.py PORT KEY     (serves until killed; prints "listening" when ready)
"""
import base64
import json
import os
import sys

import cv2
import numpy as np
import torch
from flask import Flask, Response, request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_meso import Meso4  # noqa: E402

PORT, KEY = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(1)  # parallelism from concurrent requests, as fakescope's scanners
torch.set_grad_enabled(False)
MODEL = Meso4().eval()
app = Flask(__name__)


def error(status, message):
    return Response(json.dumps({"statusCode": status, "message": "Error: " + message}), status,
                    mimetype="application/json")


@app.post("/api/1.1/wf/api-deepfake-detection")
def detect():
    auth = request.headers.get("Authorization", "")
    body = request.get_json(silent=True)
    if auth != "Bearer " + KEY or not isinstance(body, dict) or body.get("token") != KEY:
        return Response(json.dumps({"error_class": "Unauthorized", "args": {"code": "0"},
                                    "message": None, "translation": "Invalid or expired token"}),
                        401, mimetype="application/json")
    if body.get("modelName") != "meso4-df":
        return error(400, "incorrect modelName provided")
    url = body.get("imageUrl", "")
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        return error(400, "imageUrl must be a data: URL here")
    try:
        raw = base64.b64decode(url.split(",", 1)[1], validate=True)
        img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    except Exception:
        img = None
    if img is None:
        return error(400, "the file is not an image")
    img = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    p_real = float(MODEL(x)[0, 0])
    p_fake = 1.0 - p_real
    return Response(json.dumps({"status": "success", "response": {
        "result": "Artificial" if p_fake >= 0.5 else "Genuine", "labels": ["Artificial", "Genuine"],
        "confidence": [p_fake, 1.0 - p_fake]}}), 200, mimetype="application/json")


if __name__ == "__main__":
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print("listening", flush=True)
    app.run(host="127.0.0.1", port=PORT, threaded=True)
