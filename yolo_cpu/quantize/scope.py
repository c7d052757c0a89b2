"""The quantization scope chosen per model: start from everything INT8 but the box decode, rank each
quantized layer by the mAP50-95 it gives back on the held-out calibration images when it alone runs
float, then give back float in that order until the measured drop is within the budget."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from yolo_cpu.accuracy.scoring import coco_map, to_coco
from yolo_cpu.data import coco
from yolo_cpu.data.calibration import CalibrationSet
from yolo_cpu.runtime.postprocess import postprocess
from yolo_cpu.runtime.runtimes import ov_core

CONF, IOU, MAX_DET = 0.001, 0.65, 300  # the evaluation's settings (mAP needs the low-confidence tail)
BATCH = 8


@dataclass
class HeldOut:
    """The held-out calibration images with their labels as COCO ground truth."""

    calib: CalibrationSet
    gt: dict[str, Any]
    image_ids: list[int]
    category_ids: list[int]

    @classmethod
    def of(cls, calib: CalibrationSet, classes: coco.Classes) -> "HeldOut":
        items, ids = [], []
        for path, lb in zip(calib.held_out_files, calib.held_out_letterboxes):
            labels = coco.parse_labels(path.parent.parent / "labels" / f"{path.stem}.txt", len(classes))
            ids.append(coco.image_id(path))
            items.append((ids[-1], path.name, lb.orig_w, lb.orig_h, labels))
        return cls(calib, coco.gt_from_labels(items, classes), ids, list(classes.ids))

    def __len__(self) -> int:
        return len(self.image_ids)

    def map50_95(self, model, precision: str = "f32", limit: int | None = None) -> float:
        """mAP50-95 in points of an OpenVINO model (compiled here with `precision`) on the first
        `limit` held-out images (all when None). The LATENCY hint, as the evaluation: OpenVINO 2026.4
        computes wrong outputs for an INT8 model with some layers float under the THROUGHPUT hint at a
        dynamic batch (scripts/probes/ov_partial_int8_dynamic.py)."""
        compiled = ov_core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                           "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        dets: list[dict[str, Any]] = []
        ids = iter(self.image_ids)
        for x, lbs in self.calib.held_out_batches(BATCH, limit):
            y = request.infer({0: x})[0]
            for d in postprocess(np.asarray(y), lbs, CONF, IOU, MAX_DET):
                dets += to_coco(next(ids), d, self.category_ids)
        n = len(self) if limit is None else min(limit, len(self))
        gt = self.gt if n == len(self) else restrict_images(self.gt, self.image_ids[:n])
        return 100 * coco_map(gt, dets, per_class=False)["map50_95"]


def restrict_images(gt: dict[str, Any], image_ids: list[int]) -> dict[str, Any]:
    keep = set(image_ids)
    return {**gt, "images": [i for i in gt["images"] if i["id"] in keep],
            "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}


def quantized_layers(model) -> list[str]:
    """Names of the ops that take an input from a FakeQuantize: the layers NNCF made INT8, each of
    which an ignored scope entry can give back to float."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() != "FakeQuantize"
            and any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())]


def with_float(model, layers: set[str]):
    """A copy of a quantized model in which `layers` read their inputs before the FakeQuantize, so
    they run float (the FakeQuantize nodes no other op reads drop out of the graph)."""
    copy = model.clone()
    for op in copy.get_ops():
        if op.get_friendly_name() in layers:
            for i in op.inputs():
                src = i.get_source_output().get_node()
                if src.get_type_name() == "FakeQuantize":
                    i.replace_source_output(src.input_value(0))
    return copy


