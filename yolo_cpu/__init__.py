"""yolo_cpu: make YOLO detectors fast on CPUs and prove it (the DVC stages in stages/ call it), then
deploy the answer: bundles, `Detector`, `yolo-cpu detect` (the deploy extra is enough for those)."""

import os

# Network noise off before anything is imported: DVC analytics and Ultralytics' online checks.
# (OpenVINO/NNCF telemetry is opted out once per environment by `./dev`: `opt_in_out --opt_out`.)
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
