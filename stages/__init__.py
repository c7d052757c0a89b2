"""DVC stage entry points (`python -m stages.<name>`): each reads its params, calls the `yolo_cpu`
library and writes its outputs."""
