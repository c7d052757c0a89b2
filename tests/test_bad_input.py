"""Bad input never changes a result silently, never hangs without a word, and no param can get a
stage killed for memory: each case on real inputs (a mirror copy, the real model)."""

import hashlib
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import onnx
import pytest
from conftest import (
    MIRROR,
    ROOT,
    make_mirror,
    make_repo,
    needs_mirror,
    set_params,
    sh,
    write_sums,
)

from yolo_cpu.pipeline.stage import read_results

pytestmark = needs_mirror


def repro_download(repo, mirror, check=False, env=None):
    return sh(["dvc", "repro", "download"], repo, check, env={"YOLO_ASSETS_MIRROR": str(mirror), **(env or {})})


def assert_untouched(repo):
    """A failed download leaves no output and no temp file behind."""
    for rel in ("models/yolov5n.onnx", "data/eval", "data/calib", "metrics/download.json"):
        assert not (repo / rel).exists(), f"output left behind: {rel}"
    for folder in ("data", "models"):
        assert not list((repo / folder).glob(".*tmp*")) if (repo / folder).exists() else True


@pytest.fixture
def mirror(tmp_path):
    return make_mirror(tmp_path / "mirror", 40)


def split_hash(split: Path) -> str:
    """The split's content hash computed from the written files (image names and label bytes)."""
    h = hashlib.sha256()
    for img in sorted((split / "images").iterdir()):
        label = split / "labels" / f"{img.stem}.txt"
        h.update(f"{img.name}\0{label.read_text() if label.exists() else ''}\0".encode())
    return h.hexdigest()


def test_listed_file_missing_from_the_mirror_is_an_error_and_splits_are_hashed(mirror, tmp_path):
    repo = make_repo(tmp_path / "repo")
    repro_download(repo, mirror, check=True)
    m = read_results("download", repo)
    assert m["eval_split_sha256"] == split_hash(repo / "data/eval")
    assert m["calib_split_sha256"] == split_hash(repo / "data/calib")
    victim = sorted((mirror / "coco/images/val2017").iterdir())[7]
    victim.unlink()
    other = make_repo(tmp_path / "other")
    proc = repro_download(other, mirror)
    assert proc.returncode != 0 and f"mirror file {victim} is listed in" in proc.stderr and "but missing" in proc.stderr
    assert_untouched(other)


def test_missing_label_is_an_error_unless_unlisted(mirror, tmp_path):
    label = sorted((mirror / "coco/labels/val2017").iterdir())[3]
    text = label.read_text()
    label.unlink()
    repo = make_repo(tmp_path / "repo", {"data": {"eval_images": 20, "calib_images": 20}})
    proc = repro_download(repo, mirror)
    assert proc.returncode != 0 and f"mirror file {label} is listed in" in proc.stderr
    assert_untouched(repo)
    write_sums(mirror)  # no longer listed: a real "no objects" image, counted
    repro_download(repo, mirror, check=True)
    m = read_results("download", repo)
    assert m["images_without_labels"] == 1
    objects = sum(len(p.read_text().splitlines()) for p in (repo / "data/eval/labels").iterdir())
    assert m["eval_objects"] == objects and len(text.splitlines()) > 0


def test_a_missing_label_of_an_image_no_split_draws_is_still_an_error(mirror, tmp_path):
    repo = make_repo(tmp_path / "repo", {"data": {"eval_images": 4, "calib_images": 4}})
    repro_download(repo, mirror, check=True)
    drawn = {p.stem for split in ("eval", "calib") for p in (repo / "data" / split / "images").iterdir()}
    assert len(drawn) == 8
    label = next(p for p in sorted((mirror / "coco/labels/val2017").iterdir()) if p.stem not in drawn)
    label.unlink()
    proc = sh(["dvc", "repro", "-f", "download"], repo, check=False, env={"YOLO_ASSETS_MIRROR": str(mirror)})
    assert proc.returncode != 0 and f"mirror file {label} is listed in" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "key,value,stage",
    [
        ("eval_timing", {"batch": 100000}, "eval_map"),
        ("bench", {"batch_sizes": [1, 100000]}, "bench_ort"),
        ("export", {"verify_batches": [1, 100000]}, "export_dynamic"),
    ],
)
def test_a_batch_that_cannot_fit_is_refused_before_any_allocation(pipeline, key, value, stage):
    set_params(pipeline, {key: value})
    try:
        t0 = time.perf_counter()
        proc = sh(["python", "-m", f"stages.{stage}"], pipeline, check=False)
        took = time.perf_counter() - t0
    finally:
        sh(["git", "checkout", "params.yaml"], pipeline)
    name = f"{key}.{next(iter(value))}"
    assert proc.returncode == 1 and f"params.yaml: {name} = " in proc.stderr, proc.stderr
    assert "GiB for" in proc.stderr and "GiB limit" in proc.stderr and "Traceback" not in proc.stderr
    assert took < 30  # refused at stage start, not after trying


