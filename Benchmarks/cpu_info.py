"""The CPU a benchmark ran on, for its output line: model name, family/model, and the flags that
decide which PyTorch configuration is strongest (bf16 needs avx512_bf16 or AMX). Standard library
only, so the driver (compare_peers.py) and the peers share it."""
import platform
import subprocess

# Flags that matter for the peers' choices, as /proc/cpuinfo spells them.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo ({} where there is none, e.g. macOS)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_description():
    """{"model": ..., "family_model": ..., "flags": [relevant flags present]}."""
    info = _cpuinfo()
    model = info.get("model name")
    if not model:
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), None)
        except OSError:
            model = None
    flags = set(info.get("flags", "").split())
    return {"model": model or platform.processor() or platform.machine(),
            "family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
            "flags": [f for f in RELEVANT_FLAGS if f in flags]}


def has_bf16(description):
    """Whether bf16 autocast can use native instructions (oneDNN picks AVX512-BF16 or AMX)."""
    return any(f in description["flags"] for f in ("avx512_bf16", "amx_bf16"))
