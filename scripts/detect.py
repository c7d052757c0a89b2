"""Detect objects in your images with a model this pipeline made: JPEG (or PNG...) files in, one JSON
line per image out (xyxy boxes in image pixels, scores, class ids and names).

Usage: python scripts/detect.py MODEL IMAGE... [--precision f32|bf16] [--batch N] [--conf 0.25] [--iou 0.45]
  MODEL: an OpenVINO IR (models/ov_int8/<name>.xml, ...) or a dynamic-batch ONNX
  e.g.   python scripts/detect.py models/ov_int8/yolov8n.xml photos/*.jpg --precision bf16 > detections.jsonl
Class names come from the pipeline's ground truth (data/eval/instances.json) when it exists."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core.deploy import DEPLOY_CONF, DEPLOY_IOU, Detector  # noqa: E402
from stages.core.paths import EVAL_GT  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("images", type=Path, nargs="+")
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--conf", type=float, default=DEPLOY_CONF)
    ap.add_argument("--iou", type=float, default=DEPLOY_IOU)
    a = ap.parse_args()
    names = [c["name"] for c in json.loads(EVAL_GT.read_text())["categories"]] if EVAL_GT.is_file() else None
    with Detector(a.model, a.precision, batch=a.batch, conf=a.conf, iou=a.iou) as detector:  # closed before exit
        for path, d in zip(a.images, detector.detect(a.images)):
            classes = d.classes.tolist()
            print(json.dumps({"image": str(path), "boxes_xyxy": [[round(v, 1) for v in b] for b in d.boxes.tolist()],
                              "scores": [round(s, 4) for s in d.scores.tolist()], "classes": classes,
                              **({"names": [names[c] for c in classes]} if names else {})}))


if __name__ == "__main__":
    main()
