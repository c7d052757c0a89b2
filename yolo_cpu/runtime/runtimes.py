"""One small interface over ONNX Runtime and OpenVINO: load a model, tell its input, run a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from yolo_cpu.errors import UserError


class FixedBatchError(UserError):
    """A fixed-batch model asked to run another batch size."""


class ModelLoadError(UserError):
    """A model file that is missing, corrupt or not a model."""


class Runtime(ABC):
    """Load a model, tell its input, run a batch. Subclasses add one runtime each."""

    kind: ClassVar[str]

    def __init__(self, model_path: str | Path, **options: Any) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelLoadError(f"model file not found: {self.model_path}")
        self.options = options

    # Set by each subclass once its model is loaded.
    _shape: list[int | None]
    _dtype: np.dtype

    @property
    def input_shape(self) -> list[int | None]:
        """Input shape; None for a dynamic dimension."""
        return self._shape

    @property
    def input_dtype(self) -> np.dtype:
        return self._dtype

    @abstractmethod
    def _run(self, batch: np.ndarray, copy: bool) -> np.ndarray: ...

    @property
    def fixed_batch(self) -> int | None:
        return self.input_shape[0]

    def check_batch(self, n: int) -> None:
        fb = self.fixed_batch
        if fb is not None and n != fb:
            raise FixedBatchError(
                f"{self.model_path} has a fixed batch of {fb}; cannot run batch {n} "
                "(use the dynamic-batch model from the export-dynamic stage)"
            )

    def infer(self, batch: np.ndarray, copy: bool = True) -> np.ndarray:
        """Run one batch (float32 NCHW, cast to the model's input dtype); return the first output.

        copy=False may return a view that the next call overwrites (no output copy, as benchmark_app):
        for timing loops and for callers that consume the result at once."""
        self.check_batch(batch.shape[0])
        if batch.dtype != self.input_dtype:
            batch = batch.astype(self.input_dtype)
        return self._run(batch, copy)

    def settings(self) -> dict[str, Any]:
        """What was asked and what the runtime actually chose, for the metrics."""
        return {"runtime": self.kind, "model": str(self.model_path), **self.options}


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OrtRuntime(Runtime):
    """ONNX Runtime, CPU execution provider."""

    kind = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        intra_threads: int = 0,
        inter_threads: int = 0,
        execution_mode: str = "sequential",
        graph_optimization: str = "all",
    ) -> None:
        super().__init__(
            model_path,
            intra_threads=intra_threads,
            inter_threads=inter_threads,
            execution_mode=execution_mode,
            graph_optimization=graph_optimization,
        )
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = intra_threads
        so.inter_op_num_threads = inter_threads
        so.execution_mode = {
            "sequential": ort.ExecutionMode.ORT_SEQUENTIAL,
            "parallel": ort.ExecutionMode.ORT_PARALLEL,
        }[execution_mode]
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[graph_optimization]
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.model_path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises several exception types for bad files
            raise ModelLoadError(f"ONNX Runtime cannot load {self.model_path}: {e}") from e
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self._shape = [d if isinstance(d, int) else None for d in inp.shape]
        if inp.type not in _ORT_DTYPES:
            raise ModelLoadError(f"{self.model_path}: unsupported input type {inp.type}")
        self._dtype = np.dtype(_ORT_DTYPES[inp.type])

    def _run(self, batch: np.ndarray, copy: bool) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]  # always a fresh array


def ov_core():
    """A shared OpenVINO Core (creating one is slow)."""
    global _CORE
    if _CORE is None:
        import openvino as ov

        _CORE = ov.Core()
    return _CORE


_CORE = None


def ov_supports_bf16() -> bool:
    return "BF16" in ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OvRuntime(Runtime):
    """OpenVINO CPU plugin. `precision` sets INFERENCE_PRECISION_HINT (this CPU defaults to bf16);
    `batch` reshapes a dynamic model to that static batch before compiling (faster, as benchmark_app),
    and `size` its dynamic height and width to that many pixels (an Ultralytics `dynamic=True` IR);
    `pinning` sets ENABLE_CPU_PINNING (None: OpenVINO's choice)."""

    kind = "openvino"

    def __init__(
        self,
        model_path: str | Path,
        precision: str = "f32",
        hint: str = "LATENCY",
        threads: int = 0,
        streams: int = 0,
        batch: int | None = None,
        pinning: bool | None = None,
        size: int | None = None,
    ) -> None:
        super().__init__(
            model_path,
            precision=precision,
            hint=hint,
            threads=threads,
            streams=streams,
            batch=batch,
            **({} if pinning is None else {"pinning": pinning}),
            **({} if size is None else {"size": size}),
        )

        core = ov_core()
        if precision == "bf16" and not ov_supports_bf16():
            raise ModelLoadError("this CPU has no bf16 support (OPTIMIZATION_CAPABILITIES lacks BF16)")
        try:
            model = core.read_model(str(self.model_path))
        except Exception as e:
            raise ModelLoadError(f"OpenVINO cannot read {self.model_path}: {e}") from e
        shape = model.input(0).get_partial_shape()
        fixed = [(0, batch)] + ([(2, size), (3, size)] if size is not None else [])
        if any(n is not None and shape[i].is_dynamic for i, n in fixed):
            for i, n in fixed:
                if n is not None and shape[i].is_dynamic:
                    shape[i] = n
            model.reshape({model.input(0): shape})
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if streams:
            config["NUM_STREAMS"] = streams
        if pinning is not None:
            config["ENABLE_CPU_PINNING"] = pinning
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        pshape = self.compiled.input(0).get_partial_shape()
        self._shape = [d.get_length() if d.is_static else None for d in pshape]
        self._dtype = np.dtype(self.compiled.input(0).get_element_type().to_dtype())

    def _run(self, batch: np.ndarray, copy: bool) -> np.ndarray:
        out = self.request.infer({0: batch}, share_inputs=True, share_outputs=True)[0]
        return out.copy() if copy else out

    def settings(self) -> dict[str, Any]:
        out = super().settings()
        for prop in (
            "INFERENCE_PRECISION_HINT",
            "PERFORMANCE_HINT",
            "NUM_STREAMS",
            "INFERENCE_NUM_THREADS",
            "OPTIMAL_NUMBER_OF_INFER_REQUESTS",
            "ENABLE_CPU_PINNING",
        ):
            value = self.compiled.get_property(prop)
            out[f"actual_{prop.lower()}"] = (
                value.get_type_name() if hasattr(value, "get_type_name") else str(value).split(".")[-1]
            )
        return out
