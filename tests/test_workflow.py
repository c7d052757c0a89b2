"""DVC workflows on the tiny pipeline: no-op repro, what a param change reruns, metrics diff,
experiments, plots. Every test leaves the shared `pipeline` repo as it found it."""

import contextlib
import json
import re

from conftest import ROOT, needs_mirror, runnable, set_params, sh

pytestmark = needs_mirror
ALL = [
    "check",
    "inputs",
    "download",
    "export-dynamic",
    "convert-IR",
    "calibrate",
    "quantize-ov",
    "quantize-ort",
    "fingerprint",
    "roofline",
    "bench-ort",
    "bench-ov",
    "bench-deploy",
    "memory",
    "eval-map",
    "recommend",
    "bench-serve",
    "report",
    "bundle",
]
OV_CONSUMERS = {"bench-ov", "bench-deploy", "memory", "eval-map", "recommend", "bench-serve", "report", "bundle"}
ORT_CONSUMERS = {"bench-ort", "memory", "eval-map", "recommend", "bench-serve", "report", "bundle"}


@contextlib.contextmanager
def restored(repo):
    """Put the repo back to its last commit (files and DVC outputs) afterwards, whatever happened."""
    try:
        yield repo
    finally:
        sh(["git", "reset", "-q", "--hard"], repo)
        sh(["dvc", "checkout", "--force", "-q"], repo)


ALWAYS = {
    "check",
    "inputs",
    "fingerprint",
}  # always_changed by design; their outputs change only when what they record does


def changed_stages(repo) -> set[str]:
    """Stages `dvc status` reports as changed, apart from the always-run ones."""
    status = json.loads(sh(["dvc", "status", "--json"], repo).stdout or "{}")
    return {k.split(":")[-1] for k in status} - ALWAYS


def ran_stages(output: str) -> set[str]:
    """Stages that ran (or were restored from DVC's run-cache) in a `dvc repro` output."""
    return {s for s in ALL if f"Running stage '{s}'" in output or f"Stage '{s}' is cached" in output} - ALWAYS


def stale_after_changing(repo, outs: list[str]) -> set[str]:
    """Give each output file other bytes, as a rerun with a changed param would (a new file: DVC's cache
    is never written through), then what `dvc status` says changed: the stage itself and every stage
    that reads those outputs, which a full `dvc repro` would run. `restored` puts the outputs back."""
    for rel in outs:
        path = repo / rel
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data + b"\n")
    return changed_stages(repo)


def test_noop_repro_reruns_nothing(pipeline):
    assert changed_stages(pipeline) == set()
    out = sh(["dvc", "repro"], pipeline).stdout
    assert ran_stages(out) == set()
    assert "Stage 'bench-ort' didn't change, skipping" in out


def test_the_p99_target_reruns_bench_serve_and_what_reads_it_only(pipeline):
    """`dvc exp run -S serve.p99_ms=50`'s question: bench-serve changes; when its results change, the
    report and the bundles (which carry its serving config) follow, nothing measured before it. Its
    results are changed by hand (a rerun takes a minute; DVC compares only the bytes)."""
    with restored(pipeline):
        set_params(pipeline, {"serve": {"p99_ms": 50.0}})
        assert changed_stages(pipeline) == {"bench-serve"}
        sh(["git", "checkout", "-q", "params.yaml"], pipeline)
        outs = ["metrics/bench_serve.json", "details/bench_serve.json"]
        assert stale_after_changing(pipeline, outs) == {"bench-serve", "report", "bundle"}


def test_ort_quantization_param_reruns_only_onnx_runtime_consumers(pipeline):
    with restored(pipeline):
        set_params(pipeline, {"quantize_ort": {"min_sqnr_db": 20.0}})
        assert changed_stages(pipeline) == {"quantize-ort"}
        sh(["git", "checkout", "-q", "params.yaml"], pipeline)
        outs = ["models/ort_int8/yolov5n.onnx", "metrics/quantize_ort.json", "details/quantize_ort.json"]
        assert stale_after_changing(pipeline, outs) == {"quantize-ort", *ORT_CONSUMERS}


def test_ov_quantization_param_reruns_only_openvino_consumers(pipeline):
    with restored(pipeline):
        set_params(pipeline, {"quantize_ov": {"scope": "decode"}})
        assert changed_stages(pipeline) == {"quantize-ov"}
        sh(["git", "checkout", "-q", "params.yaml"], pipeline)
        outs = ["models/ov_int8/yolov5n.bin", "metrics/quantize_ov.json", "details/quantize_ov.json"]
        assert stale_after_changing(pipeline, outs) == {"quantize-ov", *OV_CONSUMERS}


