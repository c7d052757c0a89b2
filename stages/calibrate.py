"""calibrate stage: selects the calibration images and the held-out check images from the calibration
split, decodes and letterboxes each once through the shared preprocessing, and writes them with a
manifest to data/calibration/, which both quantize stages read."""

from __future__ import annotations

import hashlib
import time

from yolo_cpu import paths
from yolo_cpu.data import calibration as cal
from yolo_cpu.io import atomic_path
from yolo_cpu.measure import budget
from yolo_cpu.pipeline import params
from yolo_cpu.pipeline.stage import run, write_results


def main() -> None:
    started = time.perf_counter()
    p = params.load("model", "calibration")
    size, c = p["model"]["imgsz"], p["calibration"]
    budget.check(*budget.needs(p)["calibrate"])
    with atomic_path(paths.CALIBRATION) as tmp:
        tmp.mkdir(parents=True)
        m = cal.prepare(paths.CALIB_DIR, c["images"], c["check_images"], size, c["normalize"], tmp)
    names = "\n".join(m["calibration"] + ["--"] + m["held_out"]).encode()
    write_results(
        "calibrate",
        {
            "images": len(m["calibration"]),
            "check_images": len(m["held_out"]),
            "calibration_sha256": hashlib.sha256(names).hexdigest(),
            "images_asked": c["images"],
            "normalize": c["normalize"],
        },
        None,
        started,
    )


if __name__ == "__main__":
    run(main)
