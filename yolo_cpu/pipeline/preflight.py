"""What the check stage validates before any other stage runs, and so before DVC deletes any stage's
outputs: every params.yaml section (an unknown one too), the memory every params-sized allocation
needs, the user's own model file (a detector, of the input size, with the dataset's class count),
and a data YAML with each image and label its splits draw. A bad input or param then fails here,
and every other stage's outputs stay as they were."""

from __future__ import annotations

import difflib
import hashlib
import zipfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from yolo_cpu.data import assets, coco, dataset
from yolo_cpu.data.data_yaml import COCO, DataYaml, YamlSource
from yolo_cpu.data.dataset_source import check_classes
from yolo_cpu.errors import UserError
from yolo_cpu.measure import budget
from yolo_cpu.models import model_info, model_source
from yolo_cpu.pipeline import params


def check_params(path: str | Path = params.PARAMS_FILE) -> dict[str, dict[str, Any]]:
    """Every section of params.yaml, validated; a section the schema does not know is an error
    naming it (and the nearest known name), not a setting silently ignored."""
    data = params.load_all(path)
    unknown = sorted(set(data) - set(params.SCHEMA))
    if unknown:
        near = difflib.get_close_matches(unknown[0], params.SCHEMA, 1)
        raise params.ParamError(
            f"params.yaml: unknown section '{unknown[0]}'"
            + (f" (did you mean '{near[0]}'?)" if near else "")
            + f"; the sections are {sorted(params.SCHEMA)}"
        )
    return params.load(*params.SCHEMA, path=path)


def check_memory(p: dict[str, dict[str, Any]]) -> list[str]:
    """Every params-sized allocation against the memory available now; returns the keys checked."""
    needs = budget.needs(p)
    for need in needs.values():
        budget.check(*need)
    return sorted({key for key, *_ in needs.values()})


def local_model(m: dict[str, Any]) -> Path | None:
    """The user's own model file as it will be used, when it is on disk now: a local file, or a URL's
    download already cached and whole. None for a release model (the checksummed mirror or release
    URL) and a URL not fetched yet (the inputs stage fetches and checks it)."""
    source = m["source"]
    model_source.check_pin(m["sha256"])
    if not source:
        model_source.describe(m["name"], source, m["sha256"])  # a release name, else an error naming it
        return None
    if model_source.is_url(source):
        path = model_source.url_cache_path(source)
        return path if path.is_file() and assets.content_problem(path, path.suffix.lower()) is None else None
    return Path(model_source.describe(m["name"], source, m["sha256"])["path"])


def check_model(m: dict[str, Any]) -> tuple[model_info.ModelInfo | None, str]:
    """(what the model is, or None when it is not on disk yet or is a .pt, and the file checked)."""
    path = local_model(m)
    if path is None:
        return None, "release or not yet downloaded"
    if path.suffix.lower() == ".pt":
        if not zipfile.is_zipfile(path):
            raise UserError(
                f"{path}: not a PyTorch checkpoint (an Ultralytics .pt is a zip archive); params.yaml model.source"
            )
        return None, str(path)
    return model_info.inspect(path, m["imgsz"]), str(path)


def split_key(data: DataYaml, d: dict[str, Any]) -> str:
    """What a split check depends on: the dataset's files as listed and the params that draw the splits."""
    return hashlib.sha256(
        f"{data.listing_sha256()}\0{d['eval_images']}\0{d['calib_images']}\0{d['split_seed']}".encode()
    ).hexdigest()


def check_dataset(
    d: dict[str, Any], info: model_info.ModelInfo | None, model_file: str, checked_before: str | None
) -> dict[str, Any]:
    """The dataset's classes against the model's; for a data YAML with data.bad_input: error, every
    image the two splits draw decoded and every label parsed (skipped when the listing and split
    params equal those of the last check that passed, `checked_before`)."""
    if d["dataset"] == COCO:  # the checksummed mirror or the release zips
        if info is not None:
            check_classes(info, model_file, coco.Classes.coco(), COCO)
        return {"dataset": COCO}
    data = DataYaml.load(d["dataset"], d["max_listed_images"])
    classes = coco.Classes.custom(data.names)
    if info is not None:
        check_classes(info, model_file, classes, d["dataset"])
    out: dict[str, Any] = {"dataset": d["dataset"], "classes": len(classes)}
    if d["bad_input"] != "error":
        return out
    key = split_key(data, d)
    if key != checked_before:
        source = YamlSource(data)
        eval_names, calib_names, _ = dataset.plan_split(source, d["eval_images"], d["calib_images"], d["split_seed"])
        for name in tqdm(eval_names + calib_names, desc="check: images and labels", unit="img"):
            dataset.read_item(source, name, len(classes))
    out["splits_checked"] = key
    return out


def run_checks(previous: dict[str, Any]) -> dict[str, Any]:
    """Every check, in order; the record the check stage writes (`previous`: the last one written)."""
    p = check_params()
    memory = check_memory(p)
    info, model_file = check_model(p["model"])
    data = check_dataset(p["data"], info, model_file, previous.get("data", {}).get("splits_checked"))
    return {
        "sections": sorted(p),
        "memory_keys": memory,
        "model": {
            "file": model_file,
            "layout": info.family if info else None,
            "classes": info.classes if info else None,
        },
        "data": data,
    }