def test_shared_calibration_param_reruns_the_calibration_set_only(pipeline):
    """calibration.* changes the calibrate stage; both quantizations then rerun because its output
    (the letterboxed set they read) changed, not because they read the params."""
    with restored(pipeline):
        set_params(pipeline, {"calibration": {"images": 10}})
        assert changed_stages(pipeline) == {"calibrate"}


def test_where_the_bytes_come_from_reruns_nothing(pipeline):
    with restored(pipeline):
        set_params(pipeline, {"assets": {"timeout_s": 5, "retries": 0, "mirror": "/elsewhere"}})
        assert changed_stages(pipeline) == set()


def test_eval_params_rerun_only_eval_map(pipeline):
    for change in ({"eval": {"iou": 0.6}}, {"eval_timing": {"prefetch": False}}):
        with restored(pipeline):
            set_params(pipeline, change)
            assert changed_stages(pipeline) == {"eval-map"}


def test_a_bench_param_sweep_reruns_only_that_benchmark_and_every_diff_shows_it(pipeline):
    """`dvc exp run -S` on one bench-ort param: only bench-ort (and what reads its metrics) reruns, `dvc exp
    show` (and the README's one-screen recipe) shows it, and `dvc metrics diff` shows nothing else measured
    again. Committed, the local script prints what the PR workflow posts: headline tables first, every
    changed metric folded away, absolute timings only between runs on the same machine."""
    with restored(pipeline):
        set_params(pipeline, {"bench_ort": {"intra_threads": 1}})
        assert changed_stages(pipeline) == {"bench-ort"}
        sh(["git", "checkout", "-q", "params.yaml"], pipeline)
        # serve.max_seconds=0: bench-serve reruns when the bundled variants change (details/to_serve.json),
        # which new ORT figures may do (the tiny run is noisy); measuring them again is not this question
        sweep = ["-S", "bench_ort.intra_threads=1", "-S", "serve.max_seconds=0"]
        out = sh(["dvc", "exp", "run", *sweep, "-n", "one-thread"], pipeline).stdout
        # the bundle follows the recommendation, which new ORT figures may move
        assert ran_stages(out) - {"bundle", "bench-serve"} == {"bench-ort", "recommend", "report"}
        show = sh(["dvc", "exp", "show", "--md", "--no-pager"], pipeline).stdout
        assert "one-thread" in show and "bench_ort.intra_threads" in show
        # the README's one-screen recipe, run as documented: at most 15 columns, the swept param and the answer
        keep = re.search(
            r"^dvc exp show --md --drop '\.\*' --keep '([^']+)'", (ROOT / "README.md").read_text(), re.M
        ).group(1)
        recipe = sh(["dvc", "exp", "show", "--md", "--no-pager", "--drop", ".*", "--keep", keep], pipeline).stdout
        header = [c.strip() for c in recipe.splitlines()[0].strip("|").split("|")]
        assert len(header) <= 15 and len(header) < len(show.splitlines()[0].split("|")) // 4, header
        assert {"Experiment", "bench_ort.intra_threads", "latency_p50_variant", "throughput_x_best_fp32"} <= set(header)
        assert "one-thread" in recipe
        sh(["dvc", "exp", "remove", "one-thread"], pipeline)
        # the experiment's results stay in the workspace: diffs against the last commit
        diff = json.loads(sh(["dvc", "metrics", "diff", "--json"], pipeline).stdout)
        # nothing else was measured again; the recommendation, derived from the figures, may follow them
        assert set(diff) - {"metrics/recommend.json", "metrics/bench_serve.json"} == {"metrics/bench_ort.json"}
        assert "ort_fp32_b1_p50_ms" in diff["metrics/bench_ort.json"]
        params = json.loads(sh(["dvc", "params", "diff", "--json"], pipeline).stdout)
        assert params["params.yaml"]["bench_ort.intra_threads"]["new"] == 1
        sh(["git", "commit", "-qam", "one thread"], pipeline)
        try:
            md = sh(["yolo-cpu", "diff", "HEAD~1", "HEAD"], pipeline).stdout
            assert "## Pipeline metrics: `HEAD~1` → `HEAD`" in md
            assert "Both ran on the same machine (" in md and "absolute timings are compared" in md
            ev = json.loads((pipeline / "metrics/eval_map.json").read_text())
            assert f"| ov_int8 | {ev['ov_int8_map50_95']:.3f}".rstrip("0").rstrip(".") in md  # mAP table, unchanged
            assert re.search(r"\| bench_ort.intra_threads \| 2 \| 1 \|", md), md
            assert "| ort_int8 | batch-1 latency |" in md and "### Recommendation" in md
            details = md[md.index("<details>") :]  # tables in words: the stage, then the figure
            assert "| bench-ort | ort_fp32: p50 latency at batch 1 (ms) |" in details
            # each absolute timing says whether it moved beyond the noise, from both runs' slices
            row = next(r for r in details.splitlines() if "| ort_fp32: p50 latency at batch 1 (ms) |" in r)
            assert re.search(r"\d\.\d{3}x \[\d\.\d{3}, \d\.\d{3}\], (not )?significant \(3 / 3 slices\) \|$", row), row
            speed = next(r for r in md.splitlines() if r.startswith("| ort_int8 | batch-1 latency |"))
            assert re.search(r"\| (not significant|\*\*\d\.\d{3}x\*\*) \|$", speed), speed
            assert "head change vs FP32" in md
            assert "| eval-map |" not in details  # nothing else was measured again

            # Another machine's run of the same revision: tests/test_remote.py (timings are not compared).
            bad = sh(["yolo-cpu", "diff", "no-such-rev"], pipeline, check=False)
            assert bad.returncode == 1 and "error: dvc metrics diff no-such-rev failed" in bad.stderr
        finally:
            sh(["git", "reset", "-q", "--hard", "HEAD~1"], pipeline)