@contextmanager
def stalled_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for c in conns:
            c.close()
        srv.close()


def test_stalled_network_says_where_and_why_then_fails_by_the_deadline(tmp_path):
    """No mirror folder, and a network that accepts but never answers (a local proxy that stalls):
    one line at once says where the stage fetches from and why, and a clear error comes by the deadline."""
    repo = make_repo(
        tmp_path / "repo",
        {"assets": {"mirror": str(tmp_path / "no-mirror"), "timeout_s": 20, "retries": 3, "deadline_s": 4}},
    )
    with stalled_server() as port:
        proxy = f"http://127.0.0.1:{port}"
        env = {"YOLO_ASSETS_MIRROR": "", "https_proxy": proxy, "http_proxy": proxy, "no_proxy": ""}
        t0 = time.perf_counter()
        proc = sh(["python", "-m", "stages.download"], repo, check=False, env=env)
        took = time.perf_counter() - t0
    first = proc.stdout.splitlines()[0]
    assert first == (
        f"download: the mirror folder {tmp_path / 'no-mirror'} (assets.mirror) does not exist: "
        "fetching from the public URLs instead"
    )
    assert proc.returncode == 1 and "download failed: https://github.com/ultralytics/yolov5" in proc.stderr
    assert "assets.deadline_s=4 s" in proc.stderr and "waiting for an answer" in proc.stderr
    assert took < 15, f"took {took:.1f} s with a 4 s deadline"
    assert not list((repo / "downloads").glob("*")) if (repo / "downloads").exists() else True


def test_a_model_that_is_not_a_yolo_detector_is_refused_by_download(mirror, tmp_path):
    model = onnx.load(str(MIRROR / "models/yolov5n.onnx"))
    for d in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        d.dim_value = 320
    onnx.save(model, str(mirror / "models/yolov5n.onnx"))
    write_sums(mirror)
    repo = make_repo(tmp_path / "repo")
    proc = repro_download(repo, mirror)
    assert (
        proc.returncode != 0
        and "models/yolov5n.onnx: input 'images' is [1, 3, 320, 320]; expected [N, 3, 640, 640] (model.imgsz=640)"
        in proc.stderr
    )
    assert_untouched(repo)
    (mirror / "models/yolov5n.onnx").write_text("this is a text file, not a model\n")
    write_sums(mirror)
    proc = repro_download(repo, mirror)
    assert proc.returncode != 0 and "models/yolov5n.onnx is not a valid ONNX model" in proc.stderr
    assert_untouched(repo)


def test_malformed_checksum_line_and_truncated_annotations_are_named(mirror, tmp_path):
    sums = mirror / "SHA256SUMS"
    good = sums.read_text()
    sums.write_text(good + "not-a-digest coco/images/val2017/x.jpg\n")
    repo = make_repo(tmp_path / "repo")
    proc = repro_download(repo, mirror)
    line = len(good.splitlines()) + 1
    assert proc.returncode != 0 and f"{sums}:{line}: 'not-a-digest coco/images/val2017/x.jpg' is not" in proc.stderr
    official = mirror / "coco/annotations/instances_val2017_subset206.json"
    official.parent.mkdir(parents=True, exist_ok=True)
    official.write_text((MIRROR / "coco/annotations/instances_val2017_subset206.json").read_text()[:5000])
    write_sums(mirror)
    set_params(repo, {"data": {"gt_source": "official"}})
    proc = repro_download(repo, mirror)
    assert proc.returncode != 0 and f"{official} is not valid JSON (truncated or corrupt?)" in proc.stderr
    assert_untouched(repo)


def test_unwritable_output_folder_is_named(pipeline):
    models = pipeline / "models"
    if subprocess.run(["chattr", "+i", str(models)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needed to make a folder unwritable even for root)")
    try:
        proc = sh(["python", "-m", "stages.export_dynamic"], pipeline, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(models)], check=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"cannot write models/yolov5n_dynamic.onnx: the folder {models} is not writable" in proc.stderr


@pytest.mark.parametrize(
    "stage, output", [("export_dynamic", "models/yolov5n_dynamic.onnx"), ("convert_ir", "models/ov_fp32")]
)
def test_an_immutable_output_file_or_folder_is_one_error_line_and_kept(pipeline, stage, output):
    """chattr +i on the output itself (a file, or a model folder replaced whole): the stage does its work,
    then cannot put the result in place; one `error:` line names the output, and the old one is intact."""
    import hashlib

    target = pipeline / output
    files = sorted(target.rglob("*")) if target.is_dir() else [target]
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needed to make an output immutable even for root)")
    try:
        proc = sh(["python", "-m", f"stages.{stage}"], pipeline, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"error: cannot replace {output}: Operation not permitted. Is it immutable" in proc.stderr
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in before} == before
    assert not list(target.parent.glob(f".{target.name}.*")), "temp or moved-aside copies were left behind"


