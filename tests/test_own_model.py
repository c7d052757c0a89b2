"""Your own model and data: YOLOv8 end to end, a real 3-class detector and dataset cut from the COCO ones
(oracle: the 80-class model's mAP restricted to those classes), COCO through two doors, and the errors
for a model and dataset that do not fit or a malformed data YAML."""

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import yaml
from conftest import MIRROR, make_repo, needs_mirror, runnable, set_params, sh
from own_data import THREE, coco_yaml, remapped_dataset, slice_classes

from yolo_cpu.accuracy.scoring import coco_map
from yolo_cpu.data import coco
from yolo_cpu.data.data_yaml import label_path
from yolo_cpu.models.variants import VARIANTS
from yolo_cpu.pipeline.stage import read_results
from yolo_cpu.runtime.predict import predict
from yolo_cpu.runtime.runtimes import OrtRuntime

pytestmark = needs_mirror
V8 = MIRROR / "models" / "yolov8n.onnx"
# The extra pipelines time one batch size.
ONE_BATCH = {"bench": {"batch_sizes": [1]}, "bench_deploy": {"batch_sizes": [1]}, "bench_torch": {"batch_sizes": [1]}}
# The YOLOv8 run times INT8 on the deployment path and in memory; every variant in bench-ov and eval-map.
V8_TIMED = {
    "bench_deploy": {"batch_sizes": [1], "variants": ["ov_int8"]},
    "memory": {"variants": ["ort_int8", "ov_int8"]},
    "serve": {"max_seconds": 0},  # serving is test_serve's, on the YOLOv5 bundle; the bundles keep the defaults
}
# The 3-class run needs FP32 for the oracle and INT8 on both runtimes, not every precision.
FEWER_VARIANTS = {"eval": {"variants": ["ort_fp32", "ort_int8", "ov_fp32", "ov_int8"]}}
EVAL_VARIANTS = runnable("ort_fp32", "ort_int8", "ov_fp32", "ov_bf16", "ov_int8", "ov_int8_bf16")
# max_det=300 keeps the 300 best detections over all 80 classes, so the 80-class model can drop a few
# low-score detections of the three classes that the 3-class model keeps: measured 0.007 mAP50-95 points
# on yolov5n (12 images) and 0 on yolov8n; without the cap the two agree exactly.
MAX_DET_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    """(data YAML, {layout model name: 3-class model}) built from the mirror."""
    tmp = tmp_path_factory.mktemp("three_class")
    data = remapped_dataset(MIRROR, tmp / "dataset")
    models = {f: slice_classes(MIRROR / "models" / f"{f}.onnx", tmp / f"{f}_3cls.onnx") for f in ("yolov5n", "yolov8n")}
    return data, models


@pytest.fixture(scope="module")
def v8_pipeline(tmp_path_factory):
    """The whole pipeline on the mirror's YOLOv8n ONNX and COCO, tiny params."""
    repo = make_repo(
        tmp_path_factory.mktemp("v8") / "repo",
        {"model": {"name": "yolov8n", "source": str(V8), "imgsz": 640}, **ONE_BATCH, **V8_TIMED},
    )
    sh(["dvc", "repro"], repo)
    return repo


@pytest.fixture(scope="module")
def three_class_pipeline(tmp_path_factory, three_class):
    """The pipeline up to eval-map (every stage it needs: download, export, convert, both quantizations)
    on the 3-class YOLOv8n and the 3-class data YAML; the timing stages run on the other pipelines."""
    data, models = three_class
    repo = make_repo(
        tmp_path_factory.mktemp("v8_3cls") / "repo",
        {
            "model": {"name": "v8n_3cls", "source": str(models["yolov8n"]), "imgsz": 640},
            "data": {"dataset": str(data)},
            **FEWER_VARIANTS,
        },
    )
    sh(["dvc", "repro", "eval-map"], repo)
    return repo


