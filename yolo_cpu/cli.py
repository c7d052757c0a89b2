"""yolo-cpu: the command line of the yolo_cpu package.

  yolo-cpu detect MODEL INPUT...     detections as JSON lines (the deploy extra is enough)
  yolo-cpu serve BUNDLE              an HTTP server with request batching on Ray Serve (the serve extra)
  yolo-cpu diff BASE [HEAD]          the pull-request comment between two revisions
  yolo-cpu machines {run,snapshot,table,fleet}   per-machine snapshots, the cross-machine table, the fleet
  yolo-cpu benchmark-app             OpenVINO's benchmark_app against this project's harness

The pipeline itself runs with `dvc repro` (or ./dev repro)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yolo_cpu.errors import Interrupted, UserError


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (where there is one to show), descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _number(kind: type, low: float, high: float | None = None, low_open: bool = False):
    """An argparse type: a `kind` within [low, high] (or (low, high] with low_open); out of range or
    not a number is argparse's one-line usage error naming the value and the range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
            ) from None
        if value != value or (value <= low if low_open else value < low) or (high is not None and value > high):
            span = (
                f"{'(' if low_open else '['}{low:g}, {high:g}]"
                if high is not None
                else f"{'above' if low_open else 'at least'} {low:g}"
            )
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {span}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def _detect_parser(sub) -> None:
    from yolo_cpu.deploy.detector import DEPLOY_CONF, DEPLOY_IOU, RUNTIMES

    p = sub.add_parser(
        "detect",
        formatter_class=_Formatter,
        help="detect objects in images: one JSON line per image",
        description="Detect objects in images with a bundle (bundles/<model>_<objective>_*) or a model this\n"
        "pipeline wrote (an IR .xml or a dynamic-batch ONNX). One JSON line per image, boxes in image\n"
        "pixels, the entries of Ultralytics' Results.summary():\n"
        '  {"image": path, "detections": [{"name", "class", "confidence", "box": {"x1", "y1", "x2", "y2"}}]}\n'
        '  {"image": path, "error": message}     (with --skip-bad, for an image that does not decode)\n'
        "A bundle sets runtime, batch, precision, conf and IoU; a flag overrides it. Class names come\n"
        "from the model's metadata. A missing input or model is one `error:` line and exit code 1.",
    )
    p.add_argument("model", help="a bundle folder, an OpenVINO IR (.xml) or an ONNX")
    p.add_argument("inputs", nargs="+", help="image files, folders (their images) or glob patterns")
    p.add_argument("--runtime", choices=RUNTIMES, help="inference runtime (default: the bundle's, else openvino)")
    p.add_argument(
        "--precision",
        choices=["f32", "bf16"],
        help="OpenVINO INFERENCE_PRECISION_HINT (default: the bundle's, else f32)",
    )
    p.add_argument(
        "--batch",
        type=_number(int, 1),
        help="images per inference request, at most the number of images (default: the bundle's, else 1)",
    )
    p.add_argument(
        "--conf",
        type=_number(float, 0, 1),
        help=f"confidence threshold in [0, 1] (default: the bundle's, else {DEPLOY_CONF})",
    )
    p.add_argument(
        "--iou",
        type=_number(float, 0, 1),
        help=f"NMS IoU threshold in [0, 1] (default: the bundle's, else {DEPLOY_IOU})",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="an image that is missing or does not decode gets an error record; the rest are processed",
    )
    p.add_argument(
        "--save",
        metavar="DIR",
        help="also write each image with its boxes drawn into DIR, at its path "
        "below the inputs' common folder; never over an input, nor over an existing file",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --save: replace files already in DIR (an input is never replaced)",
    )
    p.set_defaults(run=_detect)


def _detect(a: argparse.Namespace) -> None:
    from yolo_cpu.deploy.run import detect_command

    detect_command(a)


