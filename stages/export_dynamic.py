"""export-dynamic stage: an ONNX with a dynamic batch axis (and a YOLOv8/YOLO11 head's output layout
rewritten exactly, see head_rewrite.py), verified against the fixed model."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import onnx

from yolo_cpu import paths
from yolo_cpu.data import dataset
from yolo_cpu.io import atomic_path
from yolo_cpu.measure import budget
from yolo_cpu.models.export import (
    ExportError,
    RewriteInfo,
    load_onnx,
    make_batch_dynamic,
    max_abs_diff_batched,
)
from yolo_cpu.models.head_rewrite import split_head_concats
from yolo_cpu.models.metadata import from_onnx, stamp_onnx
from yolo_cpu.models.model_source import recorded_checkpoint
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results
from yolo_cpu.runtime.preprocess import preprocess
from yolo_cpu.runtime.runtimes import OrtRuntime


def _opset_nodes(path: Path) -> tuple[int, int]:
    model = onnx.load(str(path), load_external_data=False)
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), len(model.graph.node)


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "export")  # model.source: the .pt for export.method ultralytics
    name, e = p["model"]["name"], p["export"]
    budget.check(*budget.needs(p)["export_dynamic"])
    src = paths.fixed_onnx(name)
    out = paths.dynamic_onnx(name)
    with atomic_path(out, ".onnx") as tmp, tempfile.TemporaryDirectory() as work:
        fixed_path = src  # the model as downloaded or exported at batch 1: the reference
        if e["method"] == "ultralytics":
            from yolo_cpu.models.ultralytics_export import export_onnx

            checkpoint = recorded_checkpoint(p["model"]["source"])
            if checkpoint is None:
                raise ExportError(
                    f"export.method = ultralytics needs model.source to be an Ultralytics .pt "
                    f"checkpoint, got {p['model']['source']!r}; use export.method: rewrite for an ONNX"
                )
            export_onnx(checkpoint, tmp, p["model"]["imgsz"], dynamic=True, work=Path(work))
            info = RewriteInfo(True, 0, *_opset_nodes(src))
            dyn = onnx.load(str(tmp))
        else:
            dyn, info = make_batch_dynamic(load_onnx(src))
        head_rewrites = split_head_concats(dyn)  # exact: the verification below compares outputs
        onnx.save(dyn, str(tmp))
        stamp_onnx(tmp, from_onnx(src))  # names, imgsz, layout as the download stage stamped them
        imgs, _, _ = dataset.load_images(dataset.load_split(paths.EVAL_DIR, max(e["verify_batches"])))
        batch, _ = preprocess(imgs, p["model"]["imgsz"])
        diffs = max_abs_diff_batched(OrtRuntime(fixed_path).infer, OrtRuntime(tmp).infer, batch, e["verify_batches"])
        worst = max(diffs.values())
        if worst > e["tolerance"]:
            raise ExportError(
                f"dynamic model differs from {fixed_path} by {worst:.3g} > export.tolerance "
                f"{e['tolerance']} (per batch: {diffs})"
            )
        bytes_fixed = fixed_path.stat().st_size
    write_results(
        "export_dynamic",
        {"max_abs_diff": worst},
        {
            "method": e["method"],
            "source_model": str(p["model"]["source"] if e["method"] == "ultralytics" else src),
            "opset": info.opset,
            "already_dynamic": info.already_dynamic,
            "reshapes_rewritten": info.reshapes_rewritten,
            "head_concats_split": head_rewrites,
            "nodes_fixed": info.nodes,
            "nodes_dynamic": len(onnx.load(str(out), load_external_data=False).graph.node),
            "bytes_fixed": bytes_fixed,
            "bytes_dynamic": out.stat().st_size,
            **{f"max_abs_diff_b{n}": d for n, d in diffs.items()},
        },
        started,
    )


if __name__ == "__main__":
    run(main)