@pytest.mark.slow
def test_yolov8_end_to_end_int8_on_both_runtimes(v8_pipeline):
    repo = v8_pipeline
    d = read_results("download", repo)
    assert d["model_layout"].startswith("YOLOv8") and d["classes"] == 80
    assert d["model_class_names"][:3] == ["person", "bicycle", "car"] and not d["class_name_differences"]
    for v in ("ort_int8", "ov_int8"):
        assert VARIANTS[v].model_path("yolov8n").relative_to("models").parts[0] == v
        assert (repo / VARIANTS[v].model_path("yolov8n")).is_file()
    ex = read_results("export_dynamic", repo)
    assert ex["max_abs_diff"] <= 1e-3 and ex["head_concats_split"] == 1  # the exact head rewrite ran
    qov, qort = read_results("quantize_ov", repo), read_results("quantize_ort", repo)
    assert qov["decode_ops"] > 0 and qov["fake_quantize_nodes"] > 0 and qov["agreement_vs_fp32"] >= 0.8
    assert qort["head_nodes"] > 0 and qort["quantize_linear_nodes"] > 0
    bo, bv = read_results("bench_ort", repo), read_results("bench_ov", repo)
    assert all(bo[f"{v}_b1_p50_ms"] > 0 for v in ("ort_fp32_fixed", "ort_fp32", "ort_int8"))
    assert all(bv[f"{v}_b1_ips"] > 0 for v in runnable("ov_fp32", "ov_bf16", "ov_int8", "ov_int8_bf16"))
    ev = read_results("eval_map", repo)
    # Real detections: yolov8n scores well above yolov5n's 25-40 on these images, on every variant.
    assert all(ev[f"{v}_map50_95"] > 30 for v in EVAL_VARIANTS)
    assert abs(ev["ort_fp32_map50_95"] - ev["ov_fp32_map50_95"]) < 0.2
    assert "YOLOv8/YOLO11" in (repo / "metrics" / "report.md").read_text()


@pytest.mark.slow
def test_three_class_model_and_dataset_end_to_end_equal_the_80_class_model_on_those_classes(
    three_class_pipeline, v8_pipeline
):
    repo = three_class_pipeline
    d = read_results("download", repo)
    assert d["classes"] == 3 and d["class_names"] == list(THREE) and d["calibration_from"] == "val"
    assert d["model_class_names"] == list(THREE)
    gt = json.loads((repo / "data/eval/instances.json").read_text())
    assert [(c["id"], c["name"]) for c in gt["categories"]] == list(enumerate(THREE))
    ev = read_results("eval_map", repo)
    assert all(f"{v}_map50_95" in ev for v in FEWER_VARIANTS["eval"]["variants"])
    assert ev["class_subset"] == list(THREE)
    # Oracle: the same eval images (the same seeded draw over the same sorted files), the 80-class
    # model's predictions restricted to person, car and dog.
    gt80 = json.loads((v8_pipeline / "data/eval/instances.json").read_text())
    assert len(gt80["images"]) == len(gt["images"])
    dets80 = json.loads((v8_pipeline / "data/predictions/ort_fp32.json").read_text())
    restricted = 100 * coco_map(gt80, dets80, [coco.NAMES.index(c) for c in THREE])["map50_95"]
    assert ev["ort_fp32_map50_95"] == pytest.approx(restricted, abs=MAX_DET_TOLERANCE)
    assert ev["ov_fp32_map50_95"] == pytest.approx(restricted, abs=MAX_DET_TOLERANCE + 0.2)


@pytest.mark.parametrize("layout_model", ["yolov5n", "yolov8n"])
def test_sliced_model_equals_the_80_class_model_exactly_without_the_max_det_cap(three_class, layout_model):
    data, models = three_class
    images = sorted((MIRROR / "coco/images/val2017").glob("*.jpg"))[:16]
    labels_dir = data.parent / "labels" / "val"
    items = []
    for p in images:
        h, w = cv2.imread(str(p)).shape[:2]
        items.append((int(p.stem), p.name, w, h, coco.parse_labels(labels_dir / f"{p.stem}.txt", 3)))
    gt3 = coco.gt_from_labels(items, coco.Classes.custom(THREE))
    gt80 = coco.gt_from_labels(
        [(i, n, w, h, coco.parse_labels(MIRROR / "coco/labels/val2017" / f"{i:012d}.txt")) for i, n, w, h, _ in items]
    )
    d80, _ = predict(
        OrtRuntime(MIRROR / "models" / f"{layout_model}.onnx"),
        images,
        batch=1,
        max_det=100000,
        category_ids=coco.CATEGORY_IDS,
    )
    d3, _ = predict(OrtRuntime(models[layout_model]), images, batch=1, max_det=100000)
    assert d3 and {d["category_id"] for d in d3} <= {0, 1, 2}
    full = coco_map(gt80, d80, [coco.NAMES.index(c) for c in THREE])
    three = coco_map(gt3, d3)
    assert three["map50_95"] == full["map50_95"] and three["per_class"] == full["per_class"]
    assert len(d3) == sum(d["category_id"] in (1, 3, 18) for d in d80)  # person, car, dog in COCO ids


