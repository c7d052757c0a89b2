"""Inference: the runtime interface (ONNX Runtime, OpenVINO, PyTorch), preprocessing, postprocessing,
batched prediction."""
