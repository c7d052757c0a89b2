"""Which dataset the pipeline reads (params.yaml data.dataset): COCO val2017 (the offline mirror or the
public zips) with COCO's category ids, or an Ultralytics data YAML with its own classes; and the
check that the model's class count fits the dataset's."""
from __future__ import annotations

from pathlib import Path

from yolo_cpu.data import assets, coco
from yolo_cpu.data.data_yaml import COCO, DatasetError, DataYaml, YamlSource
from yolo_cpu.data.dataset import Source
from yolo_cpu.models.model_info import ModelInfo


def open_source(dataset: str, gt_source: str, mirror: assets.Mirror | None,
                net: dict[str, float], max_listed_images: int) -> tuple[Source, coco.Classes, str]:
    """(split source, the dataset's classes, where its files come from)."""
    if dataset == COCO:
        if mirror is not None:
            return assets.MirrorSource(mirror), coco.Classes.coco(), "mirror"
        zips = assets.fetch_coco_zips(net, official=gt_source == "official")
        return assets.ZipSource(zips), coco.Classes.coco(), "url"
    if gt_source == "official":
        raise DatasetError(f"params.yaml: data.gt_source = official needs data.dataset = coco; {dataset} is a "
                           "data YAML, whose ground truth is built from its labels (data.gt_source: labels)")
    data = DataYaml.load(dataset, max_listed_images)
    return YamlSource(data), coco.Classes.custom(data.names), f"data YAML {data.file}"


def check_classes(info: ModelInfo, model_file: str | Path, classes: coco.Classes, dataset: str) -> list[str]:
    """Error when the model's class count differs from the dataset's (naming both counts and both
    files); returns notes on class names that differ (the dataset's names are used)."""
    where = "COCO val2017 (80 classes)" if dataset == COCO else str(dataset)
    if info.classes != len(classes):
        raise DatasetError(f"the model {model_file} predicts {info.classes} classes ({info.family}) but the "
                           f"dataset {where} has {len(classes)}: give a model trained on this dataset's classes")
    if info.names is None:
        return []
    return [f"class {i}: model says {m!r}, dataset says {d!r}"
            for i, (m, d) in enumerate(zip(info.names, classes.names)) if m != d]