@pytest.mark.slow
def test_coco_through_a_data_yaml_gives_the_same_map_as_the_default_door(pipeline, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(pipeline, repo, symlinks=True)
    set_params(
        repo,
        {
            "data": {"dataset": str(coco_yaml(MIRROR, tmp_path / "coco.yaml"))},
            "eval": {"variants": ["ort_fp32", "ov_fp32"]},
        },
    )
    sh(["python", "-m", "stages.download"], repo)
    sh(["python", "-m", "stages.eval_map"], repo)
    yaml_door, default_door = read_results("eval_map", repo), read_results("eval_map", pipeline)
    gt = json.loads((repo / "data/eval/instances.json").read_text())
    default_ids = {im["id"] for im in json.loads((pipeline / "data/eval/instances.json").read_text())["images"]}
    assert gt["categories"][0]["id"] == 0 and {im["id"] for im in gt["images"]} != default_ids  # other ids
    for v in ("ort_fp32", "ov_fp32"):
        for k in ("map50_95", "map50", "subset_map50_95"):
            assert yaml_door[f"{v}_{k}"] == default_door[f"{v}_{k}"], (v, k)


def stage_error(repo, module: str = "stages.download") -> str:
    proc = sh(["python", "-m", module], repo, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_class_count_mismatch_names_both_counts_and_both_files(three_class, tmp_path):
    data, _ = three_class
    repo = make_repo(tmp_path / "repo", {"data": {"dataset": str(data)}})
    err = stage_error(repo)
    assert "predicts 80 classes" in err and "has 3" in err and "yolov5n.onnx" in err and str(data) in err
    assert not (repo / "data" / "eval").exists()


def _yaml(tmp_path, body: dict):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(body))
    return f


@pytest.mark.parametrize(
    "case",
    [
        "no_val",
        "label_class_beyond_names",
        "label_out_of_format",
        "val_not_found",
        "path_at_the_root",
        "val_at_the_root",
        "too_many_images",
    ],
)
def test_malformed_data_yaml_is_an_error_naming_the_file(three_class, tmp_path, case):
    data, models = three_class
    root = data.parent
    body = yaml.safe_load(data.read_text()) | {"path": str(root)}
    broken = tmp_path / "labels_copy"
    limit = 200_000
    if case == "path_at_the_root":  # would walk the whole disk
        body |= {"path": "/", "val": "."}
        want = "path '/' is the filesystem root (/): listing it would walk the whole disk"
    elif case == "val_at_the_root":
        body["val"] = "../" * (len(root.parts) + 2)
        want = f"val {body['val']!r} is the filesystem root (/)"
    elif case == "too_many_images":  # the mirror's 1000 images against a bound of 100
        limit = 100
        want = "val 'images/val' holds more than 100 images (looked in "
    elif case == "no_val":
        body.pop("val")
        want = "no 'val' key"
    elif case == "val_not_found":
        body["val"] = "images/nowhere"
        want = "'images/nowhere' is not a folder"
    else:  # a copy of the dataset with one broken label file
        shutil.copytree(root / "images", broken / "images", symlinks=True)
        shutil.copytree(root / "labels", broken / "labels")
        body["path"] = str(broken)
        label = sorted((broken / "labels" / "val").glob("*.txt"))[0]
        line = "5 0.5 0.5 0.1 0.1" if case == "label_class_beyond_names" else "0 0.5 0.5 0.1"
        label.write_text(line + "\n")
        want = f"{label}:1: {line!r}: " + (
            "class 5 is outside the 3 class names (0-2)"
            if case == "label_class_beyond_names"
            else "expected 'class xc yc w h'"
        )
    f = _yaml(tmp_path, body)
    repo = make_repo(
        tmp_path / "repo",
        {
            "model": {"name": "m3", "source": str(models["yolov8n"]), "imgsz": 640},
            "data": {"dataset": str(f), "eval_images": 1000, "calib_images": 16, "max_listed_images": limit},
        },
    )
    err = stage_error(repo)
    assert want in err and (case in ("label_class_beyond_names", "label_out_of_format") or str(f) in err)


@pytest.mark.slow
def test_images_without_label_files_are_counted_as_no_objects(three_class_pipeline):
    repo = three_class_pipeline
    originals = [
        line.split("\t")
        for split in ("eval", "calib")
        for line in (repo / "data" / split / "originals.tsv").read_text().splitlines()
    ]
    assert len(originals) == len(list((repo / "data/eval/images").iterdir())) + len(
        list((repo / "data/calib/images").iterdir())
    )
    unlabelled = sum(not label_path(Path(original)).exists() for _, original in originals)
    assert read_results("download", repo)["images_without_labels"] == unlabelled > 0


@pytest.mark.slow
def test_a_label_or_model_replaced_at_the_same_path_reruns_download_and_nothing_else_changes(
    three_class_pipeline, three_class
):
    """The inputs stage records the user's files: editing one at the same path makes download stale;
    rerunning inputs with nothing changed leaves every stage up to date."""
    repo = three_class_pipeline
    data, models = three_class

    def stale_after_inputs() -> set[str]:
        sh(["dvc", "repro", "-s", "inputs"], repo)
        status = json.loads(sh(["dvc", "status", "--json", "--with-deps", "eval-map"], repo).stdout or "{}")
        return {k.split(":")[-1] for k in status} - {"check", "inputs", "fingerprint"}

    assert stale_after_inputs() == set()
    label = sorted((data.parent / "labels" / "val").glob("*.txt"))[0]
    model = models["yolov8n"]
    saved_label, saved_model, label_stat = label.read_text(), model.read_bytes(), label.stat()
    try:
        label.write_text(saved_label + saved_label.splitlines()[0] + "\n")  # one more box
        assert stale_after_inputs() == {"download"}
        label.write_text(saved_label)
        os.utime(label, ns=(label_stat.st_atime_ns, label_stat.st_mtime_ns))
        assert stale_after_inputs() == set()
        model.write_bytes(saved_model)  # same bytes, new mtime: the sha256 is what counts
        assert stale_after_inputs() == set()
        m = onnx.load(str(model))
        onnx.helper.set_model_props(m, {"author": "retrained"})
        onnx.save(m, str(model))
        assert stale_after_inputs() == {"download"}
    finally:
        model.write_bytes(saved_model)
        label.write_text(saved_label)
        os.utime(label, ns=(label_stat.st_atime_ns, label_stat.st_mtime_ns))
    assert stale_after_inputs() == set()


def refused_everywhere(path: Path, pattern: str) -> None:
    """The pipeline's check (inspect) and the deployment Detector, on OpenVINO and ONNX Runtime, refuse
    the model with the same message: one rule for every consumer."""
    from yolo_cpu.deploy.detector import Detector
    from yolo_cpu.models.detection_outputs import NotADetectorError
    from yolo_cpu.models.model_info import inspect

    with pytest.raises(NotADetectorError, match=pattern):
        inspect(path, 640)
    for runtime in ("openvino", "onnxruntime"):
        with pytest.raises(NotADetectorError, match=pattern):
            Detector(path, runtime=runtime)


def test_a_segmentation_or_pose_model_is_refused_saying_what_it_is(tmp_path):
    """The mirror's YOLOv8n detector with Ultralytics' metadata `task` set to segment or pose; with one of
    its own 4-D feature maps added as a second output (what a segmentation export's mask prototypes look
    like); with 32 more channels than its 80 names allow (a segmentation head's 4 + 80 + 32): each is
    refused, saying what was found, by the pipeline and the Detector alike; the untouched detector passes."""
    from yolo_cpu.deploy.detector import Detector
    from yolo_cpu.models.model_info import inspect

    assert inspect(V8, 640).classes == 80
    Detector(V8).close()
    for task, said in (("segment", "instance segmentation"), ("pose", "pose (keypoints)")):
        m = onnx.load(str(V8))
        onnx.helper.set_model_props(m, {p.key: p.value for p in m.metadata_props} | {"task": task})
        onnx.save(m, str(tmp_path / f"{task}.onnx"))
        refused_everywhere(
            tmp_path / f"{task}.onnx",
            rf"{task}.onnx: its metadata says task '{task}' "
            rf"\({re.escape(said)}\); this tool runs object detectors",
        )
    m = onnx.shape_inference.infer_shapes(onnx.load(str(V8)))
    feature = next(v for v in m.graph.value_info if len(v.type.tensor_type.shape.dim) == 4)
    m.graph.output.append(feature)
    onnx.helper.set_model_props(m, {p.key: p.value for p in m.metadata_props if p.key != "task"})
    onnx.save(m, str(tmp_path / "protos.onnx"))
    refused_everywhere(
        tmp_path / "protos.onnx",
        rf"its second output '{re.escape(feature.name)}' \[1, \d+, \d+, \d+\] "
        "is a segmentation model's mask prototypes",
    )
    m = onnx.load(str(V8))  # output0 [1, 84, 8400] widened to [1, 116, 8400], the names kept
    out = m.graph.output[0]
    m.graph.node.append(onnx.helper.make_node("Slice", [out.name, "s0", "s1", "ax"], ["extra"]))
    m.graph.node.append(onnx.helper.make_node("Concat", [out.name, "extra"], ["wide"], axis=1))
    m.graph.initializer.extend(
        [onnx.numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s0", 4), ("s1", 36), ("ax", 1))]
    )
    m.graph.output[0].CopyFrom(onnx.helper.make_tensor_value_info("wide", onnx.TensorProto.FLOAT, [1, 116, 8400]))
    onnx.save(m, str(tmp_path / "wide.onnx"))
    refused_everywhere(
        tmp_path / "wide.onnx",
        r"output 'wide' is \[1, 116, 8400\], 116 channels, but its metadata "
        r"names 80 classes, for which a YOLOv8/YOLO11 detector has 84",
    )


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="export extra not installed (./dev export-extra installs torch + ultralytics)",
)
@pytest.mark.parametrize(
    "arch, task", [("yolov8n-seg.yaml", "segment"), ("yolov8n-pose.yaml", "pose"), ("yolov8n-cls.yaml", "classify")]
)
def test_ultralytics_segmentation_pose_and_classifier_exports_are_refused(arch, task, tmp_path):
    """Ultralytics' own exports of those architectures (untrained: only the outputs and metadata matter),
    by their metadata; and with the metadata stripped, by their outputs (mask prototypes, a classifier's
    rank-2 scores; a pose head without metadata is shaped like a detector's and cannot be told apart)."""
    from yolo_cpu.models.ultralytics_export import export_onnx

    export_onnx(arch, tmp_path / "m.onnx", 640, dynamic=False, work=tmp_path / "work")
    refused_everywhere(tmp_path / "m.onnx", rf"its metadata says task '{task}'")
    if task != "pose":
        m = onnx.load(str(tmp_path / "m.onnx"))
        del m.metadata_props[:]
        onnx.save(m, str(tmp_path / "bare.onnx"))
        refused_everywhere(
            tmp_path / "bare.onnx",
            "mask prototypes" if task == "segment" else r"is \[1, 1000\] \(a classifier's scores\)",
        )


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="export extra not installed (./dev export-extra installs torch + ultralytics)",
)
@pytest.mark.parametrize("arch,dynamic", [("yolov8n.yaml", False), ("yolo11n.yaml", False), ("yolo11n.yaml", True)])
def test_head_scope_fits_yolov8_and_yolo11_exports_static_and_dynamic(arch, dynamic, tmp_path):
    """Ultralytics' own exports of the architectures (untrained weights: only node names and shapes
    matter here): the decode ops, the DFL and the six final 1x1 convs, in ONNX and in OpenVINO."""
    import openvino as ov

    from yolo_cpu.models.model_info import inspect
    from yolo_cpu.models.ultralytics_export import export_onnx
    from yolo_cpu.quantize.head import head_patterns, matching
    from yolo_cpu.quantize.quantize_ov import head_ops

    path = tmp_path / "m.onnx"
    export_onnx(arch, path, 640, dynamic=dynamic, work=tmp_path / "work")
    info = inspect(path, 640)
    assert info.layout == "v8" and info.classes == 80
    names = [n.name for n in onnx.load(str(path)).graph.node]
    decode, full = matching(names, head_patterns(names, False)), matching(names, head_patterns(names, True))
    finals = sorted(set(full) - set(decode))
    assert len(finals) == 6 and all(n.endswith(".2/Conv") for n in finals), finals
    assert any(n.endswith("/dfl/Softmax") for n in decode) and any(n.endswith("/dfl/conv/Conv") for n in decode)
    assert not any("/cv2.0.0/" in n or "/cv3.0.0/" in n for n in full)  # the 3x3 head convs stay INT8
    ov_ops = head_ops(ov.convert_model(str(path)), include_convs=True)
    assert sum("/dfl/" in n for n in ov_ops) >= 3 and sum(".2/Conv" in n for n in ov_ops) >= 6
    if dynamic:  # Ultralytics' dynamic export leaves height and width open too: OvRuntime fixes them to `size`
        from yolo_cpu.runtime.runtimes import OvRuntime

        assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[2].dim_param
        rt = OvRuntime(path, batch=2, size=320)
        assert rt.input_shape == [2, 3, 320, 320]
        assert rt.infer(np.zeros((2, 3, 320, 320), np.float32)).shape == (2, 84, 2100)


