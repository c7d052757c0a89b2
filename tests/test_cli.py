"""`yolo-cpu detect` on the pipeline's bundles and models, run as a user runs it: the installed console
script, in a folder with no data/ around. Oracles: the Detector in-process on the same images, and the
evaluation ground truth's class names."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml
from conftest import MIRROR, needs_mirror, tool_env

from yolo_cpu.models import metadata
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.runtime.runtimes import ov_supports_bf16

pytestmark = needs_mirror
YOLO_CPU = str(Path(sys.executable).parent / "yolo-cpu")
IMAGES = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:3]


def detect(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [YOLO_CPU, "detect", *map(str, args)], capture_output=True, text=True, env=tool_env(), cwd=cwd, timeout=300
    )


def gt_names(repo: Path) -> list[str]:
    return [c["name"] for c in json.loads((repo / "data/eval/instances.json").read_text())["categories"]]


def bundle_of(repo: Path, objective: str) -> Path:
    return repo / read_results("recommend", repo)["deployments"][objective]["bundle"]


def test_every_model_the_pipeline_writes_carries_names_imgsz_and_layout(pipeline):
    for rel in (
        "models/yolov5n.onnx",
        "models/yolov5n_dynamic.onnx",
        "models/ov_fp32/yolov5n.xml",
        "models/ov_int8/yolov5n.xml",
        "models/ort_int8/yolov5n.onnx",
    ):
        m = metadata.read(pipeline / rel)
        assert (m.names, m.imgsz, m.layout, m.task) == (tuple(gt_names(pipeline)), 640, "v5", "detect"), rel


def test_each_recommendation_has_a_bundle_that_says_how_to_run_it(pipeline):
    rec = read_results("recommend", pipeline)
    ev, machine = read_results("eval_map", pipeline), read_results("bench_ov", pipeline)["machine"]
    assert rec["deployments"]["latency_p50"]["batch"] == 1
    for objective in ("latency_p50", "throughput"):
        d, variant = rec["deployments"][objective], rec["objectives"][objective]["variant"]
        folder = pipeline / d["bundle"]
        meta = yaml.safe_load((folder / "metadata.yaml").read_text())
        assert meta["deploy"]["variant"] == variant and meta["batch"] == d["batch"] == meta["args"]["batch"]
        assert meta["deploy"]["precision"] == d["precision"] and (folder / meta["deploy"]["model"]).is_file()
        assert list(meta["names"].values()) == gt_names(pipeline) and meta["imgsz"] == [640, 640]
        assert meta["measured"]["machine"] == machine and meta["measured"]["map50_95"] == ev[f"{variant}_map50_95"]
        assert meta["measured"]["e2e_ips"] == read_results("bench_deploy", pipeline).get(
            f"{variant}_deploy_b{d['batch']}_e2e_ips"
        )
        assert rec[f"{objective}_batch"] == d["batch"]
    report = (pipeline / "metrics" / "report.md").read_text()
    assert "### Ready to deploy" in report and rec["deployments"]["throughput"]["command"] in report


def test_the_cli_exits_cleanly_every_time(pipeline, tmp_path):
    """20 runs of the installed command from a folder without data/: bundles, the INT8 IR with bf16 float
    ops at batch 8, the FP32 IR, the dynamic ONNX on both runtimes. Each exits 0 with one line per image
    and the ground truth's names. (Before Detector.close(), about 1 run in 6 aborted at exit, code 134.)"""
    bf16 = "bf16" if ov_supports_bf16() else "f32"
    runs = [
        [bundle_of(pipeline, "throughput")],
        [bundle_of(pipeline, "latency_p50")],
        [pipeline / "models/ov_int8/yolov5n.xml", "--precision", bf16, "--batch", 8],
        [pipeline / "models/ov_fp32/yolov5n.xml", "--batch", 1],
        [pipeline / "models/yolov5n_dynamic.onnx", "--precision", bf16, "--batch", 8],
        [pipeline / "models/yolov5n_dynamic.onnx", "--runtime", "onnxruntime", "--batch", 2],
    ]
    names, codes = set(gt_names(pipeline)), []
    for i in range(20):
        model, *flags = runs[i % len(runs)]
        proc = detect(model, *IMAGES, *flags, cwd=tmp_path)
        codes.append(proc.returncode)
        if proc.returncode == 0:
            lines = [json.loads(x) for x in proc.stdout.splitlines()]
            assert [x["image"] for x in lines] == [str(p) for p in IMAGES]
            dets = [d for x in lines for d in x["detections"]]
            assert dets and all(d["name"] in names and set(d["box"]) == {"x1", "y1", "x2", "y2"} for d in dets)
    assert codes == [0] * 20, f"exit codes {codes}"


