"""`yolo-cpu detect` never harms the user's files and never dies without a word: run as a user runs it
(the installed console script) on the mirror's real YOLOv8n (made dynamic) and real COCO images.
Oracles: the inputs' bytes before and after, the same command at batch 1, the Detector's list API,
and libjpeg's own warnings for the JPEG check."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import MIRROR, needs_mirror, tool_env

from yolo_cpu.deploy.detector import Detector, SettingError
from yolo_cpu.deploy.memory_budget import MemoryBudgetError
from yolo_cpu.models.export import load_onnx, make_batch_dynamic
from yolo_cpu.runtime.postprocess import match_rate
from yolo_cpu.runtime.preprocess import ImageReadError, jpeg_defect, read_image

pytestmark = needs_mirror
YOLO_CPU = str(Path(sys.executable).parent / "yolo-cpu")
IMAGES = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "yolov8n_dynamic.onnx"
    onnx.save(make_batch_dynamic(load_onnx(MIRROR / "models" / "yolov8n.onnx"))[0], str(path))
    return path


def detect(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [YOLO_CPU, "detect", *map(str, args)], capture_output=True, text=True, env=tool_env(), cwd=cwd, timeout=300
    )


def photos(root: Path) -> dict[Path, bytes]:
    """photos/a.jpg, photos/cam1/frame.jpg, photos/cam2/frame.jpg (real, different images): path -> bytes."""
    files = {
        root / "photos" / "a.jpg": IMAGES[0],
        root / "photos" / "cam1" / "frame.jpg": IMAGES[1],
        root / "photos" / "cam2" / "frame.jpg": IMAGES[2],
    }
    for dest, src in files.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    return {p: p.read_bytes() for p in files}


def unchanged(files: dict[Path, bytes]) -> bool:
    return all(p.read_bytes() == b for p, b in files.items())


def test_save_never_writes_over_an_input_wherever_it_points(model, tmp_path):
    """--save onto the input folder, onto it through a symlink, onto an input file, into a folder holding a
    hard link to an input: refused before any work, one error line, every input byte-identical."""
    files = photos(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "photos")
    (tmp_path / "hard").mkdir()
    os.link(tmp_path / "photos" / "a.jpg", tmp_path / "hard" / "a.jpg")
    for save, said in (
        ("photos", "would write over the input"),
        ("link", "would write over the input"),
        ("photos/a.jpg", "is a file, not a folder"),
        ("hard", "would write over the input"),
    ):
        proc = detect(model, "photos/a.jpg", "photos/cam1/frame.jpg", "--save", save, cwd=tmp_path)
        assert proc.returncode == 1 and proc.stdout == "", save
        assert proc.stderr.count("\n") == 1 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert unchanged(files), f"--save {save} changed an input"
    proc = detect(model, "photos", "--save", "photos", "--overwrite", cwd=tmp_path)  # --overwrite spares inputs too
    assert proc.returncode == 1 and "would write over the input" in proc.stderr and unchanged(files)


def test_save_gives_each_input_its_own_file_and_never_replaces_one_unasked(model, tmp_path):
    """Two inputs named frame.jpg in two folders get two annotated files (their paths below the inputs'
    common folder); a second run into the same folder is refused until --overwrite; a folder that cannot
    be made is named."""
    files = photos(tmp_path)
    proc = detect(model, *files, "--save", "out", cwd=tmp_path)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg"))
    assert written == ["a.jpg", "cam1/frame.jpg", "cam2/frame.jpg"]
    for rel, src in zip(written, files):
        drawn, original = read_image(tmp_path / "out" / rel), read_image(src)
        assert drawn.shape == original.shape and (drawn != original).any()  # its own image, with boxes drawn
    before = (tmp_path / "out" / "a.jpg").read_bytes()
    proc = detect(model, *files, "--save", "out", cwd=tmp_path)
    assert proc.returncode == 1 and "exists already" in proc.stderr and "--overwrite" in proc.stderr
    assert (tmp_path / "out" / "a.jpg").read_bytes() == before
    assert detect(model, *files, "--save", "out", "--overwrite", cwd=tmp_path).returncode == 0
    (tmp_path / "blocker").write_text("a file where a folder is asked for")
    proc = detect(model, next(iter(files)), "--save", "blocker/sub", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "blocker" in proc.stderr
    assert unchanged(files)


def test_every_number_the_cli_takes_is_range_checked(model, tmp_path):
    for flag, value in (
        ("--conf", "-1"),
        ("--conf", "2"),
        ("--iou", "7"),
        ("--batch", "0"),
        ("--batch", "1.5"),
        ("--conf", "nan"),
    ):
        proc = detect(model, IMAGES[0], flag, value, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == "" and f"argument {flag}" in proc.stderr, (flag, value)
        assert value in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [YOLO_CPU, "benchmark-app", "--rounds", "0"],
        capture_output=True,
        text=True,
        env=tool_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2 and "argument --rounds" in proc.stderr
    for bad in ({"conf": 2.0}, {"iou": -0.1}, {"batch": 0}, {"max_det": 0}):
        with pytest.raises(SettingError, match=next(iter(bad))):
            Detector(model, **bad)


def test_a_batch_larger_than_the_inputs_runs_at_their_count_and_one_beyond_memory_is_refused(model, tmp_path):
    """--batch 10000 on 3 images prints what --batch 1 prints (it once took 22 GB and the OOM killer);
    a Detector asked for a batch no machine here holds is refused before anything is compiled."""
    one = detect(model, *IMAGES[:3], "--batch", "1", cwd=tmp_path)
    huge = detect(model, *IMAGES[:3], "--batch", "10000", cwd=tmp_path)
    assert one.returncode == huge.returncode == 0 and len(one.stdout.splitlines()) == 3
    got = [json.loads(x)["detections"] for x in huge.stdout.splitlines()]
    ref = [json.loads(x)["detections"] for x in one.stdout.splitlines()]
    assert [[d["class"] for d in g] for g in got] == [[d["class"] for d in r] for r in ref]
    assert np.allclose(
        [[list(d["box"].values()) for d in g] for g in got][0],
        [[list(d["box"].values()) for d in r] for r in ref][0],
        atol=0.5,
    )
    with pytest.raises(MemoryBudgetError, match=r"batch 1000000 with .* needs about \d+\.\d GiB, more than the"):
        Detector(model, batch=1_000_000)


def test_stream_gives_detect_s_results_in_order_and_stops_cleanly(model):
    """Detector.stream yields what detect returns, image by image in input order; a consumer that stops
    early leaves no request in flight (the same Detector then detects again)."""
    import contextlib

    paths = IMAGES[:7]
    with Detector(model, batch=2) as det:
        whole = det.detect(paths)
        streamed = list(det.stream(paths))
        with contextlib.closing(det.stream(paths)) as it:
            first = next(it)
        again = det.detect(paths[:1])
    assert len(streamed) == len(whole) == 7
    assert all(match_rate([a], [b]) == 1.0 and match_rate([b], [a]) == 1.0 for a, b in zip(streamed, whole))
    assert match_rate([first], [whole[0]]) == 1.0 and match_rate(again, [whole[0]]) == 1.0


def test_ctrl_c_keeps_the_lines_already_printed_and_says_how_many(model, tmp_path):
    """SIGINT once the first line is out: exit 130, every printed line whole JSON and in input order, a
    one-line note with the count, no traceback."""
    paths = [IMAGES[i % len(IMAGES)] for i in range(400)]
    with open(tmp_path / "stderr", "w+") as err_file:
        proc = subprocess.Popen(
            [YOLO_CPU, "detect", str(model), *map(str, paths)],
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            env=tool_env(),
            cwd=tmp_path,
        )
        try:
            first = proc.stdout.readline()
            proc.send_signal(signal.SIGINT)
            rest = proc.stdout.read()  # the same buffered reader: nothing it already holds is lost
            proc.wait(timeout=120)
        finally:
            proc.kill()
        err = (tmp_path / "stderr").read_text()
    lines = [x for x in [first, *rest.splitlines()] if x.strip()]
    assert proc.returncode == 130, err
    assert [json.loads(x)["image"] for x in lines] == [str(p) for p in paths[: len(lines)]]
    assert (
        len(lines) < len(paths)
        and err.strip() == f"interrupted: {len(lines)} of {len(paths)} images done (their lines are above)"
    )


def _libjpeg_warns(files: list[Path]) -> list[bool]:
    """Whether libjpeg (through OpenCV) prints a warning, or OpenCV fails, decoding each file: stderr
    read in a subprocess of its own, one file at a time."""
    code = (
        "import os, sys, tempfile, cv2, numpy as np\n"
        "for f in sys.argv[1:]:\n"
        "    with tempfile.TemporaryFile() as t:\n"
        "        saved = os.dup(2); os.dup2(t.fileno(), 2)\n"
        "        img = cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_COLOR)\n"
        "        os.dup2(saved, 2); os.close(saved); t.seek(0)\n"
        "        print(int(bool(t.read().strip()) or img is None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True, check=True)
    return [x == "1" for x in out.stdout.split()]


def test_the_jpeg_check_agrees_with_libjpeg_s_own_warnings(tmp_path):
    """On real COCO JPEGs: as they are, with a random tail, cut short, and with bytes after the end
    marker (which libjpeg ignores). The check must call damaged exactly those libjpeg warns about."""
    rng = np.random.default_rng(7)
    files = []
    for i, src in enumerate(IMAGES[:40]):
        data = src.read_bytes()
        tail = int(rng.integers(50, len(data) // 2))
        for kind, body in (
            ("whole", data),
            ("tail", data[:-tail] + rng.integers(0, 256, tail, dtype=np.uint8).tobytes()),
            ("cut", data[: int(rng.integers(1000, len(data) - 2))]),
            ("after_end", data + rng.integers(0, 256, 300, dtype=np.uint8).tobytes()),
        ):
            files.append(tmp_path / f"{i}_{kind}.jpg")
            files[-1].write_bytes(body)
    warns = _libjpeg_warns(files)
    ours = [jpeg_defect(f.read_bytes()) is not None for f in files]
    assert sum(warns) >= 80 and ours == warns
    with pytest.raises(ImageReadError, match=r"cannot be decoded \(a corrupt JPEG: .*\): .*0_tail.jpg"):
        read_image(tmp_path / "0_tail.jpg")


def test_a_jpeg_with_a_random_tail_is_an_error_or_with_skip_bad_an_error_record(model, tmp_path):
    data = IMAGES[3].read_bytes()
    bad = tmp_path / "tail.jpg"
    bad.write_bytes(data[:-4000] + np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    proc = detect(model, IMAGES[0], bad, cwd=tmp_path)
    assert proc.returncode == 1 and "tail.jpg" in proc.stderr and "corrupt JPEG" in proc.stderr
    proc = detect(model, IMAGES[0], bad, "--skip-bad", cwd=tmp_path)
    recs = [json.loads(x) for x in proc.stdout.splitlines()]
    assert proc.returncode == 0 and recs[0]["detections"] and "corrupt JPEG" in recs[1]["error"]