def test_calibration_comes_from_train_when_the_yaml_has_it_and_never_from_val(tmp_path):
    from yolo_cpu.data.data_yaml import DataYaml, YamlSource
    from yolo_cpu.data.dataset import plan_split

    files = sorted((MIRROR / "coco/images/val2017").glob("*.jpg"))[:80]
    for sub, chunk in (("val", files[:40]), ("train", files[40:])):
        (tmp_path / "images" / sub).mkdir(parents=True)
        for f in chunk:
            (tmp_path / "images" / sub / f.name).symlink_to(f)
    # train as a .txt list: its own 40 images plus 5 val images, which calibration must leave out
    listed = [f"./images/train/{f.name}" for f in files[40:]] + [f"./images/val/{f.name}" for f in files[:5]]
    (tmp_path / "train.txt").write_text("\n".join(listed) + "\n")
    f = _yaml(tmp_path, {"path": ".", "val": "images/val", "train": "train.txt", "names": ["a", "b"]})
    src = YamlSource(DataYaml.load(f))
    assert src.train_val_overlap == 5 and len(src.train_names) == 40
    ev, ca, used = plan_split(src, 30, 20, 0)
    assert used == "train" and len(ev) == 30 and len(ca) == 20 and not set(ev) & set(ca)
    assert set(ca) <= set(src.train_names) and set(ev) <= set(src.val_names)
    assert all(src.origin(n).startswith(str(tmp_path / "images" / "train")) for n in ca)
    ev, ca, _ = plan_split(src, 500, 20, 0)  # evaluation capped at the val images
    assert len(ev) == 40


