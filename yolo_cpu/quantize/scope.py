"""The quantization scope chosen per model: start from everything INT8 but the box decode, rank each
quantized layer by the fidelity to FP32 it gives back on the held-out calibration images when it alone
runs float, then give back float in that order until the predicted mAP50-95 drop is within the budget.
Float layers cost speed, so they are kept only where the held-out images show they buy mAP against the
labels: when all INT8's drop there is not separable from zero, no layer can show a gain and the search
stops before ranking; float layers it finds stay float only if their mAP gain is separable from zero.

Fidelity is mAP50-95 against FP32's own confident detections: it measures how far INT8 moves the
detections, with far less sampling noise than a mAP drop on a few hundred images (a few tenths of a
point, as large as the budget). The drop is predicted from it: drop = scale x (100 - fidelity), the
scale fitted on coarser quantizations of the same model (128 and 64 levels), whose drops stand out
of that noise where INT8 loses enough (scripts/probes/fidelity_scale.py measures the relation; the
findings show where 200 held-out images are too few to fit it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from yolo_cpu.accuracy.map_bootstrap import DeltaInterval, matches_of, paired_delta
from yolo_cpu.accuracy.scoring import coco_map, evaluated, to_coco
from yolo_cpu.data import coco
from yolo_cpu.data.calibration import CalibrationSet
from yolo_cpu.runtime.postprocess import postprocess
from yolo_cpu.runtime.runtimes import ov_core

CONF, IOU, MAX_DET = 0.001, 0.65, 300  # the evaluation's settings (mAP needs the low-confidence tail)
REFERENCE_CONF = 0.25  # FP32's detections scoring at least this are the ground truth fidelity is scored against
BATCH = 8
RESAMPLES = 1000  # paired resamples of the held-out images behind the drop's and the float layers' intervals


@dataclass
class HeldOut:
    """The held-out calibration images with their labels as COCO ground truth."""

    calib: CalibrationSet
    gt: dict[str, Any]
    image_ids: list[int]
    category_ids: list[int]
    reference: dict[str, Any] | None = None  # FP32's confident detections as ground truth (use_reference)

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

    def detections(self, model, precision: str = "f32", limit: int | None = None) -> list[dict[str, Any]]:
        """COCO detections of an OpenVINO model (compiled here with `precision`) on the first `limit`
        held-out images (all when None). The LATENCY hint, as the evaluation: OpenVINO 2026.4
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
        return dets

    def map50_95(self, model, precision: str = "f32", limit: int | None = None) -> float:
        """mAP50-95 in points against the labels on the first `limit` held-out images."""
        return self.score(self.gt, self.detections(model, precision, limit), limit)

    def use_reference(self, fp32) -> "Point":
        """Take the FP32 model's confident detections as the reference fidelity is scored against;
        returns FP32 on every held-out image (its fidelity set to 100: it is the reference)."""
        dets = self.detections(fp32)
        self.reference = as_ground_truth(self.gt, dets, REFERENCE_CONF)
        return Point(self.score(self.gt, dets, None), 100.0, dets)

    def measure(self, model, limit: int | None = None) -> "Point":
        """One pass on the first `limit` held-out images, scored against the labels and the reference."""
        dets = self.detections(model, "f32", limit)
        return Point(self.score(self.gt, dets, limit), self.score(self._reference(), dets, limit), dets)

    def map_gain(self, base: "Point", other: "Point") -> DeltaInterval:
        """`other`'s mAP50-95 against the labels minus `base`'s (points; both measured on every held-out
        image) with its 95% interval over paired resamples of the images."""
        return paired_delta(matches_of(evaluated(self.gt, base.detections)),
                            matches_of(evaluated(self.gt, other.detections)), RESAMPLES, 0)

    def fidelity(self, model, limit: int | None = None) -> float:
        """Fidelity alone (points) on the first `limit` held-out images: what the ranking needs."""
        return self.score(self._reference(), self.detections(model, "f32", limit), limit)

    def _reference(self) -> dict[str, Any]:
        if self.reference is None:
            raise RuntimeError("HeldOut.use_reference(fp32) must run before fidelity is measured")
        return self.reference

    def score(self, gt: dict[str, Any], dets: list[dict[str, Any]], limit: int | None) -> float:
        """mAP50-95 in points of `dets` against `gt` on the first `limit` held-out images."""
        n = len(self) if limit is None else min(limit, len(self))
        return 100 * coco_map(gt if n == len(self) else restrict_images(gt, self.image_ids[:n]), dets,
                              per_class=False)["map50_95"]


