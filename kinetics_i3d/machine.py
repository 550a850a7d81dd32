"""The machine a figure was measured on: CPU model, vector ISA class, oneDNN state, threads, load.

One home for what every benchmark prints above its table and writes into its JSON, so figures from
an AVX2-only CPU and an AVX-512 one are never mixed up (BUILD_NOTES.md, "CPU speed"). TensorFlow
2.16 turns oneDNN on by itself only on AVX-512 VNNI/BF16/AMX-class CPUs; `kinetics_i3d` turns it on
everywhere unless `TF_ENABLE_ONEDNN_OPTS` is set, and `DNNL_MAX_CPU_ISA` can hold oneDNN to an older
ISA (how the AVX2 class is emulated on an AVX-512 machine).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

# The flags that tell the CPU classes apart, in the order they are printed.
_NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpuinfo() -> tuple[str, set[str]]:
    """(model name, flag set) from /proc/cpuinfo; (platform.processor(), {}) where it is absent."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == (platform.processor() or platform.machine()):
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def vector_isa(flags: set[str]) -> str:
    """The CPU's vector ISA class from its /proc/cpuinfo flags: "AVX-512", "AVX2" or "pre-AVX2"."""
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "pre-AVX2"


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN custom operations are on in this process (imports TF)."""
    import tensorflow as tf  # noqa: F401  (loads TF, which fixes the setting)
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def machine_info() -> dict:
    """What to record next to a measured figure (imports TensorFlow).

    Returns a JSON-ready dict: `cpu_model`, `vector_isa` ("AVX-512" / "AVX2" / "pre-AVX2"),
    `cpu_flags` (those of avx2, fma, avx512f, avx512_vnni, avx512_bf16, amx_tile present),
    `cpu_cores` (os.cpu_count()), `usable_cpus` (this process's affinity), `onednn` (bool),
    `onednn_max_isa` (`DNNL_MAX_CPU_ISA`, "" when unset), `tf_enable_onednn_opts` (the variable
    as set, "" when unset), `intra_op_threads` / `inter_op_threads` (TF's pools; the default
    0 means one thread per usable CPU), `load_avg` (1, 5, 15 minute load averages, the machine's
    other work included), `tensorflow` (version).
    """
    import tensorflow as tf

    model, flags = _cpuinfo()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": model,
        "vector_isa": vector_isa(flags),
        "cpu_flags": [flag for flag in _NOTABLE_FLAGS if flag in flags],
        "cpu_cores": os.cpu_count(),
        "usable_cpus": usable,
        "onednn": onednn_enabled(),
        "onednn_max_isa": os.environ.get("DNNL_MAX_CPU_ISA", ""),
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "tensorflow": tf.__version__,
    }


def describe(info: dict) -> str:
    """One line for a table's header, e.g. "AMD EPYC, AVX-512 (avx2 fma avx512f ...), 2 CPUs;
    oneDNN on; TF threads intra 2 inter 2; load 0.52"."""
    isa = info["vector_isa"]
    if info["onednn_max_isa"]:
        isa += f", oneDNN held to {info['onednn_max_isa']} (DNNL_MAX_CPU_ISA)"
    threads = [f"{name} {info[key] or info['usable_cpus']}{'' if info[key] else ' (default)'}"
               for name, key in (("intra", "intra_op_threads"), ("inter", "inter_op_threads"))]
    return (f"{info['cpu_model']}, {isa} ({' '.join(info['cpu_flags'])}), "
            f"{info['usable_cpus']} CPUs; oneDNN {'on' if info['onednn'] else 'off'}; "
            f"TF threads {', '.join(threads)}; load {info['load_avg'][0]:.2f}")


def cpu_line() -> str:
    """The CPU in one line without importing TensorFlow (benchmarks that never load it), e.g.
    "AMD EPYC, AVX-512, 2 CPUs, load 0.52"."""
    model, flags = _cpuinfo()
    return f"{model}, {vector_isa(flags)}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"


def rss_mib(field: str = "VmRSS") -> float:
    """This process's memory from /proc/self/status in MiB: `field` "VmRSS" (now) or "VmHWM"
    (peak since start or since `reset_peak_rss`); NaN where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Resets the peak (VmHWM) to the current RSS (Linux >= 4.0); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib(reset: bool) -> float:
    """The peak RSS in MiB: since the last `reset_peak_rss` when `reset` (what it returned), else
    since the process started (`ru_maxrss`)."""
    import resource

    if reset:
        return rss_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
