"""INT8: NNCF for OpenVINO, ONNX Runtime's static quantization, the sensitivity scan."""
