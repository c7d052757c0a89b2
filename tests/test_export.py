"""export-dynamic (graph rewrite and Ultralytics paths) and convert-IR, on the real yolov5n."""

import importlib.util
import json

import numpy as np
import onnx
import pytest
from conftest import MIRROR, make_repo, needs_mirror, set_params, sh
from onnx import TensorProto, helper

from yolo_cpu.models.export import (
    ExportError,
    load_onnx,
    make_batch_dynamic,
    max_abs_diff_batched,
)
from yolo_cpu.models.head_rewrite import split_head_concats
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.runtime.preprocess import preprocess, read_image
from yolo_cpu.runtime.runtimes import OrtRuntime, OvRuntime

pytestmark = needs_mirror
V5 = MIRROR / "models" / "yolov5n.onnx"
V8 = MIRROR / "models" / "yolov8n.onnx"


@pytest.fixture(scope="module")
def real_batch():
    imgs = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:4]
    return preprocess([read_image(p) for p in imgs])[0]


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("export") / "repo")
    sh(["dvc", "repro", "download"], repo)
    return repo


def test_rewrite_makes_batch_dynamic_and_matches_fixed(real_batch, tmp_path):
    dyn, info = make_batch_dynamic(load_onnx(V5))
    assert not info.already_dynamic and info.reshapes_rewritten == 6 and info.opset == 12
    for vi in [dyn.graph.input[0], *dyn.graph.output]:
        assert vi.type.tensor_type.shape.dim[0].dim_param == "batch"
    path = tmp_path / "dyn.onnx"
    onnx.save(dyn, str(path))
    diffs = max_abs_diff_batched(OrtRuntime(V5).infer, OrtRuntime(path).infer, real_batch, [1, 3, 4])
    assert max(diffs.values()) < 1e-4
    again, info2 = make_batch_dynamic(dyn)  # an already dynamic model passes through
    assert info2.already_dynamic and info2.reshapes_rewritten == 0


def test_yolov8_head_rewrite_gives_the_same_outputs_without_its_per_level_concats(real_batch, tmp_path):
    """Oracle: the rewritten YOLOv8n equals the model before the rewrite bit for bit on real images, in
    ONNX Runtime and in OpenVINO (it only moves data); its box and class outputs no longer pass through a
    Concat-Split pair, so the per-level concats are gone. A YOLOv5 head has no such pattern: untouched."""
    dyn, _ = make_batch_dynamic(load_onnx(V8))
    before = tmp_path / "before.onnx"
    onnx.save(dyn, str(before))
    assert split_head_concats(dyn) == 1
    onnx.checker.check_model(dyn, full_check=True)
    after = tmp_path / "after.onnx"
    onnx.save(dyn, str(after))
    head = [n for n in dyn.graph.node if n.name.startswith("/model.22/") and n.op_type in ("Concat", "Split")]
    assert not [n for n in head if n.op_type == "Split"]
    assert {n.name for n in head} >= {"/model.22/Concat_3_part0", "/model.22/Concat_3_part1"}
    assert "/model.22/Concat" not in {n.name for n in head}  # level 0's box-and-class concat
    assert {i.name for i in dyn.graph.initializer}.isdisjoint({"/model.22/Constant_output_0"})  # no dead constants
    for run in (OrtRuntime, lambda p: OvRuntime(p, precision="f32")):
        assert np.array_equal(run(before).infer(real_batch), run(after).infer(real_batch))
    v5, _ = make_batch_dynamic(load_onnx(V5))
    bytes_v5 = v5.SerializeToString()
    assert split_head_concats(v5) == 0 and v5.SerializeToString() == bytes_v5


def test_batch_that_cannot_be_dynamic_names_the_node():
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 2])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="flatten_batch_into_rows")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ExportError, match="Reshape node 'flatten_batch_into_rows' hard-codes a leading dimension of 2"):
        make_batch_dynamic(model)


def test_corrupt_or_non_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("definitely not protobuf")
    with pytest.raises(ExportError, match="model.onnx is not a valid ONNX model"):
        load_onnx(bad)