def test_plots_draw_one_series_per_variant(pipeline):
    """`dvc plots show --json`: each variant is its own series (a line per y column, or a panel per
    file), not one zig-zag line through all variants."""
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], pipeline).stdout)["data"]

    def series(name: str, key: str) -> set[str]:
        (render,) = [r for r in shown[name] if r["type"] == "vega"]
        return {d[key] for d in render["content"]["data"]["values"]}

    assert series("bench_ort_images_per_s", "field") == {"ort_fp32_fixed", "ort_fp32", "ort_int8"}
    assert series("bench_ov_throughput", "field") == {"ov_fp32", "ov_bf16", "ov_int8", "ov_int8_bf16"}
    assert series("per_class_ap", "filename") == {
        f"{v}.csv" for v in runnable("ort_fp32", "ort_int8", "ov_fp32", "ov_bf16", "ov_int8", "ov_int8_bf16")
    }  # a variant this CPU cannot run keeps an empty file, so the plot still draws
    assert series("memory_peak", "variant") >= {"ort_fp32", "ov_int8"}


def test_pull_request_diff_compares_no_map_when_the_model_or_the_images_differ(pipeline):
    """The PR comment's tables from the tiny run's real metrics as `dvc metrics diff` and `dvc params
    diff` shape them: the same run against itself compares its mAPs; with another model name or
    another evaluation split it says so and shows no mAP, no gate and no eval_map row."""
    from yolo_cpu.results.prdiff import changed_rows, headline, input_changes

    def as_diff(files: dict, change=None) -> dict:
        out = {
            f: {k: {"old": v, "new": v, "diff": 0} for k, v in d.items() if not isinstance(v, dict)}
            for f, d in files.items()
        }
        for f, k, new in change or []:
            out[f][k] = {"old": out[f][k]["old"], "new": new}
        return out

    files = {
        f"metrics/{s}.json": json.loads((pipeline / f"metrics/{s}.json").read_text())
        for s in ("eval_map", "download", "bench_ov")
    }
    ev = files["metrics/eval_map.json"]
    same = headline(as_diff(files), {"params.yaml": {"model.name": {"old": "yolov5n", "new": "yolov5n"}}})
    assert f"| ov_int8 | {ev['ov_int8_map50_95']:g}" in "\n".join(same) and "Not compared" not in "\n".join(same)
    other_model = {"params.yaml": {"model.name": {"old": "yolov5n", "new": "yolov8n"}}}
    bumped = as_diff(files, [("metrics/eval_map.json", "ov_int8_map50_95", ev["ov_int8_map50_95"] + 8.489)])
    md = "\n".join(headline(bumped, other_model))
    assert "_Not compared: the two revisions measured different things (model `yolov5n` → `yolov8n`)._" in md
    assert "| ov_int8 |" not in md and "8.489" not in md and "_Not checked: the inputs differ._" in md
    assert not [r for r in changed_rows(bumped, True, None, same_inputs=False) if r[0] == "eval-map"]
    resplit = as_diff(files, [("metrics/download.json", "eval_split_sha256", "0" * 64)])
    assert input_changes(resplit, {}) == ["the evaluation images (eval_split_sha256)"]
