"""Where each stage puts its outputs, so stages and variants agree on file names. A model file's
folder is named after the variant that owns its weights (ov_fp32, ov_int8, ort_int8)."""

from __future__ import annotations

from pathlib import Path

MODELS = Path("models")
DATA = Path("data")
METRICS = Path("metrics")  # headline metrics (dvc metrics)
DETAILS = Path("details")  # everything else a stage measured, with the full env block
PLOTS = Path("plots")
BUNDLES = Path("bundles")  # one folder per bundled recommendation (bundle stage)

CHECK = DATA / "check.json"  # what the check stage validated before any other stage ran
INPUTS = DATA / "inputs.json"  # the user's model and dataset files as they are now (inputs stage)
INPUTS_CHECKPOINT = DATA / "inputs_checkpoint.json"  # the .pt behind model.source (or null): bench-torch runs it
EVAL_DIR = DATA / "eval"
CALIB_DIR = DATA / "calib"
EVAL_GT = EVAL_DIR / "instances.json"
CALIBRATION = DATA / "calibration"  # the calibration set, letterboxed once (calibrate stage)
CALIB_CLASSES = CALIB_DIR / "classes.json"  # the dataset's categories, for labels of calibration images
PREDICTIONS = DATA / "predictions"


def fixed_onnx(name: str) -> Path:
    """The release ONNX as downloaded (fixed batch 1): variant ort_fp32_fixed."""
    return MODELS / f"{name}.onnx"


def dynamic_onnx(name: str) -> Path:
    """The same model with a dynamic batch axis: variant ort_fp32."""
    return MODELS / f"{name}_dynamic.onnx"


def ov_fp32_xml(name: str) -> Path:
    """OpenVINO IR with FP32 weights: variants ov_fp32 and ov_bf16."""
    return MODELS / "ov_fp32" / f"{name}.xml"


def ov_int8_xml(name: str) -> Path:
    """NNCF INT8 IR: variants ov_int8 and ov_int8_bf16."""
    return MODELS / "ov_int8" / f"{name}.xml"


def ort_int8_onnx(name: str) -> Path:
    """ONNX Runtime static QDQ INT8 ONNX: variant ort_int8."""
    return MODELS / "ort_int8" / f"{name}.onnx"


EXPERIMENT_WORKSPACES = (".dvc", "tmp", "exps")  # where `dvc exp run --queue/--temp` copies the project


def project_root(cwd: Path | None = None) -> Path:
    """The project's own folder: the working folder, or for an experiment DVC runs in a copy under
    <project>/.dvc/tmp/exps/<tmp>/, the project that holds that copy."""
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for i in range(len(parts) - len(EXPERIMENT_WORKSPACES)):
        if parts[i : i + len(EXPERIMENT_WORKSPACES)] == EXPERIMENT_WORKSPACES:
            return Path(*parts[:i])
    return cwd


def from_project(path: str) -> Path:
    """A path param relative to the project's own folder (see project_root), absolute as given."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