def test_polygon_labels_give_their_bounding_box():
    boxes = coco.parse_label_text("2 0.1 0.2 0.5 0.2 0.3 0.6\n0 0.5 0.5 0.2 0.2\n", "x.txt", nc=3)
    assert np.allclose(boxes, [[2, 0.3, 0.4, 0.4, 0.4], [0, 0.5, 0.5, 0.2, 0.2]])
    with pytest.raises(coco.LabelError, match="x.txt:1: .*got 6 fields"):
        coco.parse_label_text("0 0.1 0.2 0.5 0.2 0.3\n", "x.txt", nc=3)


def test_a_model_url_is_downloaded_checked_against_its_pin_and_recorded(tmp_path):
    """model.source as an http URL, served here from the mirror's folder by a local HTTP server: a wrong
    model.sha256 pin keeps nothing, the right one is recorded with the bytes' sha256, a cached copy that no
    longer matches is fetched again, and a .pt URL without a pin is refused before any byte is fetched."""
    import functools
    import hashlib
    import http.server
    import threading

    import onnx

    from yolo_cpu.models import metadata

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(MIRROR / "models"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = hashlib.sha256(V8.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"another model").hexdigest()
    local = {"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/yolov8n.onnx"
        repo = make_repo(tmp_path / "repo", {"model": {"name": "v8url", "source": url, "imgsz": 640, "sha256": wrong}})
        proc = sh(["python", "-m", "stages.inputs"], repo, env=local, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"{url} sent bytes with sha256 {real}, not the pinned {wrong}" in proc.stderr
        assert not list((repo / "downloads").glob("*")), "a download that missed its pin was kept"
        set_params(repo, {"model": {"sha256": real.upper()}})  # as sha256sum prints it, or upper case
        sh(["python", "-m", "stages.inputs"], repo, env=local)
        sh(["python", "-m", "stages.download"], repo, env=local)
        cached = next((repo / "downloads").glob("*yolov8n.onnx"))
        cached.write_bytes(cached.read_bytes()[:-10])  # cut short: the cache no longer holds a whole model
        proc = sh(["python", "-m", "stages.inputs"], repo, env=local)
        assert f"the cached {cached.relative_to(repo)} is damaged (it does not parse as ONNX" in proc.stdout
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == real
        set_params(repo, {"model": {"source": url.replace(".onnx", ".pt"), "sha256": ""}})
        proc = sh(["python", "-m", "stages.inputs"], repo, env=local, check=False)
        assert proc.returncode == 1 and "is a .pt from a URL: set model.sha256" in proc.stderr
        assert "runs any code the file carries" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        server.shutdown()

    got, src = onnx.load(str(repo / "models/v8url.onnx")), onnx.load(str(V8))
    assert got.graph.SerializeToString() == src.graph.SerializeToString()  # the model itself unchanged
    assert metadata.read(repo / "models/v8url.onnx").layout == "v8"  # stamped with what travels with it
    d = read_results("download", repo)
    assert d["model_source_sha256"] == real
    assert d["model_fetched_from"] == "url" and d["model_source"] == url and d["model_layout"].startswith("YOLOv8")
    assert json.loads((repo / "data/inputs.json").read_text())["model"] == {
        "kind": "url",
        "url": url,
        "sha256": real,
        "pin": real,
    }


@pytest.mark.slow
def test_ultralytics_loads_the_bundle_and_finds_the_same_objects(v8_pipeline, tmp_path, monkeypatch):
    """Oracle: Ultralytics' own YOLO(<bundle>) (its OpenVINO or ONNX backend, its letterbox and NMS) on each
    bundle the recommendation writes, against `yolo-cpu detect` on the same bundle at the precision
    Ultralytics runs (OpenVINO's default: bf16 where the CPU has it). Same objects: same class and
    IoU >= 0.9, for at least 95% of the detections either way, confidences within 0.05; the JSON
    entries have Ultralytics' summary() keys."""
    pytest.importorskip("ultralytics")
    import json
    import subprocess
    import sys

    from conftest import tool_env
    from ultralytics import YOLO
    from ultralytics.utils.nms import TorchNMS

    # The registry's torchvision 0.28 is a CUDA build whose ops do not load beside CPU torch, and
    # Ultralytics imports it before predicting: stand in with Ultralytics' own pure-torch NMS.
    shim = type(sys)("torchvision")
    shim.ops = type(sys)("torchvision.ops")
    shim.ops.nms = TorchNMS.nms
    monkeypatch.setitem(sys.modules, "torchvision", shim)

    from yolo_cpu.runtime.postprocess import box_iou
    from yolo_cpu.runtime.runtimes import ov_supports_bf16

    def matched(a: list[dict], b: list[dict]) -> int:
        """Detections of `a` with a detection of `b` of the same class at IoU >= 0.9 and close confidence."""
        if not a or not b:
            return 0

        def box(ds: list[dict]) -> np.ndarray:
            return np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in ds], np.float32)

        iou = box_iou(box(a), box(b))
        return sum(
            any(
                iou[i, j] >= 0.9
                and a[i]["class"] == b[j]["class"]
                and abs(a[i]["confidence"] - b[j]["confidence"]) < 0.05
                for j in range(len(b))
            )
            for i in range(len(a))
        )

    repo = v8_pipeline
    images = sorted((MIRROR / "coco" / "images" / "val2017").glob("*.jpg"))[:8]
    bundles = sorted({d["bundle"] for d in read_results("recommend", repo)["deployments"].values()})
    for bundle in (repo / b for b in bundles):
        openvino = bundle.name.endswith("_openvino_model")
        # Ultralytics reads an OpenVINO folder by its name and an ONNX model by its file (metadata inside)
        theirs_model = bundle if openvino else next(bundle.glob("*.onnx"))
        precision = ["--precision", "bf16" if ov_supports_bf16() else "f32"] if openvino else []
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "yolo-cpu"), "detect", str(bundle), *map(str, images), *precision],
            capture_output=True,
            text=True,
            env=tool_env(),
            cwd=tmp_path,
            check=True,
        )
        ours = [json.loads(x)["detections"] for x in proc.stdout.splitlines()]
        theirs = [
            r.summary()
            for r in YOLO(str(theirs_model), task="detect").predict(
                [str(p) for p in images], conf=0.25, iou=0.45, imgsz=640, verbose=False
            )
        ]
        assert sum(map(len, ours)) > 20 and set(ours[0][0]) == set(theirs[0][0]), bundle
        n_ours, n_theirs = sum(map(len, ours)), sum(map(len, theirs))
        assert sum(matched(o, t) for o, t in zip(ours, theirs)) >= 0.95 * n_ours, bundle
        assert sum(matched(t, o) for o, t in zip(ours, theirs)) >= 0.95 * n_theirs, bundle

        # names: ours from the model's own metadata, Ultralytics' from metadata.yaml or the ONNX; one mapping
        def named(runs: list) -> set:
            return {(d["class"], d["name"]) for ds in runs for d in ds}

        assert named(ours) & named(theirs), bundle
        assert len(dict(named(ours) | named(theirs))) == len(named(ours) | named(theirs)), bundle


