"""download stage: the model (a release, a file, a URL or an exported .pt), seeded disjoint
eval/calibration splits with labels from COCO or a data YAML, and the eval ground truth."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from yolo_cpu import paths
from yolo_cpu.data import assets, dataset, dataset_source
from yolo_cpu.io import atomic_path, sha256_file, write_json
from yolo_cpu.models import model_info, model_source
from yolo_cpu.models.metadata import model_meta, stamp_onnx
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "assets", "data")
    m, a, d = p["model"], p["assets"], p["data"]

    mirror = assets.Mirror.find(a["mirror"])
    print(assets.where_from(mirror, a["mirror"]), flush=True)
    net = assets.net_settings(a)
    with tempfile.TemporaryDirectory() as work:
        model_src, model_sha, model_from = model_source.acquire(
            m["name"], m["source"], m["sha256"], mirror, net, m["imgsz"], Path(work)
        )
        info = model_info.inspect(model_src, m["imgsz"])  # before any work: the file, expected, found
        source, classes, data_from = dataset_source.open_source(
            d["dataset"], d["gt_source"], mirror, net, d["max_listed_images"]
        )
        name_notes = dataset_source.check_classes(info, m["source"] or model_src, classes, d["dataset"])
        eval_names, calib_names, calib_from = dataset.plan_split(
            source, d["eval_images"], d["calib_images"], d["split_seed"]
        )
        # Build everything in temp locations; rename into place only when all of it succeeded.
        with atomic_path(paths.EVAL_DIR) as eval_tmp, atomic_path(paths.CALIB_DIR) as calib_tmp:
            ev = dataset.write_split(source, eval_names, eval_tmp, d["bad_input"], "eval split", len(classes))
            ca = dataset.write_split(source, calib_names, calib_tmp, d["bad_input"], "calib split", len(classes))
            if not ev.written or not ca.written:
                raise dataset.SplitError("a split is empty after skipping bad inputs")
            gt = dataset.build_ground_truth(ev, source, d["gt_source"], classes)
            write_json(eval_tmp / paths.EVAL_GT.name, gt)
            write_json(calib_tmp / paths.CALIB_CLASSES.name, classes.categories())
            for res, tmp in ((ev, eval_tmp), (ca, calib_tmp)):
                dataset.write_originals(source, res.written, tmp)
            with atomic_path(paths.fixed_onnx(m["name"])) as model_tmp:
                shutil.copyfile(model_src, model_tmp)
                if m["source"] == "" and sha256_file(model_tmp) != model_sha:
                    raise assets.AssetError(f"copy of {model_src} does not match its sha256")
                # the dataset's names (the ones evaluated), input size and layout travel with the model
                stamp_onnx(model_tmp, model_meta(classes.names, m["imgsz"], info.layout))

    write_results(
        "download",
        {
            "eval_images": len(ev.written),
            "calib_images": len(ca.written),
            "eval_objects": ev.objects,
            "skipped_images": len(ev.skipped) + len(ca.skipped),
            "images_without_labels": ev.without_labels + ca.without_labels,
            "eval_split_sha256": ev.sha256,
            "calib_split_sha256": ca.sha256,
        },
        {
            "model": m["name"],
            "model_layout": info.family,
            "classes": len(classes),
            "model_source": m["source"] or "release",
            "model_source_sha256": model_sha,
            "model_fetched_from": model_from,
            "model_bytes": paths.fixed_onnx(m["name"]).stat().st_size,
            "model_class_names": list(info.names) if info.names else None,
            "class_name_differences": name_notes,
            "dataset": d["dataset"],
            "data_source": data_from,
            "class_names": list(classes.names),
            "calibration_from": calib_from,
            "train_val_overlap_left_out": getattr(source, "train_val_overlap", 0),
            "source_images": len(source.image_names),
            "split_seed": d["split_seed"],
            "calib_objects": ca.objects,
            "eval_gt_annotations": len(gt["annotations"]),
            "gt_source": d["gt_source"],
            "skipped": ev.skipped + ca.skipped,
            "eval_bytes": sum(f.stat().st_size for f in Path(paths.EVAL_DIR).rglob("*") if f.is_file()),
        },
        started,
    )
    for note in name_notes[:5]:
        print(f"note: class names differ, the dataset's are used: {note}")


if __name__ == "__main__":
    run(main)
