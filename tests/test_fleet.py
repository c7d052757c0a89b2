"""The fleet answer on hand-built snapshots with known capacities and prices. Oracle: a brute-force
search for the fewest servers whose sustained rates add up to the target, and the cost per million
images from the hourly bill and the images an hour at the target rate."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import tool_env

from yolo_cpu.errors import UserError
from yolo_cpu.results import fleet
from yolo_cpu.results.machines import fleet_text, load

YOLO_CPU = str(Path(sys.executable).parent / "yolo-cpu")


def snapshot(root: Path, machine: str, arch: str, cores: int, serve: dict | None) -> None:
    folder = root / machine / "yolov5n"
    folder.mkdir(parents=True)
    fp = {"cpu_model": "AMD EPYC", "cpu": {"microarch": arch}, "logical_cores": cores, "machine_id": machine}
    (folder / "fingerprint.json").write_text(json.dumps(fp))
    if serve is not None:
        (folder / "bench_serve.json").write_text(json.dumps(serve))


def served(p99: float, **peaks: tuple[float, float] | None) -> dict:
    """bench-serve results: per variant its (sustained, not sustained) bracket, None for none sustained."""
    out: dict = {"variants": {v: {"p99_target_ms": p99} for v in peaks}}
    for v, bracket in peaks.items():
        out[f"{v}_serve_meets_target"] = bracket is not None
        if bracket:
            out |= {f"{v}_serve_peak_rps": bracket[0], f"{v}_serve_peak_rps_hi": bracket[1]}
    return out


@pytest.fixture
def results(tmp_path) -> Path:
    root = tmp_path / "results"
    snapshot(root, "aaa", "Zen 4", 2, served(100, ov_int8=(23.4, 25.0), ov_fp32=(11.0, 12.5)))
    snapshot(root, "bbb", "Zen 5", 4, served(100, ov_int8=(61.0, 64.0)))
    snapshot(root, "ccc", "Zen 3", 2, served(100, ov_int8=None))  # nothing sustained
    snapshot(root, "ddd", "Zen 2", 2, None)  # no bench-serve in its snapshot
    snapshot(root, "eee", "Zen 1", 2, served(50, ov_int8=(30.0, 31.0)))  # another p99 target
    return root


def fleet_file(tmp_path: Path, **body) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def brute_force_servers(target: float, rate: float) -> int:
    n = 1
    while n * rate < target:
        n += 1
    return n


def test_servers_and_cost_equal_a_brute_force_count_and_the_cheapest_kind_is_named(results, tmp_path):
    target, prices = 1000.0, {"aaa": 0.10, "AMD EPYC (Zen 5)": 0.30, "ccc": 0.01}
    plan = fleet.Fleet.read(fleet_file(tmp_path, model="yolov5n", target_rps=target, p99_ms=100, prices=prices))
    rows = {r["machine"]: r for r in fleet.rows({f.parent.name: load(f) for f in results.glob("*/yolov5n")}, plan)}
    a, b = rows["aaa"], rows["bbb"]
    assert a["variant"] == "ov_int8" and a["peak_rps"] == 23.4  # the best bundled variant, at its sustained rate
    assert a["servers"] == brute_force_servers(target, 23.4) == 43 and b["servers"] == brute_force_servers(target, 61)
    for r, price in ((a, 0.10), (b, 0.30)):  # priced by machine id, and by CPU name
        bill = r["servers"] * price
        assert r["fleet_per_hour"] == pytest.approx(bill) and r["price_per_hour"] == price
        assert r["cost_per_million"] == pytest.approx(bill / (target * 3600 / 1e6), abs=1e-4)
    assert b["images_per_core_hour"] == round(61 * 3600 / 4)
    assert fleet.cheapest(list(rows.values()))["machine"] == min(
        ("aaa", "bbb"), key=lambda m: rows[m]["fleet_per_hour"]
    )
    # named, never guessed: a price does not make a capacity
    assert "no serving config sustained" in rows["ccc"]["note"] and "servers" not in rows["ccc"]
    assert "no bench-serve results" in rows["ddd"]["note"]
    assert "measured at p99 50 ms" in rows["eee"]["note"]


def test_the_command_prints_the_table_and_writes_it_into_machines_md_with_prices(results, tmp_path):
    f = fleet_file(tmp_path, model="yolov5n", target_rps=500, p99_ms=100, prices={"aaa": 0.1, "bbb": 0.3})
    text, priced = fleet_text(f, results)
    assert priced and "| aaa | AMD EPYC (Zen 4) | 2 | ov_int8 | 23.4 (not 25.0) |" in text
    assert "Cheapest that meets the target: `aaa` (AMD EPYC (Zen 4)), 22 servers of ov_int8, 2.2 per hour." in text
    proc = subprocess.run(
        [YOLO_CPU, "machines", "fleet", "--fleet", str(f)],
        cwd=results.parent,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == text.strip(), proc.stderr
    table = subprocess.run(
        [YOLO_CPU, "machines", "table", "--fleet", str(f)], cwd=results.parent, env=tool_env(), capture_output=True
    )
    assert table.returncode == 0 and text.strip() in (results / "machines.md").read_text(), table.stderr
    unpriced, priced = fleet_text(fleet_file(tmp_path, model="yolov5n"), results)
    assert not priced and "| images per core-hour |" in unpriced and "price per hour" not in unpriced


@pytest.mark.parametrize(
    "body, message",
    [
        ({"model": "yolov5n", "target_rps": 0}, "target_rps: 0 is not a positive number"),
        ({"model": "yolov5n", "prices": {"aaa": "cheap"}}, "prices.aaa: 'cheap' is not a positive number"),
        ({"model": "yolov5n", "budget": 3}, "unknown key(s) budget"),
        ({"target_rps": 10}, "model: the model whose snapshots to read"),
        ({"model": "yolov9"}, "model: no snapshot of 'yolov9'"),
        ({"model": "yolov5n", "prices": {"zzz": 1.0}}, "prices: 'zzz' name no machine id or CPU"),
    ],
)
def test_a_bad_fleet_file_is_one_error_naming_the_file_and_the_key(results, tmp_path, body, message):
    f = fleet_file(tmp_path, **body)
    with pytest.raises(UserError) as e:
        fleet_text(f, results)
    assert str(f) in str(e.value) and message in str(e.value)


def test_the_example_fleet_file_answers_from_this_repository_s_results():
    from conftest import ROOT

    text, priced = fleet_text(ROOT / "fleet.example.yaml", ROOT / "results")
    machines = sorted(p.parent.parent.name for p in (ROOT / "results").glob("*/yolov5n/fingerprint.json"))
    assert priced and machines and all(f"| {m} |" in text for m in machines)