def _tree_hash(*paths: Path) -> dict[str, str]:
    import hashlib

    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_a_bad_label_or_image_of_a_data_yaml_fails_at_check_and_download_s_outputs_stay(three_class, tmp_path):
    """After a download, a label of an evaluation image gets a class beyond the names, then (label
    restored) that image gets a random tail: `dvc repro` fails in the check stage each time, naming the
    file, before DVC deletes anything; data/eval, data/calib and the model stay byte for byte. With
    data.bad_input: skip the image is left out and counted instead."""
    data, models = three_class
    root = tmp_path / "dataset"
    shutil.copytree(data.parent / "images", root / "images", symlinks=True)
    shutil.copytree(data.parent / "labels", root / "labels")
    body = yaml.safe_load(data.read_text()) | {"path": str(root)}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(body))
    repo = make_repo(
        tmp_path / "repo",
        {
            "model": {"name": "m3", "source": str(models["yolov8n"]), "imgsz": 640},
            "data": {"dataset": str(tmp_path / "data.yaml")},
        },
    )
    sh(["dvc", "repro", "download"], repo)
    kept = _tree_hash(repo / "data" / "eval", repo / "data" / "calib", repo / "models")
    image = Path((repo / "data/eval/originals.tsv").read_text().splitlines()[0].split("\t")[1])
    label = root / "labels" / "val" / f"{image.stem}.txt"
    saved = label.read_text() if label.exists() else None
    label.write_text("5 0.5 0.5 0.1 0.1\n")
    proc = sh(["dvc", "repro", "download"], repo, check=False)
    assert proc.returncode != 0 and "failed to reproduce 'check'" in proc.stderr
    assert f"{label}:1: '5 0.5 0.5 0.1 0.1': class 5 is outside the 3 class names" in proc.stderr
    assert _tree_hash(repo / "data" / "eval", repo / "data" / "calib", repo / "models") == kept
    label.write_text(saved) if saved is not None else label.unlink()
    real = image.read_bytes()
    image.unlink()  # a symlink into the mirror: replaced by a damaged copy, the mirror untouched
    image.write_bytes(real[:-3000] + np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    proc = sh(["dvc", "repro", "download"], repo, check=False)
    assert proc.returncode != 0 and "failed to reproduce 'check'" in proc.stderr
    assert "cannot be decoded (a corrupt JPEG: " in proc.stderr and str(image) in proc.stderr
    assert _tree_hash(repo / "data" / "eval", repo / "data" / "calib", repo / "models") == kept
    set_params(repo, {"data": {"bad_input": "skip"}})
    sh(["dvc", "repro", "download"], repo)
    skipped = read_results("download", repo)["skipped"]
    assert len(skipped) == 1 and "corrupt JPEG" in skipped[0] and str(image) in skipped[0]
