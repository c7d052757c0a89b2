"""Intervals from paired timing slices and from the bootstrap, their coverage on data with a known
answer, the slicing loop's stopping rule, and the CPU identity behind the machine id."""

import math
from pathlib import Path

import numpy as np
import pytest

from yolo_cpu.measure import cpu, env, intervals, timing

DATA = Path(__file__).parent / "data"


def test_t_quantiles_match_published_tables():
    assert intervals.t975(1) == 12.706 and intervals.t975(10) == 2.228
    for df, t in ((40, 2.021), (60, 2.000), (120, 1.980), (1000, 1.962)):
        assert intervals.t975(df) == pytest.approx(t, abs=1.5e-3)


def noisy_pair(rng, ratio, slices, common=0.25, own=0.03):
    """Per-slice times of a baseline and a variant `ratio` times faster: a slow phase of the host
    (common, lognormal) scales both in a slice; each also has its own noise."""
    phase = np.exp(rng.normal(0, common, slices))
    base = 20.0 * phase * np.exp(rng.normal(0, own, slices))
    var = 20.0 / ratio * phase * np.exp(rng.normal(0, own, slices))
    return var, base


def test_paired_ratio_interval_covers_a_known_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered, widths_paired, widths_unpaired = 0, [], []
    trials = 400
    for _ in range(trials):
        var, base = noisy_pair(rng, 1.3, 12)
        r, lo, hi = intervals.log_ratio_interval(base, var, paired=True)
        covered += lo <= 1.3 <= hi
        widths_paired.append(hi - lo)
        _, ulo, uhi = intervals.log_ratio_interval(base, var, paired=False)
        widths_unpaired.append(uhi - ulo)
    assert 0.92 <= covered / trials <= 0.98
    # pairing cancels the host's slow phases: the paired interval is several times narrower
    assert np.median(widths_unpaired) > 4 * np.median(widths_paired)


def test_unpaired_interval_covers_too_and_too_few_slices_give_no_interval():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(300):  # two groups timed apart: independent noise only
        var, base = noisy_pair(rng, 2.0, 10, common=0.0, own=0.1)
        _, lo, hi = intervals.log_ratio_interval(base, var[:7], paired=False)
        hits += lo <= 2.0 <= hi
    assert 0.91 <= hits / 300 <= 0.98
    r, lo, hi = intervals.log_ratio_interval([2.0], [1.0])
    assert r == 2.0 and math.isnan(lo) and math.isnan(hi) and not intervals.separable(lo, hi)
    with pytest.raises(ValueError, match="paired slices differ"):
        intervals.log_ratio_interval([1, 2], [1, 2, 3])


def test_bootstrap_percentile_interval_covers_a_known_mean():
    """Paired differences with a known mean: the bootstrap of their mean covers it ~95% of the time."""
    rng = np.random.default_rng(3)
    hits = 0
    for seed in range(300):
        d = rng.normal(0.5, 1.0, 120)
        w = intervals.resample_counts(d.size, 1000, seed)
        assert (w.sum(axis=1) == d.size).all()
        lo, hi = intervals.percentile_interval(w @ d / d.size)
        hits += lo <= 0.5 <= hi
    assert 0.91 <= hits / 300 <= 0.98


def test_a_drop_against_its_budget():
    assert intervals.against_budget(0.1, 0.25, 0.3) == "within"
    assert intervals.against_budget(0.35, 0.6, 0.3) == "over"
    assert intervals.against_budget(0.2, 0.4, 0.3) == "not separable"


def test_sliced_stops_at_the_target_or_the_cap_and_pairs_slices():
    rng = np.random.default_rng(4)
    state = {"phase": 1.0}

    def slice_fn(scale):
        def f():
            if scale == 1.0:  # the baseline runs first in half the rounds: a new host phase each round
                state["phase"] = float(np.exp(rng.normal(0, 0.3)))
            return 10.0 * scale * state["phase"] * float(np.exp(rng.normal(0, 0.01)))

        return f

    run = timing.sliced(
        {"base": slice_fn(1.0), "fast": slice_fn(0.5)},
        float,
        min_slices=4,
        pairs=[("fast", "base")],
        target=0.03,
        max_seconds=30,
    )
    assert run.stopped_by == "precision" and run.halfwidths["fast/base"] <= 0.03
    assert len(run.slices["base"]) == len(run.slices["fast"]) >= 4
    capped = timing.sliced(
        {"base": lambda: float(rng.uniform(1, 3)), "fast": lambda: float(rng.uniform(1, 3))},
        float,
        min_slices=3,
        pairs=[("fast", "base")],
        target=0.001,
        max_seconds=0.0,
    )
    assert capped.stopped_by == "time cap" and len(capped.slices["fast"]) == 3
    order = []
    timing.sliced({k: (lambda k=k: order.append(k)) for k in "abc"}, float, min_slices=3)
    assert order == list("abcbcacab")  # every variant in every round, the first one rotating


@pytest.mark.parametrize(
    "name,vendor,family,model,uarch",
    [
        ("cpuinfo_amd_epyc_family25_model17.txt", "AMD", 25, 17, "Zen 4"),
        ("cpuinfo_amd_epyc_family26_model2.txt", "AMD", 26, 2, "Zen 5"),
        ("cpuinfo_intel_xeon_family6_model167.txt", "Intel", 6, 167, "Sapphire Rapids or newer, by ISA"),
    ],
)
def test_microarchitecture_from_saved_cpuinfo(name, vendor, family, model, uarch):
    c = cpu.parse_cpuinfo((DATA / name).read_text())
    assert (c.vendor, c.family, c.model, c.microarch) == (vendor, family, model, uarch)
    assert "avx512f" in c.flags


def test_microarchitecture_table_and_isa_fallback():
    assert cpu.microarch("Intel", 6, 143, 8, set()) == "Sapphire Rapids"
    assert cpu.microarch("Intel", 6, 85, 7, set()) == "Cascade Lake"
    assert cpu.microarch("Intel", 6, 85, 4, set()) == "Skylake-SP"
    assert cpu.microarch("AMD", 23, 0x31, 0, set()) == "Zen 2"
    assert cpu.microarch("AMD", 25, 0x01, 1, set()) == "Zen 3"
    assert cpu.microarch("Hygon", 24, 1, 0, set()) == "unknown"
    # an old fingerprint without family/model: the ISA flags decide, and the name says so
    old = {"cpu_model": "AMD EPYC", "isa": {"avx512f": True, "avx_vnni": True}}
    assert cpu.from_fingerprint(old) == "AMD EPYC (Zen 5, by ISA)"
    assert cpu.from_fingerprint({"cpu_model": "AMD EPYC", "isa": {"avx512f": True}}) == "AMD EPYC (Zen 4, by ISA)"


def test_machine_id_is_the_hardware_and_the_software_id_the_libraries(monkeypatch):
    fp = env.fingerprint()
    assert fp["cpu"]["family"] is not None and fp["cpu"]["microarch"]
    monkeypatch.setattr(env, "_version", lambda pkg: "0.0-other")
    other = env.fingerprint()
    assert other["machine_id"] == fp["machine_id"] and other["software_id"] != fp["software_id"]
    monkeypatch.setenv(env.SIMULATE_ENV, "another box")
    assert env.fingerprint()["machine_id"] != fp["machine_id"]
