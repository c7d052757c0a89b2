"""Decoding of both YOLO layouts and exact greedy NMS."""

import numpy as np
import pytest

from yolo_cpu.runtime.postprocess import (
    Detections,
    box_iou,
    detect_layout,
    match_rate,
    nms,
    postprocess,
)
from yolo_cpu.runtime.preprocess import Letterbox


def brute_force_nms(boxes, scores, thr, max_det):
    """The textbook sequential greedy pass, one box at a time."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(box_iou(boxes[i : i + 1], boxes[j : j + 1])[0, 0] <= thr for j in keep):
            keep.append(i)
        if len(keep) == max_det:
            break
    return keep


def random_boxes(rng, n, spread=200.0):
    xy = rng.random((n, 2)) * spread
    wh = rng.random((n, 2)) * 60 + 5
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


@pytest.mark.parametrize(
    "seed,n,thr,max_det,block",
    [(0, 50, 0.5, 300, 128), (1, 700, 0.45, 300, 128), (2, 900, 0.65, 40, 64), (3, 400, 0.3, 300, 7)],
)
def test_nms_equals_brute_force(seed, n, thr, max_det, block):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n)
    scores = rng.random(n).astype(np.float32)
    got = nms(boxes, scores, thr, max_det, block=block).tolist()
    assert got == brute_force_nms(boxes, scores, thr, max_det)


def test_nms_empty():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


def test_nms_block_limit():
    """Blocks over 255 boxes would overflow the uint8 suppressor counts: refused by name."""
    boxes = random_boxes(np.random.default_rng(4), 10)
    with pytest.raises(ValueError, match="block must be 1-255"):
        nms(boxes, np.ones(10, np.float32), 0.5, block=256)


def v5_tensor(rows):
    """[1, A, 85] with given (xc, yc, w, h, obj, cls, cls_score) rows; other anchors empty."""
    t = np.zeros((1, 200, 85), np.float32)  # anchors outnumber channels, as in every real model
    for i, (xc, yc, w, h, obj, c, s) in enumerate(rows):
        t[0, i, :5] = [xc, yc, w, h, obj]
        t[0, i, 5 + c] = s
    return t


def test_decode_v5_known_answer():
    t = v5_tensor(
        [
            (100, 100, 20, 40, 0.9, 2, 0.8),  # kept: car, score 0.72
            (101, 100, 20, 40, 0.8, 2, 0.8),  # duplicate of the first (same class): suppressed
            (101, 100, 20, 40, 0.9, 5, 0.9),  # same place, other class: kept (class-aware)
            (300, 300, 10, 10, 0.2, 0, 0.9),
        ]
    )  # 0.18 < conf: dropped
    (d,) = postprocess(t, None, conf=0.25, iou=0.45)
    assert d.classes.tolist() == [5, 2]
    np.testing.assert_allclose(d.scores, [0.81, 0.72], rtol=1e-6)
    np.testing.assert_allclose(d.boxes[1], [90, 80, 110, 120])


def test_decode_v8_layout_and_class_filter():
    t = np.zeros((1, 84, 100), np.float32)  # [N, 4 + 80, anchors]
    t[0, :4, 3] = [50, 60, 10, 20]
    t[0, 4 + 0, 3] = 0.7
    t[0, :4, 7] = [200, 200, 30, 30]
    t[0, 4 + 16, 7] = 0.6
    assert detect_layout(t) == "v8"
    (d,) = postprocess(t, None, conf=0.25, iou=0.45)
    assert d.classes.tolist() == [0, 16]
    np.testing.assert_allclose(d.boxes[0], [45, 50, 55, 70])
    (only_dogs,) = postprocess(t, None, conf=0.25, classes=[16])
    assert only_dogs.classes.tolist() == [16]


def test_max_det_and_scaling_back():
    t = v5_tensor([(50 + 40 * i, 100, 20, 20, 0.9, 0, 0.9 - 0.01 * i) for i in range(10)])
    lb = Letterbox(gain=0.5, pad_x=0.0, pad_y=80.0, orig_h=960, orig_w=1280)
    (d,) = postprocess(t, [lb], conf=0.1, iou=0.45, max_det=3)
    assert len(d) == 3
    np.testing.assert_allclose(d.boxes[0], [80, 20, 120, 60])  # ((40-0)/0.5, (90-80)/0.5, ...)


def test_match_rate():
    a = Detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0.9, 0.8]), np.array([1, 2]))
    same = Detections(a.boxes + 0.5, a.scores, a.classes)
    wrong_class = Detections(a.boxes, a.scores, np.array([1, 3]))
    assert match_rate([a], [same]) == 1.0
    assert match_rate([a], [wrong_class]) == 0.5
