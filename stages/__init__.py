"""YOLO-on-CPU pipeline: DVC stage entry points (`python -m stages.<name>`) and the `core` library."""