def _serve_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        formatter_class=_Formatter,
        help="serve a bundle over HTTP with request batching (Ray Serve)",
        description="Serve a bundle on Ray Serve. POST /detect with an image's bytes (JPEG, PNG) returns the\n"
        "JSON object `yolo-cpu detect` prints for it; GET /health; GET / names the variant and the\n"
        "settings. Concurrent requests are batched (up to --max-batch-size, waiting --batch-wait-ms);\n"
        "beyond --max-queued waiting requests a request gets 503 with Retry-After at once; a body\n"
        "that is no image gets 400 naming why. Settings default to the bundle's serve: section\n"
        "(what bench-serve measured best within its p99 target). Ctrl-C drains and exits 0.\n"
        "  curl --data-binary @image.jpg http://127.0.0.1:8000/detect",
    )
    p.add_argument("bundle", help="a bundle folder (bundles/<model>_<objective>_*)")
    p.add_argument("--replicas", type=_number(int, 1), help="replicas of the model (default: the bundle's, else 1)")
    p.add_argument(
        "--max-batch-size",
        type=_number(int, 1, 64),
        help="largest batch of concurrent requests; 1 = no batching (default: the bundle's, else 1)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=_number(float, 0, 1000),
        help="longest wait for a batch to fill (default: the bundle's, else 5)",
    )
    p.add_argument(
        "--max-queued",
        type=_number(int, 1),
        help="waiting requests beyond which a request gets 503 (default: the bundle's, else 32)",
    )
    p.add_argument(
        "--streams",
        type=_number(int, 0, 64),
        help="OpenVINO streams per replica: 1 = one request "
        "at a time on all its cores (lowest latency), 0 = OpenVINO's throughput choice (default: the "
        "bundle's, else 1)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=_number(int, 1, 65535), default=8000)
    p.add_argument(
        "--address",
        help="an existing Ray cluster (ray://... or host:port); without it a local Ray "
        "starts with the command and stops with it",
    )
    p.set_defaults(run=_serve)


def _serve(a: argparse.Namespace) -> None:
    from pathlib import Path

    try:
        import ray.serve  # noqa: F401  (the serve extra)

        from yolo_cpu.serve import server, settings
    except ModuleNotFoundError as e:
        raise UserError(
            f"yolo-cpu serve needs the serve extra (pip install 'yolo-cpu[deploy,serve]'): {e.name} is not installed"
        ) from e
    from yolo_cpu.deploy import bundle

    folder = Path(a.bundle)
    if not bundle.is_bundle(folder):
        raise UserError(f"{folder}: not a bundle folder (no {bundle.METADATA})")
    chosen = settings.from_bundle(bundle.load(folder), {k: getattr(a, k) for k in settings.FIELDS})
    server.serve_until_stopped(folder, chosen, a.host, a.port, a.address)


def _diff_parser(sub) -> None:
    p = sub.add_parser(
        "diff",
        formatter_class=_Formatter,
        help="the pull-request metrics diff as markdown",
        description="Headline tables between two git revisions, then every changed metric folded "
        "away; absolute timings only when both ran on the same machine; a change is "
        "marked significant only when the intervals separate.",
    )
    p.add_argument("base", help="git revision to compare against")
    p.add_argument("head", nargs="?", help="git revision (default: the workspace)")
    p.set_defaults(run=lambda a: print(_pipeline("yolo_cpu.results.prdiff").render(a.base, a.head)))


def _machines_parser(sub) -> None:
    p = sub.add_parser(
        "machines",
        formatter_class=_Formatter,
        help="per-machine result snapshots and their table",
        description="run: (dvc pull,) dvc repro, snapshot, table. fleet: servers and cost per machine kind for "
        "a target rate (--fleet). snapshot: copy this run's results "
        "to results/<machine id>/<model>/. table: results/machines.md and a throughput "
        "plot per model, from every snapshot in results/.",
    )
    p.add_argument("command", choices=["run", "snapshot", "table", "fleet"])
    p.add_argument("--pull", action="store_true", help="run: first pull data and models from the DVC remote")
    p.add_argument(
        "--fleet",
        type=Path,
        metavar="FLEET_YAML",
        help="fleet: model, target_rps, p99_ms and prices per hour (by machine id or CPU name); per machine "
        "kind the servers and cost the target needs. table: adds that table to results/machines.md when "
        "it has prices",
    )
    p.set_defaults(run=lambda a: _pipeline("yolo_cpu.results.machines").main(a.command, a.pull, a.fleet))


def _benchmark_app_parser(sub) -> None:
    p = sub.add_parser(
        "benchmark-app",
        formatter_class=_Formatter,
        help="check the OpenVINO figures against OpenVINO's own benchmark_app",
        description="The pipeline's OpenVINO models (after `dvc repro quantize-ov`) timed by "
        "benchmark_app and by this project's harness in paired rounds, alternating; "
        "writes results/<machine id>/<model>/probes/benchmark_app_compare[_b<N>].json.",
    )
    p.add_argument("--variants", nargs="+", default=["ov_fp32", "ov_bf16", "ov_int8"], help="OpenVINO variants")
    p.add_argument("--hints", nargs="+", default=["latency", "throughput"], choices=["latency", "throughput"])
    p.add_argument("--batch", type=_number(int, 1), default=1)
    p.add_argument("--rounds", type=_number(int, 1), default=8)
    p.add_argument("--seconds", type=_number(float, 0, low_open=True), default=3, help="seconds per tool per round")
    p.set_defaults(
        run=lambda a: _pipeline("yolo_cpu.measure.benchmark_app").compare(
            a.variants, a.hints, a.batch, a.rounds, a.seconds
        )
    )


def _pipeline(module: str):
    """A module of the pipeline extra, or a clear error when only the deploy extra is installed."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("dvc") is None:  # these commands run dvc
        raise UserError(
            "this command needs the pipeline extra (pip install 'yolo-cpu[pipeline]'): dvc is not installed"
        )
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise UserError(
            f"this command needs the pipeline extra (pip install 'yolo-cpu[pipeline]'): {e.name} is not installed"
        ) from e


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="yolo-cpu", formatter_class=_Formatter, description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{detect,serve,diff,machines,benchmark-app}")
    for add in (_detect_parser, _serve_parser, _diff_parser, _machines_parser, _benchmark_app_parser):
        add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        a.run(a)
    except KeyboardInterrupt:  # Ctrl-C outside detect's loop: nothing was half written
        print("interrupted", file=sys.stderr)
        return 130
    except Interrupted as e:  # what was done is printed; the note says how much
        print(e, file=sys.stderr)
        return 130
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `yolo-cpu detect ... | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