def test_inputs_are_files_folders_and_globs_and_bad_ones_are_one_error_line(pipeline, tmp_path):
    model = bundle_of(pipeline, "latency_p50")
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in IMAGES:
        shutil.copy(p, folder / p.name)
    (folder / "notes.txt").write_text("not an image")
    as_files = detect(model, *sorted(folder.glob("*.jpg")), cwd=tmp_path)
    for args in ([folder], [str(folder / "*.jpg")]):
        proc = detect(model, *args, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout == as_files.stdout and len(proc.stdout.splitlines()) == 3

    bad = folder / "broken.jpg"
    bad.write_bytes(IMAGES[0].read_bytes()[:300])
    for args, named in (
        ([folder / "missing.jpg"], "missing.jpg"),
        ([bad, IMAGES[0]], "broken.jpg"),
        ([str(tmp_path / "*.png")], "*.png"),
        ([tmp_path / "empty"], "empty"),
    ):
        if named == "empty":
            (tmp_path / "empty").mkdir()
        proc = detect(model, *args, cwd=tmp_path)
        assert proc.returncode == 1 and proc.stdout == "", (args, proc.stdout)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error:") and named in proc.stderr
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    (tmp_path / "junk.xml").write_text("hello")
    # no such model; a folder that is not a bundle; files that are no ONNX or IR
    for wrong in (tmp_path / "nope.xml", folder, tmp_path / "junk.onnx", tmp_path / "junk.xml"):
        proc = detect(wrong, IMAGES[0], cwd=tmp_path)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and str(wrong) in proc.stderr

    good = folder / IMAGES[0].name
    proc = detect(model, bad, good, "--skip-bad", "--save", tmp_path / "out", cwd=tmp_path)
    first, second = (json.loads(x) for x in proc.stdout.splitlines())
    assert proc.returncode == 0 and "broken.jpg" in first["error"] and second["detections"]
    drawn, original = cv2.imread(str(tmp_path / "out" / good.name)), cv2.imread(str(good))
    assert drawn.shape == original.shape and (drawn != original).any()
    assert not (tmp_path / "out" / "broken.jpg").exists()


def test_help_shows_defaults_and_every_subcommand():
    top = subprocess.run([YOLO_CPU, "--help"], capture_output=True, text=True, check=True).stdout
    assert all(c in top for c in ("detect", "diff", "machines"))
    det = " ".join(
        subprocess.run([YOLO_CPU, "detect", "--help"], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "else 0.25" in det and "--skip-bad" in det and "(default: None)" not in det


@pytest.mark.slow
def test_a_deploy_only_install_runs_a_copied_bundle(pipeline, tmp_path):
    """A fresh venv with only `pip install '<repo>[deploy]'` (no DVC, NNCF, pycocotools, torch) runs
    `yolo-cpu detect` on a bundle copied elsewhere, with no data/ around, and prints what the pipeline's
    own environment prints, names included."""
    from conftest import ROOT

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", f"{ROOT}[deploy]"], capture_output=True, text=True
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert "yolo-cpu" in names and not names & {"dvc", "nncf", "pycocotools", "torch", "ultralytics", "onnx"}
    bundle = shutil.copytree(bundle_of(pipeline, "throughput"), tmp_path / "server" / "model_openvino_model")
    env = {k: v for k, v in tool_env().items() if k not in ("VIRTUAL_ENV",)}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    proc = subprocess.run(
        [str(venv / "bin/yolo-cpu"), "detect", str(bundle), *map(str, IMAGES)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "server",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == detect(bundle, *IMAGES, cwd=tmp_path).stdout
    assert json.loads(proc.stdout.splitlines()[0])["detections"][0]["name"] in gt_names(pipeline)