def as_ground_truth(gt: dict[str, Any], dets: list[dict[str, Any]], min_score: float) -> dict[str, Any]:
    """`gt` with its annotations replaced by the detections scoring at least `min_score`: a reference
    model's confident detections as the ground truth another model's fidelity is scored against."""
    anns = [{"id": i + 1, "image_id": d["image_id"], "category_id": d["category_id"], "bbox": d["bbox"],
             "area": round(d["bbox"][2] * d["bbox"][3], 3), "iscrowd": 0}
            for i, d in enumerate(d for d in dets if d["score"] >= min_score)]
    return {**gt, "annotations": anns}


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


def with_levels(model, levels: int):
    """A copy of a quantized model whose FakeQuantize nodes all quantize to `levels` levels over the
    same ranges: a coarser quantization of the same model (256 levels is the model itself)."""
    import openvino.opset13 as ops

    copy = model.clone()
    for fq in [op for op in copy.get_ops() if op.get_type_name() == "FakeQuantize"]:
        coarse = ops.fake_quantize(*[i.get_source_output() for i in fq.inputs()], levels,
                                   auto_broadcast=fq.get_attributes()["auto_broadcast"])
        coarse.set_friendly_name(fq.get_friendly_name())
        fq.output(0).replace(coarse.output(0))
    copy.validate_nodes_and_infer_types()
    return copy