@dataclass
class Scope:
    """The search's outcome: the layers given back to float (most sensitive first), each with the
    points it gave back alone, and every measurement on the way."""

    budget_points: float
    fp32_map: float
    int8_map: float  # the final model's
    float_layers: list[str]
    gains: dict[str, float]  # layer -> points given back when it alone runs float (ranking subset)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def drop(self) -> float:
        return self.fp32_map - self.int8_map

    def details(self, rank_images: int, images: int) -> dict[str, Any]:
        order = sorted(self.gains, key=self.gains.get, reverse=True)
        return {
            "budget_points": self.budget_points, "held_out_images": images, "rank_images": rank_images,
            "heldout_map50_95_fp32": round(self.fp32_map, 3), "heldout_map50_95_int8": round(self.int8_map, 3),
            "heldout_drop_points": round(self.drop, 3), "budget_met": self.drop <= self.budget_points,
            "float_layers": [{"layer": n, "rank": order.index(n) + 1, "gain_points": round(self.gains[n], 3),
                              "reason": f"alone it gave back {self.gains[n]:+.3f} mAP50-95 points on {rank_images} "
                                        f"held-out images (rank {order.index(n) + 1} of {len(order)})"}
                             for n in self.float_layers],
            "sensitivity": [{"layer": n, "gain_points": round(self.gains[n], 3)} for n in order],
            "steps": self.steps,
        }


def smallest_within(lo: int, hi: int, drop_at: Callable[[int], float], budget: float) -> int:
    """The smallest k in (lo, hi] whose drop_at(k) is within the budget, by bisection: drop_at(lo) is
    known to miss it and hi (every layer float) is taken to meet it. The drop falls roughly, not
    strictly, as layers go float, so this finds a k within budget, close to the smallest."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if drop_at(mid) <= budget:
            hi = mid
        else:
            lo = mid
    return hi


def search(fp32, quantize: Callable[[list[str]], Any], base_ignored: list[str], held: HeldOut,
           budget_points: float, rank_images: int, max_float: int, log: Callable[[str], None] = lambda s: print(s, flush=True)
           ) -> tuple[Any, Scope]:
    """(quantized model, scope): quantize everything but `base_ignored`, then give layers back to float,
    most sensitive first, until the held-out mAP50-95 drop is within `budget_points`. The ranking
    bypasses one layer's FakeQuantize at a time; how many layers go float is bisected on bypassed
    models, then the model is quantized again with them in its ignored scope and measured; if that
    misses the budget, the count is bisected again on quantized models. At most `max_float` layers go
    float: where the held-out drop cannot reach the budget with that many, the scope stops there and
    says so (budget_met false) rather than give up the INT8 speed."""
    fp32_map = held.map50_95(fp32)
    model = quantize(base_ignored)
    full = held.map50_95(model)
    log(f"held-out mAP50-95: FP32 {fp32_map:.3f}, all INT8 but the decode {full:.3f}")
    steps = [{"float_layers": 0, "how": "quantized", "heldout_map50_95": round(full, 3)}]
    if fp32_map - full <= budget_points:
        return model, Scope(budget_points, fp32_map, full, [], {}, steps)
    layers = quantized_layers(model)
    base_rank = held.map50_95(model, limit=rank_images)
    gains = {n: held.map50_95(with_float(model, {n}), limit=rank_images) - base_rank for n in layers}
    order = sorted(layers, key=lambda n: (-gains[n], layers.index(n)))
    log("most sensitive: " + ", ".join(f"{n} {gains[n]:+.3f}" for n in order[:5]))
    models: dict[int, Any] = {}

    def drop_at(k: int, how: str) -> float:
        if how == "quantized":
            models[k] = quantize(base_ignored + order[:k])
        m = held.map50_95(models[k] if how == "quantized" else with_float(model, set(order[:k])))
        steps.append({"float_layers": k, "how": how, "heldout_map50_95": round(m, 3)})
        log(f"{k} layers float ({how}): held-out mAP50-95 {m:.3f}, drop {fp32_map - m:.3f} (budget {budget_points})")
        return fp32_map - m

    limit = min(len(order), max_float)
    k = smallest_within(0, limit, lambda k: drop_at(k, "bypassed"), budget_points)
    if drop_at(k, "quantized") > budget_points and k < limit:
        k = smallest_within(k, limit, lambda k: drop_at(k, "quantized"), budget_points)
        if k not in models:  # the limit, never measured on the way
            drop_at(k, "quantized")
    final = next(s for s in reversed(steps) if s["how"] == "quantized" and s["float_layers"] == k)
    return models[k], Scope(budget_points, fp32_map, final["heldout_map50_95"], order[:k], gains, steps)
