#!/usr/bin/python3
"""Writes tests/unit/data/metrics_sklearn.json: small labelled score sets and the figures
scikit-learn computes for them (classification_report with labels=[0, 1] and zero_division=0,
confusion_matrix, roc_curve with and without drop_intermediate, roc_auc_score,
average_precision_score) plus the equal error rate found by root finding on the interpolated
ROC curve (scipy's brentq), an independent route to the same number.

test_metrics_binary.c compares libfakescope's figures with this file, so the cross-check runs in every
build without scikit-learn installed. Regenerate after changing the cases:
    apt-get install python3-sklearn      # Debian 12: scikit-learn 1.2
    /usr/bin/python3 tests/tools/metrics_check.py > tests/unit/data/metrics_sklearn.json
"""
import json
import random
import sys

import numpy as np
from scipy.optimize import brentq
from sklearn.metrics import (average_precision_score, classification_report,
                             confusion_matrix, roc_auc_score, roc_curve)

THRESHOLD = 0.5


def cases():
    yield "ties", [0, 0, 1, 1, 0, 1, 1, 0], [0.1, 0.5, 0.5, 0.9, 0.5, 0.2, 0.7, 0.3]
    yield "perfect", [0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9]
    yield "inverted", [1, 1, 0, 0, 0], [0.1, 0.2, 0.7, 0.8, 0.9]
    yield "all_same_score", [0, 1, 1, 0, 1, 0], [0.4] * 6
    yield "all_predicted_negative", [0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4]
    rng = random.Random(20261121)
    for i, n in enumerate([7, 30, 101, 500]):
        labels = [rng.randint(0, 1) for _ in range(n)]
        # Scores that lean towards the label, on a coarse grid so ties are common.
        scores = [round(min(1.0, max(0.0, rng.gauss(0.35 + 0.3 * y, 0.25))), 1 + i % 2)
                  for y in labels]
        yield f"random_{n}", labels, scores


def eer(y, s):
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return brentq(lambda x: 1.0 - x - np.interp(x, fpr, tpr), 0.0, 1.0, xtol=1e-12)


def figures(name, y, s):
    pred = [int(v >= THRESHOLD) for v in s]
    rep = classification_report(y, pred, labels=[0, 1], zero_division=0, output_dict=True)
    rows = []
    for key in ("0", "1", "macro avg", "weighted avg"):
        r = rep[key]
        rows.append([key, r["precision"], r["recall"], r["f1-score"], r["support"]])
    out = {
        "name": name, "labels": y, "scores": s, "threshold": THRESHOLD,
        "confusion": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        "report": rows, "accuracy": rep["accuracy"],
        "roc_auc": roc_auc_score(y, s),
        "average_precision": average_precision_score(y, s),
        "eer": eer(y, s),
    }
    for drop in (False, True):
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=drop)
        # scikit-learn 1.2 puts max(score) + 1 first; libfakescope puts +inf. Leave it out.
        out["roc_drop" if drop else "roc_full"] = {
            "fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr[1:].tolist()}
    return out


def main():
    json.dump([figures(*c) for c in cases()], sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