def test_dev_refuses_a_python_that_does_not_exist():
    proc = subprocess.run(
        ["./dev", "repro"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": "/no/such/python"},
    )
    assert proc.returncode == 1 and "PYTHON=/no/such/python is not an executable Python" in proc.stderr


def test_stale_temp_files_of_a_killed_run_are_removed(mirror, tmp_path):
    repo = make_repo(tmp_path / "repo")
    stale = [repo / "data/.eval.k1ll3d.tmp", repo / "data/.calib.k1ll3d.tmp", repo / "data/.eval.old"]
    for s in stale:
        (s / "images").mkdir(parents=True)
        (s / "images/000000000001.jpg").write_bytes(b"x" * 1000)
    (repo / "models").mkdir()
    (repo / "models/.yolov5n.onnx.k1ll3d.tmp").write_bytes(b"partial")
    repro_download(repo, mirror, check=True)
    assert not any(s.exists() for s in stale) and not (repo / "models/.yolov5n.onnx.k1ll3d.tmp").exists()
    assert (repo / "data/eval/images").is_dir()


def _hashes(repo: Path) -> dict[str, str]:
    """Every output file of a finished run (metrics, details, plots, models, data), by sha256."""
    return {
        str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest()
        for d in ("metrics", "details", "plots", "models", "data", "bundles")
        for f in sorted((repo / d).rglob("*"))
        if f.is_file() and f.name != "check.json"
    }


def test_every_stage_runs_after_the_check_stage():
    """DVC runs a stage's upstream first and deletes a stage's outputs only when it runs it: with every
    stage downstream of `check`, no bad param or input can reach a stage that would lose its outputs.
    check's own record persists (DVC does not delete it before running it)."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def name(entry) -> str:
        return next(iter(entry)) if isinstance(entry, dict) else entry

    made_by = {name(o): s for s, st in stages.items() for o in st.get("outs", []) + st.get("metrics", [])}
    upstream = {s: {made_by[d] for d in st.get("deps", []) if d in made_by} for s, st in stages.items()}

    def ancestors(s: str) -> set[str]:
        out, todo = set(), list(upstream[s])
        while todo:
            u = todo.pop()
            if u not in out:
                out.add(u)
                todo += upstream[u]
        return out

    assert [s for s in stages if s != "check" and "check" not in ancestors(s)] == []
    assert stages["check"]["always_changed"] and stages["check"]["outs"] == [
        {"data/check.json": {"cache": False, "persist": True}}
    ]


def test_a_bad_param_section_or_model_fails_at_check_and_every_output_stays(pipeline, tmp_path):
    """On a copy of the finished tiny pipeline: a bad bench_ort param (which once cost metrics/bench_ort.json
    and four plots), a misspelt section, and model.source pointing at a corrupt ONNX (which once cost
    models/yolov5n.onnx, data/eval and data/calib) each fail `dvc repro` in the check stage with one error
    line naming the key or file; every output file stays byte for byte."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(pipeline, repo, symlinks=True)
    before = _hashes(repo)
    params_text = (repo / "params.yaml").read_text()
    corrupt = tmp_path / "mine.onnx"
    corrupt.write_bytes((MIRROR / "models/yolov5n.onnx").read_bytes()[:100_000])
    for change, said in (
        ({"bench_ort": {"intra_threads": -1}}, "params.yaml: bench_ort.intra_threads = -1: must be"),
        ({"model": {"source": str(corrupt)}}, f"{corrupt} is not a valid ONNX model"),
        (None, "unknown section 'bench-ort' (did you mean 'bench_ort'?)"),
    ):
        if change is None:
            (repo / "params.yaml").write_text(params_text + "bench-ort:\n  intra_threads: 1\n")
        else:
            set_params(repo, change)
        proc = sh(["dvc", "repro"], repo, check=False)
        assert proc.returncode != 0 and "failed to reproduce 'check'" in proc.stderr, proc.stderr[-1500:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and said in errors[0] and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        assert _hashes(repo) == before
        (repo / "params.yaml").write_text(params_text)
