"""Several machines through one DVC remote: what one clone pushes, another pulls, and `dvc repro` there
reruns only the machine-dependent stages (YOLO_SIMULATE_MACHINE makes this machine count as another:
it is part of the fingerprint, and is used for nothing else)."""

import json
import shutil

import pytest
from conftest import needs_mirror, set_params, sh

from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.results.machines import cross_machine, snapshot, write_cross_machine

pytestmark = needs_mirror
MACHINE_DEPENDENT = {
    "bench-ort",
    "bench-ov",
    "bench-deploy",
    "bench-torch",
    "memory",
    "roofline",
    "eval-map",
    "recommend",
    "bench-serve",
    "report",
}
STAGES = [
    "inputs",
    "download",
    "export-dynamic",
    "convert-IR",
    "calibrate",
    "quantize-ov",
    "quantize-ort",
    "fingerprint",
    *sorted(MACHINE_DEPENDENT),
]


def ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def restored_from_run_cache(output: str) -> set[str]:
    return {s for s in STAGES if f"Stage '{s}' is cached" in output}


@pytest.mark.slow
def test_pull_on_another_machine_skips_what_is_the_same_and_reruns_its_timings(pipeline, tmp_path):
    remote = tmp_path / "remote"
    try:  # machine A: the shared pipeline repo pushes its outputs and run-cache
        sh(["dvc", "remote", "modify", "--local", "shared", "url", str(remote)], pipeline)
        sh(["dvc", "push", "--run-cache"], pipeline)
    finally:
        (pipeline / ".dvc" / "config.local").unlink(missing_ok=True)
    # Every stage has git-tracked (cache: false) metrics outputs, so DVC keeps no run-cache entry for any
    # stage: nothing of machine A's can be restored as if measured elsewhere; the remote holds files.
    assert any((remote / "files").rglob("*")) and not (remote / "runs").exists()

    b = tmp_path / "b"  # machine B: a clone of the git history, then the data from the remote
    sh(["git", "clone", "-q", str(pipeline), str(b)], tmp_path)
    sh(["dvc", "remote", "modify", "--local", "shared", "url", str(remote)], b)
    sh(["dvc", "pull", "--run-cache"], b)
    for out in (
        "models/yolov5n_dynamic.onnx",
        "models/ov_int8/yolov5n.xml",
        "models/ort_int8/yolov5n.onnx",
        "data/eval/instances.json",
    ):
        assert (b / out).read_bytes() == (pipeline / out).read_bytes()

    other = {"YOLO_SIMULATE_MACHINE": "machine-b"}
    sh(["dvc", "repro", "fingerprint"], b, env=other)  # the machine's record, which the timing stages read
    status = json.loads(sh(["dvc", "status", "--json"], b, env=other).stdout)
    reads_the_machine = {s for s, changes in status.items() if "metrics/fingerprint.json" in json.dumps(changes)}
    assert reads_the_machine == MACHINE_DEPENDENT - {"recommend", "report"}  # these two read the others' results
    # bench-serve reruns here because of the machine (above); measuring again is test_serve's question
    set_params(b, {"serve": {"max_seconds": 0}})
    out = sh(["dvc", "repro"], b, env=other).stdout
    assert ran(out) - {"inputs", "fingerprint"} == MACHINE_DEPENDENT  # the same bytes: no download to quantize
    assert not restored_from_run_cache(out)  # never machine A's timings
    for s in ("download", "export-dynamic", "convert-IR", "calibrate", "quantize-ov", "quantize-ort"):
        assert f"Stage '{s}' didn't change, skipping" in out
    a_id, b_id = (read_results("bench_ov", r)["machine"]["id"] for r in (pipeline, b))
    assert a_id != b_id and read_results("eval_map", b)["machine"]["id"] == b_id
    assert read_results("eval_map", b)["ov_int8_map50_95"] == read_results("eval_map", pipeline)["ov_int8_map50_95"]
    assert json.loads((b / "details/fingerprint.json").read_text())["simulated_machine"] == "machine-b"

    # The pull-request diff on machine B against machine A's committed metrics: timings not compared.
    other = sh(["yolo-cpu", "diff", "HEAD"], b).stdout
    assert "Different machines (base: " in other and "absolute timings are left out" in other
    details = other[other.index("<details>") :]
    assert "p50 latency at batch" not in details and "images/s at its best" not in details
    assert "peak resident memory" not in details
    assert "| ort_int8 | batch-1 latency |" in other  # ratios over the best FP32 are still compared

    # Both machines' snapshots side by side: one table, every ratio within its own machine's run.
    results = tmp_path / "results"
    for repo in (pipeline, b):
        snapshot(repo, results)
    text, series = cross_machine("yolov5n", results)
    assert set(series) == {a_id, b_id} and f"| {a_id} |" in text and f"| {b_id} |" in text
    rows = [r.split(" | ") for r in text.splitlines() if r.startswith(f"| {b_id} | ov_int8 |")]
    b_ov, b_rep = read_results("bench_ov", b), read_results("recommend", b)
    assert len(rows) == 1 and float(rows[0][4]) == pytest.approx(b_ov["ov_int8_best_ips"], abs=0.06)
    # the table's ratio over the best FP32 is the one that run's own report computed
    assert rows[0][5].startswith(f"{b_rep['ov_int8_throughput_x_best_fp32']:.2f}x")
    write_cross_machine(["yolov5n"], results)
    assert (results / "machines_yolov5n_throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_a_missing_remote_is_a_clear_error_and_the_pipeline_does_not_need_it(pipeline, tmp_path):
    b = tmp_path / "b"
    sh(["git", "clone", "-q", str(pipeline), str(b)], tmp_path)
    sh(["dvc", "remote", "modify", "--local", "shared", "url", str(tmp_path / "nowhere")], b)
    proc = sh(["dvc", "pull"], b, check=False)
    assert proc.returncode != 0 and "models/yolov5n_dynamic.onnx" in proc.stdout + proc.stderr
    sh(["dvc", "repro", "download"], b)  # the pipeline itself never needs the remote: the mirror serves
    assert (b / "data/eval/instances.json").read_bytes() == (pipeline / "data/eval/instances.json").read_bytes()


def test_machine_run_is_repro_then_snapshot_then_table(pipeline):
    """`yolo-cpu machines run`, what `./dev machine` and each CI matrix job run on a machine."""
    try:
        out = sh(["yolo-cpu", "machines", "run"], pipeline).stdout
        mid = read_results("bench_ov", pipeline)["machine"]["id"]
        folder = pipeline / "results" / mid / "yolov5n"
        assert f"snapshot written to results/{mid}/yolov5n" in out
        assert read_results_of(folder, "eval_map") == {
            k: v for k, v in read_results("eval_map", pipeline).items() if k != "env"
        }
        assert f"| {mid} |" in (pipeline / "results" / "machines.md").read_text()
    finally:
        shutil.rmtree(pipeline / "results", ignore_errors=True)


def read_results_of(folder, stage: str) -> dict:
    return json.loads((folder / f"{stage}.json").read_text())
