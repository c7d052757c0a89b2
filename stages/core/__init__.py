"""Pure library code shared by every stage: params, data, preprocessing, runtimes, metrics."""
import os

# Telemetry and network noise off before any runtime is imported.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")  # hint only; openvino has no telemetry in the runtime wheel
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("NNCF_TELEMETRY_DISABLED", "1")
