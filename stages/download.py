"""download stage: the model, seeded disjoint eval/calibration splits with labels, the eval ground truth."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .core import assets, dataset, params, paths
from .core.export import check_yolo_onnx
from .core.io import atomic_path, sha256_file, write_json
from .core.stage import run, write_results


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "assets", "data")
    m, a, d = p["model"], p["assets"], p["data"]

    mirror = assets.Mirror.find(a["mirror"])
    print(assets.where_from(mirror, a["mirror"]), flush=True)
    net = {k: a[k] for k in ("timeout_s", "retries", "deadline_s")}
    model_src, model_sha, model_from = assets.fetch_model(m["name"], mirror, net)
    check_yolo_onnx(model_src, m["imgsz"])  # before any work: the file, what was expected, what was found
    if mirror is not None:
        source, data_from = assets.MirrorSource(mirror), "mirror"
    else:
        zips = assets.fetch_coco_zips(net, official=d["gt_source"] == "official")
        source, data_from = assets.ZipSource(zips), "url"

    eval_names, calib_names = dataset.choose_split(source.image_names, d["eval_images"], d["calib_images"],
                                                   d["split_seed"])
    # Build everything in temp locations; rename into place only when all of it succeeded.
    with atomic_path(paths.EVAL_DIR) as eval_tmp, atomic_path(paths.CALIB_DIR) as calib_tmp:
        ev = dataset.write_split(source, eval_names, eval_tmp, d["bad_input"], "eval split")
        ca = dataset.write_split(source, calib_names, calib_tmp, d["bad_input"], "calib split")
        if not ev.written or not ca.written:
            raise dataset.SplitError("a split is empty after skipping bad inputs")
        gt = dataset.build_ground_truth(ev, source, d["gt_source"])
        write_json(eval_tmp / paths.EVAL_GT.name, gt)
        with atomic_path(paths.fixed_onnx(m["name"])) as model_tmp:
            shutil.copyfile(model_src, model_tmp)
            if sha256_file(model_tmp) != model_sha:
                raise assets.AssetError(f"copy of {model_src} does not match its sha256")

    write_results("download", {
        "eval_images": len(ev.written),
        "calib_images": len(ca.written),
        "eval_objects": ev.objects,
        "skipped_images": len(ev.skipped) + len(ca.skipped),
        "images_without_labels": ev.without_labels + ca.without_labels,
        "eval_split_sha256": ev.sha256,
        "calib_split_sha256": ca.sha256,
    }, {
        "model": m["name"],
        "model_sha256": model_sha,
        "model_bytes": paths.fixed_onnx(m["name"]).stat().st_size,
        "model_source": model_from,
        "data_source": data_from,
        "source_images": len(source.image_names),
        "split_seed": d["split_seed"],
        "calib_objects": ca.objects,
        "eval_gt_annotations": len(gt["annotations"]),
        "gt_source": d["gt_source"],
        "skipped": ev.skipped + ca.skipped,
        "eval_bytes": sum(f.stat().st_size for f in Path(paths.EVAL_DIR).rglob("*") if f.is_file()),
    }, started)


if __name__ == "__main__":
    run(main)
