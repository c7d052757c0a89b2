"""inputs stage (always runs): what the user's model and dataset files are now. A local model file, or
a URL's bytes (fetched once into downloads/, checked against model.sha256), is recorded with its
sha256, and a data YAML with a listing hash (every image and label file's path, size and mtime), so
replacing a file at the same path reruns download and what follows; when nothing
changed, the file is byte-identical and nothing reruns. A .pt model's record is also written alone
(null for an ONNX source), for bench-torch, which runs the .pt itself but reads no dataset."""

from __future__ import annotations

import json

from yolo_cpu import paths
from yolo_cpu.data import assets
from yolo_cpu.data.data_yaml import COCO, DataYaml
from yolo_cpu.io import write_text
from yolo_cpu.models import model_source
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run


def main() -> None:
    p = params.load("model", "data", "assets")
    m, d, a = p["model"], p["data"], p["assets"]
    data = {"dataset": d["dataset"]}
    if d["dataset"] != COCO:  # COCO comes from the checksummed mirror or the release zips
        data["listing_sha256"] = DataYaml.load(d["dataset"], d["max_listed_images"]).listing_sha256()
    net = assets.net_settings(a)
    record = {"model": model_source.describe(m["name"], m["source"], m["sha256"], net), "data": data}
    write_text(paths.INPUTS, json.dumps(record, indent=2, sort_keys=True) + "\n")
    pt = record["model"] if model_source.checkpoint(m["source"]) is not None else None
    write_text(paths.INPUTS_CHECKPOINT, json.dumps({"checkpoint": pt}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    run(main)