def test_export_and_convert_stages_verify_numerically(downloaded):
    sh(["dvc", "repro", "convert-IR"], downloaded)
    e = read_results("export_dynamic", downloaded)
    assert e["method"] == "rewrite" and e["max_abs_diff"] <= 0.001 and "max_abs_diff_b2" in e
    c = read_results("convert_ir", downloaded)
    assert c["dynamic_batch"] and not c["compress_to_fp16"] and c["verify_precision"] == "f32"
    assert c["max_abs_diff"] < 0.05 and c["detection_agreement_b2"] >= 0.95 and c["detection_agreement_min"] >= 0.95
    ov = OvRuntime(downloaded / "models/ov_fp32/yolov5n.xml", precision="f32")
    x = np.zeros((3, 3, 640, 640), np.float32)
    assert ov.fixed_batch is None and ov.infer(x).shape == (3, 25200, 85)


def test_export_stage_on_corrupt_model_leaves_no_output(downloaded):
    model = downloaded / "models/yolov5n.onnx"
    good = model.read_bytes()
    out = downloaded / "models/yolov5n_dynamic.onnx"
    out.unlink(missing_ok=True)
    try:
        model.write_bytes(good[: len(good) // 2])
        proc = sh(["python", "-m", "stages.export_dynamic"], downloaded, check=False)
        assert proc.returncode == 1
        assert "error: models/yolov5n.onnx is not a valid ONNX model" in proc.stderr
        assert not out.exists() and not list((downloaded / "models").glob(".*tmp*"))
    finally:
        model.write_bytes(good)


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="export extra not installed (./dev export-extra installs torch + ultralytics)",
)
def test_pt_checkpoint_door_gives_the_onnx_door_s_exact_outputs(tmp_path, real_batch):
    """model.source: a trained .pt. Built here from the mirror's trained YOLOv8n ONNX (its weights
    copied into Ultralytics' YOLOv8n module), so the ONNX Ultralytics exports from it must give the
    mirror model's outputs; then both export methods make it dynamic, verified."""
    from yolo_cpu.models.ultralytics_export import pt_from_onnx

    pt = pt_from_onnx(V8, "yolov8n.yaml", tmp_path / "mine.pt")
    repo = make_repo(tmp_path / "repo", {"model": {"name": "mine", "source": str(pt), "imgsz": 640}})
    sh(["python", "-m", "stages.inputs"], repo)
    sh(["python", "-m", "stages.download"], repo)
    d = read_results("download", repo)
    assert d["model_layout"].startswith("YOLOv8") and d["classes"] == 80 and ".pt" in d["model_fetched_from"]
    assert d["model_class_names"][:2] == ["person", "bicycle"]
    x = real_batch[:1]
    assert np.array_equal(OrtRuntime(repo / "models/mine.onnx").infer(x), OrtRuntime(V8).infer(x))
    assert json.loads((repo / "data/inputs.json").read_text())["model"]["sha256"] == d["model_source_sha256"]
    checkpoint = json.loads((repo / "data/inputs_checkpoint.json").read_text())["checkpoint"]
    assert checkpoint["sha256"] == d["model_source_sha256"]  # bench-torch reruns when the .pt changes
    for method in ("rewrite", "ultralytics"):
        set_params(repo, {"export": {"method": method}})
        sh(["python", "-m", "stages.export_dynamic"], repo)
        e = read_results("export_dynamic", repo)
        assert e["method"] == method and e["max_abs_diff"] <= 0.001
        rt = OrtRuntime(repo / "models/mine_dynamic.onnx")
        assert rt.fixed_batch is None
        assert rt.infer(np.zeros((2, 3, 640, 640), np.float32)).shape == (2, 84, 8400)
    # bench-torch times the .pt's own Ultralytics module, checked against ONNX Runtime first
    sh(["python", "-m", "stages.convert_ir"], repo)
    sh(["python", "-m", "stages.bench_torch"], repo)
    b = read_results("bench_torch", repo)
    assert b["torch_fp32_settings"]["module"] == "Ultralytics module of the .pt" and b["torch_fp32_settings"][
        "model"
    ] == str(pt)
    assert b["max_abs_diff_vs_ort"] <= 0.01 and "torch_fp32_b1_ips" in b
