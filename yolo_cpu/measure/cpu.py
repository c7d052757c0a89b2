"""Which CPU this is: vendor, family, model and stepping from /proc/cpuinfo, and the microarchitecture
they name (a small table of server generations). A CPU's name comes from these fields, never from
memory; where they are absent (an old fingerprint) the ISA flags narrow it down and the name says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (vendor, family, first model, last model) -> name. Family and model as /proc/cpuinfo prints them
# (decimal). AMD: family 23 = 0x17, 25 = 0x19, 26 = 0x1A.
AMD_TABLE: tuple[tuple[int, int, int, str], ...] = (
    (23, 0x00, 0x2F, "Zen / Zen+"),
    (23, 0x30, 0x7F, "Zen 2"),
    (25, 0x00, 0x0F, "Zen 3"),
    (25, 0x10, 0x1F, "Zen 4"),  # Genoa (0x11)
    (25, 0x20, 0x5F, "Zen 3"),  # Vermeer, Cezanne, Rembrandt (Zen 3+)
    (25, 0x60, 0x7F, "Zen 4"),  # Raphael, Phoenix
    (25, 0xA0, 0xAF, "Zen 4"),  # Bergamo, Siena (Zen 4c)
    (26, 0x00, 0x7F, "Zen 5"),  # Turin (0x02), Turin dense (0x11), client parts
)
# Intel family 6 server models -> name; Skylake-SP's model 85 is split by stepping below.
INTEL_TABLE: dict[int, str] = {
    63: "Haswell-EP",
    79: "Broadwell-EP",
    106: "Ice Lake-SP",
    108: "Ice Lake-D",
    143: "Sapphire Rapids",
    207: "Emerald Rapids",
    173: "Granite Rapids",
    174: "Granite Rapids",
    175: "Sierra Forest",
}
INTEL_MODEL_85 = ((0, 4, "Skylake-SP"), (5, 7, "Cascade Lake"), (10, 11, "Cooper Lake"))
VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}


@dataclass(frozen=True)
class CpuId:
    """What /proc/cpuinfo says of the first processor."""

    model_name: str = "unknown"
    vendor: str = "unknown"  # AMD, Intel, or the raw vendor_id
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def microarch(self) -> str:
        return microarch(self.vendor, self.family, self.model, self.stepping, self.flags)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "family": self.family,
            "model": self.model,
            "stepping": self.stepping,
            "microarch": self.microarch,
        }


def parse_cpuinfo(text: str) -> CpuId:
    """The first processor block of a /proc/cpuinfo text (x86 layout; other layouts give unknowns)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())

    def number(key: str) -> int | None:
        try:
            return int(fields[key])
        except (KeyError, ValueError):
            return None

    vendor = fields.get("vendor_id", "unknown")
    return CpuId(
        model_name=fields.get("model name", "unknown"),
        vendor=VENDORS.get(vendor, vendor),
        family=number("cpu family"),
        model=number("model"),
        stepping=number("stepping"),
        flags=frozenset(fields.get("flags", "").split()),
    )


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuId:
    try:
        return parse_cpuinfo(path.read_text())
    except OSError:
        return CpuId()


def microarch(
    vendor: str, family: int | None, model: int | None, stepping: int | None, flags: frozenset[str] | set[str]
) -> str:
    """The microarchitecture that vendor, family and model name; 'unknown' when the table has none.
    Without family/model (or a model the table lacks), the ISA flags give a bound, marked "by ISA"."""
    if family is not None and model is not None:
        if vendor == "AMD":
            for fam, lo, hi, name in AMD_TABLE:
                if family == fam and lo <= model <= hi:
                    return name
        elif vendor == "Intel" and family == 6:
            if model == 85:
                for lo, hi, name in INTEL_MODEL_85:
                    if stepping is not None and lo <= stepping <= hi:
                        return name
                return "Skylake-SP / Cascade Lake"
            if model in INTEL_TABLE:
                return INTEL_TABLE[model]
    by_isa = _by_isa(vendor, flags)
    return f"{by_isa}, by ISA" if by_isa else "unknown"


def _by_isa(vendor: str, flags: frozenset[str] | set[str]) -> str | None:
    """A generation bound from ISA flags alone: AVX-VNNI came to AMD with Zen 5; AVX-512 with Zen 4;
    AMX-FP16 to Intel with Granite Rapids, AMX with Sapphire Rapids."""
    if vendor == "AMD":
        if "avx_vnni" in flags and "avx512f" in flags:
            return "Zen 5"
        if "avx512f" in flags:
            return "Zen 4"
    if vendor == "Intel":
        if "amx_fp16" in flags:
            return "Granite Rapids or newer"
        if "amx_int8" in flags:
            return "Sapphire Rapids or newer"
    return None


def from_fingerprint(fp: Mapping[str, Any]) -> str:
    """A CPU's display name from a stored fingerprint: model name and microarchitecture. Old
    fingerprints carry no family/model; their ISA flags and vendor (read off the model name) decide."""
    cpu = fp.get("cpu") or {}
    if cpu.get("microarch"):
        return f"{fp.get('cpu_model')} ({cpu['microarch']})"
    name = str(fp.get("cpu_model", "unknown"))
    vendor = "AMD" if "AMD" in name else "Intel" if "Intel" in name else "unknown"
    flags = {k for k, v in (fp.get("isa") or {}).items() if v}
    return f"{name} ({microarch(vendor, None, None, None, flags)})"
