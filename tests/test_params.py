"""params.yaml validation: every stage's section is checked before any work."""

from pathlib import Path

import pytest
import yaml

from yolo_cpu.pipeline import params

ROOT = Path(__file__).resolve().parents[1]


def committed() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_validate():
    data = committed()
    assert set(data) == set(params.SCHEMA)
    for section in params.SCHEMA:
        params.validate_section(section, data[section])


@pytest.mark.parametrize(
    "section,key,value,needle",
    [
        ("bench", "batch_sizes", [1, 0], "bench.batch_sizes"),
        ("bench", "slice_runs", 0, "bench.slice_runs = 0"),
        ("model", "name", "../elsewhere", "model.name = '../elsewhere': must be str matching"),
        ("bench_ort", "intra_threads", "two", "bench_ort.intra_threads = 'two'"),
        ("eval", "variants", ["ort_fp32", "tensorrt"], "'tensorrt' is not allowed"),
        ("bench_ort", "variants", ["ov_int8"], "'ov_int8' is not allowed"),
        ("quantize_ov", "fast_bias_correction", 1, "quantize_ov.fast_bias_correction = 1"),
        ("bench_ov", "variants", ["ov_f32"], "'ov_f32' is not allowed"),
        ("data", "eval_images", True, "data.eval_images = True"),
    ],
)
def test_bad_values_name_key_value_and_allowed(section, key, value, needle):
    data = committed()[section]
    data[key] = value
    with pytest.raises(params.ParamError) as e:
        params.validate_section(section, data)
    assert needle in str(e.value)


def test_unknown_and_missing_keys():
    data = committed()["bench"]
    with pytest.raises(params.ParamError, match=r"unknown key bench.warmpu; allowed keys"):
        params.validate_section("bench", {**data, "warmpu": 3})
    del data["slice_runs"]
    with pytest.raises(params.ParamError, match=r"missing key bench.slice_runs"):
        params.validate_section("bench", data)


def test_ints_accepted_for_floats_and_null_where_allowed():
    data = committed()["eval"]
    out = params.validate_section("eval", {**data, "conf": 0, "max_int8_drop": 1})
    assert isinstance(out["conf"], float) and out["max_int8_drop"] == 1.0
    assert params.validate_section("eval", {**data, "max_int8_drop": None})["max_int8_drop"] is None


def test_a_model_name_without_a_source_must_be_a_release_and_a_source_an_onnx_or_pt(tmp_path):
    from yolo_cpu.errors import UserError
    from yolo_cpu.models.model_source import describe

    assert describe("yolov5s", "") == {"kind": "release", "name": "yolov5s", "pin": ""}
    with pytest.raises(UserError, match=r"model.name = 'yolov9z' with model.source empty must be a release"):
        describe("yolov9z", "")
    with pytest.raises(UserError, match=r"model.source = 'best.tflite' must be an .onnx or an Ultralytics .pt"):
        describe("mine", "best.tflite")
    with pytest.raises(UserError, match=r"file not found"):
        describe("mine", str(tmp_path / "best.pt"))
    with pytest.raises(UserError, match=r"https://example.invalid/m.onnx is not downloaded yet"):
        describe("mine", "https://example.invalid/m.onnx")  # no network settings: nothing is fetched
    with pytest.raises(UserError, match=r"model.sha256 = 'abc': must be the 64 hex digits"):
        describe("yolov5s", "", "abc")


def test_a_pinned_model_file_is_checked_before_use(tmp_path):
    """The model.sha256 pin against the mirror's real yolov8n bytes, and against the same file one byte
    changed; a .pt that changes after the inputs stage recorded it is refused before it is unpickled."""
    import hashlib

    from conftest import MIRROR

    from yolo_cpu.errors import UserError
    from yolo_cpu.models.model_source import describe, verified_checkpoint

    src = MIRROR / "models" / "yolov8n.onnx"
    if not src.is_file():
        pytest.skip(f"offline asset mirror not found at {MIRROR}")
    model = tmp_path / "mine.onnx"
    model.write_bytes(src.read_bytes())
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert describe("mine", str(model), digest)["sha256"] == digest
    model.write_bytes(model.read_bytes()[:-1] + b"x")
    with pytest.raises(UserError, match=rf"{model} has sha256 [0-9a-f]{{64}}, not the pinned model.sha256 {digest}"):
        describe("mine", str(model), digest)
    pt = tmp_path / "best.pt"
    pt.write_bytes(src.read_bytes())
    record = describe("mine", str(pt))
    assert verified_checkpoint(str(pt), record) == pt
    pt.write_bytes(b"replaced after the inputs stage ran")
    with pytest.raises(
        UserError,
        match=rf"{pt} has sha256 [0-9a-f]{{64}}, not the {record['sha256']} the inputs "
        "stage recorded",
    ):
        verified_checkpoint(str(pt), record)