@dataclass(frozen=True)
class Point:
    """A model on the held-out images: mAP50-95 against the labels and fidelity against FP32 (points)."""

    map50_95: float
    fidelity: float
    detections: list[dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    @property
    def fidelity_loss(self) -> float:
        return 100.0 - self.fidelity


SCALE_LEVELS = (128, 64)  # coarser copies of the INT8 model the drop-per-fidelity-point scale is fitted on


def drop_scale(fp32_map: float, points: list[Point]) -> float:
    """mAP50-95 points lost per point of fidelity lost: least squares through the origin (no fidelity
    lost, no drop) over `points`; 0 when they lose no fidelity or the fit comes out negative."""
    loss = np.array([p.fidelity_loss for p in points])
    drop = np.array([fp32_map - p.map50_95 for p in points])
    denom = float(loss @ loss)
    return max(0.0, float(loss @ drop) / denom) if denom > 0 else 0.0


def interval(d: DeltaInterval | None) -> dict[str, Any] | None:
    return None if d is None else {"delta": round(d.delta, 3), "lo": round(d.lo, 3), "hi": round(d.hi, 3),
                                   "resamples": RESAMPLES}


@dataclass
class Scope:
    """The search's outcome: the layers given back to float (most sensitive first), each with the
    fidelity it gave back alone, the drop scale, every measurement on the way and why it stopped."""

    budget_points: float
    fp32_map: float
    scale: float  # mAP50-95 points per fidelity point
    scale_points: dict[int, Point]  # FakeQuantize levels -> that coarser model measured
    final: Point
    outcome: str  # one of OUTCOMES
    int8_drop: DeltaInterval  # FP32's held-out mAP50-95 minus all INT8's, with its interval
    float_layers: list[str] = field(default_factory=list)
    gains: dict[str, float] = field(default_factory=dict)  # layer -> fidelity given back alone (ranking subset)
    steps: list[dict[str, Any]] = field(default_factory=list)
    float_gain: DeltaInterval | None = None  # the found float layers' held-out mAP50-95 gain over all INT8
    rejected: list[str] = field(default_factory=list)  # found float layers whose gain was not separable from zero

    @property
    def predicted_drop(self) -> float:
        return self.scale * self.final.fidelity_loss

    def details(self, rank_images: int, images: int) -> dict[str, Any]:
        order = sorted(self.gains, key=self.gains.get, reverse=True)
        return {
            "budget_points": self.budget_points, "held_out_images": images, "rank_images": rank_images,
            "reference_conf": REFERENCE_CONF, "outcome": self.outcome,
            "predicted_drop_points": round(self.predicted_drop, 3), "budget_met": self.predicted_drop <= self.budget_points,
            "drop_per_fidelity_point": round(self.scale, 4),
            "scale_fit": [{"levels": n, "heldout_map50_95": round(p.map50_95, 3), "heldout_fidelity": round(p.fidelity, 3)}
                          for n, p in self.scale_points.items()],
            "heldout_map50_95_fp32": round(self.fp32_map, 3), "heldout_map50_95_int8": round(self.final.map50_95, 3),
            "heldout_fidelity": round(self.final.fidelity, 3),
            "heldout_drop_points": round(self.fp32_map - self.final.map50_95, 3),
            "heldout_int8_drop": interval(self.int8_drop),
            "float_layers": [{"layer": n, "rank": order.index(n) + 1, "gain_fidelity": round(self.gains[n], 3),
                              "reason": f"alone it gave back {self.gains[n]:+.3f} points of fidelity to FP32 "
                                        f"(~{self.scale * self.gains[n]:.3f} mAP50-95 points) on {rank_images} "
                                        f"held-out images (rank {order.index(n) + 1} of {len(order)})"}
                             for n in self.float_layers],
            "sensitivity": [{"layer": n, "gain_fidelity": round(self.gains[n], 3)} for n in order],
            "steps": self.steps,
            "float_gain_map50_95": interval(self.float_gain),
            "float_layers_rejected": self.rejected,
        }


OUTCOMES = {
    "within_budget": "all INT8 is predicted within the budget",
    "drop_not_separable": "all INT8's held-out drop is not separable from zero: no float layer can show a gain",
    "float_kept": "the float layers found gain mAP separable from zero over all INT8",
    "float_rejected": "the float layers found gain no mAP separable from zero over all INT8: all INT8 kept",
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
    most sensitive first, until the predicted held-out mAP50-95 drop is within `budget_points`. The
    ranking bypasses one layer's FakeQuantize at a time; how many layers go float is bisected on
    bypassed models, then the model is quantized again with them in its ignored scope and measured; if
    that misses the budget, the count is bisected again on quantized models. Float layers cost speed,
    so they must buy mAP the held-out images can show: when all INT8's drop against the labels is not
    separable from zero (its paired-bootstrap 95% interval reaches zero) the search stops there, and
    the layers it finds are kept only if their mAP gain over all INT8 is separable from zero. At most
    `max_float` layers go float: where that cannot reach the budget, the scope stops there and says so
    (budget_met false) rather than give up the INT8 speed."""
    reference = held.use_reference(fp32)
    fp32_map = reference.map50_95
    model = quantize(base_ignored)
    first = held.measure(model)
    scale_points = {256: first, **{n: held.measure(with_levels(model, n)) for n in SCALE_LEVELS}}
    scale = drop_scale(fp32_map, list(scale_points.values()))
    drop = held.map_gain(first, reference)
    log(f"held-out mAP50-95: FP32 {fp32_map:.3f}, all INT8 but the decode {first.map50_95:.3f} (drop "
        f"{drop.delta:+.3f} [{drop.lo:+.3f}, {drop.hi:+.3f}], fidelity {first.fidelity:.3f}); {scale:.4f} mAP "
        f"points per fidelity point")
    steps: list[dict[str, Any]] = []

    def record(k: int, how: str, p: Point) -> float:
        predicted = scale * p.fidelity_loss
        steps.append({"float_layers": k, "how": how, "heldout_map50_95": round(p.map50_95, 3),
                      "heldout_fidelity": round(p.fidelity, 3), "predicted_drop_points": round(predicted, 3)})
        log(f"{k} layers float ({how}): fidelity {p.fidelity:.3f}, predicted drop {predicted:.3f} "
            f"(budget {budget_points}), measured {fp32_map - p.map50_95:.3f}")
        return predicted

    def all_int8(outcome: str, **more: Any) -> tuple[Any, Scope]:
        log(f"every layer stays INT8: {OUTCOMES[outcome]}")
        return model, Scope(budget_points, fp32_map, scale, scale_points, first, outcome, drop, steps=steps, **more)

    if record(0, "quantized", first) <= budget_points:
        return all_int8("within_budget")
    if drop.lo <= 0:
        return all_int8("drop_not_separable")
    layers = quantized_layers(model)
    base_rank = held.fidelity(model, rank_images)
    gains = {n: held.fidelity(with_float(model, {n}), rank_images) - base_rank for n in layers}
    order = sorted(layers, key=lambda n: (-gains[n], layers.index(n)))
    log("most sensitive: " + ", ".join(f"{n} {gains[n]:+.3f}" for n in order[:5]))
    models: dict[int, tuple[Any, Point]] = {}

    def drop_at(k: int, how: str) -> float:
        m = quantize(base_ignored + order[:k]) if how == "quantized" else with_float(model, set(order[:k]))
        p = held.measure(m)
        if how == "quantized":
            models[k] = (m, p)
        return record(k, how, p)

    limit = min(len(order), max_float)
    k = smallest_within(0, limit, lambda k: drop_at(k, "bypassed"), budget_points)
    if drop_at(k, "quantized") > budget_points and k < limit:
        k = smallest_within(k, limit, lambda k: drop_at(k, "quantized"), budget_points)
        if k not in models:  # the limit, never measured on the way
            drop_at(k, "quantized")
    final_model, final = models[k]
    gain = held.map_gain(first, final)
    log(f"{k} layers float gain {gain.delta:+.3f} mAP50-95 [{gain.lo:+.3f}, {gain.hi:+.3f}] over all INT8")
    if gain.lo <= 0:  # no surer than noise: keep INT8's speed
        return all_int8("float_rejected", gains=gains, float_gain=gain, rejected=order[:k])
    return final_model, Scope(budget_points, fp32_map, scale, scale_points, final, "float_kept", drop, order[:k],
                              gains, steps, gain)
