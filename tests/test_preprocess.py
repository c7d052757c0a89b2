"""The shared letterbox preprocessing: geometry, channel order, inverse mapping."""

import numpy as np
import pytest

from yolo_cpu.runtime.preprocess import (
    ImageReadError,
    letterbox,
    preprocess,
    read_image,
    scale_boxes_back,
    to_tensor,
)


@pytest.mark.parametrize(
    "h,w,gain,new_w,new_h,top,left",
    [
        (480, 640, 1.0, 640, 480, 80, 0),  # landscape COCO size: pad 80 top and bottom
        (640, 480, 1.0, 480, 640, 0, 80),  # portrait
        (427, 640, 1.0, 640, 427, 106, 0),  # odd padding 213: 106 top, 107 bottom (YOLOv5 rounding)
        (375, 500, 1.28, 640, 480, 80, 0),  # upscale
        (333, 517, 640 / 517, 640, 412, 114, 0),  # odd sizes: 333*1.2379=412.2 -> 412, pad 228 -> 114/114
        (1280, 960, 0.5, 480, 640, 0, 80),  # downscale portrait
    ],
)
def test_letterbox_geometry(h, w, gain, new_w, new_h, top, left):
    img = np.full((h, w, 3), 7, np.uint8)
    out, lb = letterbox(img, 640)
    assert out.shape == (640, 640, 3)
    assert lb.gain == pytest.approx(gain)
    assert (lb.orig_h, lb.orig_w) == (h, w)
    # the content block sits at (top, left) with size (new_h, new_w); the rest is pad 114
    content = np.argwhere((out != 114).any(2))
    assert content.min(0).tolist() == [top, left]
    assert (content.max(0) + 1).tolist() == [top + new_h, left + new_w]
    assert (out == 114).all(2).sum() == 640 * 640 - new_w * new_h


def test_preprocess_is_rgb_chw_unit_float():
    img = np.zeros((480, 640, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    x, lbs = preprocess([img, img[:100]])
    assert x.shape == (2, 3, 640, 640) and x.dtype == np.float32
    assert x[0, 2, 320, 320] == 1.0 and x[0, 0, 320, 320] == 0.0  # blue lands in channel 2 (RGB)
    assert x[0, 0, 0, 0] == pytest.approx(114 / 255)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert len(lbs) == 2 and lbs[1].orig_h == 100


def test_to_tensor_equals_the_plain_numpy_formula():
    """The fast channel-split path gives exactly RGB CHW float32 * (1/255) on every pixel value."""
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    imgs[0][0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]
    want = np.stack([im[..., ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255) for im in imgs])
    got = to_tensor(imgs)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
    buf = np.full((4, 3, 64, 64), -1, np.float32)  # a reused buffer: filled in place, leading part returned
    into = to_tensor(imgs, out=buf)
    assert into.shape == (3, 3, 64, 64) and np.shares_memory(into, buf)
    np.testing.assert_array_equal(into, want)
    with pytest.raises(ValueError, match="out must be"):
        to_tensor(imgs, out=np.empty((2, 3, 64, 64), np.float32))
    assert to_tensor([], out=buf).shape[0] == 0 and to_tensor([]).shape[0] == 0


def to_letterbox_coords(xyxy: np.ndarray, lb) -> np.ndarray:
    """The forward map (original pixels -> network-input pixels), written here as the oracle that
    scale_boxes_back must invert."""
    out = np.asarray(xyxy, dtype=np.float32).copy()
    out[:, [0, 2]] = out[:, [0, 2]] * lb.gain + lb.pad_x
    out[:, [1, 3]] = out[:, [1, 3]] * lb.gain + lb.pad_y
    return out


def test_box_round_trip_and_clipping():
    img = np.zeros((427, 640, 3), np.uint8)
    _, lb = letterbox(img)
    boxes = np.array([[10, 20, 300, 400], [0, 0, 640, 427], [600.5, 100.25, 639, 426]], np.float32)
    back = scale_boxes_back(to_letterbox_coords(boxes, lb), lb)
    np.testing.assert_allclose(back, boxes, atol=1e-3)
    outside = scale_boxes_back(np.array([[-50, -50, 700, 700]], np.float32), lb)
    assert outside.tolist() == [[0, 0, 640, 427]]


def test_read_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")
