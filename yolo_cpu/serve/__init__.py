"""Serving: `yolo-cpu serve` on Ray Serve (request batching, bounded queue) and bench-serve's load.
Needs the `serve` extra."""
