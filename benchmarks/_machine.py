"""Shared by the benchmark modules: what machine a benchmark ran on, and running a measurement in a fresh process."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...), or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident set (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def module_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` with this interpreter: a benchmark module re-run in a fresh process, from the
    working directory (and ``PYTHONPATH``) that found this one."""
    return [sys.executable, "-m", module, *args]


def fresh_process(module: str, spec: dict, timeout: float, default_env: bool = True) -> dict | str:
    """Run ``python -m MODULE --worker SPEC`` in a fresh process; the worker's last stdout line is its JSON result.
    With ``default_env`` the process gets no ``MALLOC_*`` variables (a side-by-side comparison: an allocator
    setting of this process must not leak into it), else this process's environment. Returns the result, or the
    reason it failed (timeout, or the last line of its stderr) as a string."""
    cmd = module_command(module, "--worker", json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not (default_env and k.startswith("MALLOC_"))}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio_row(label: str, ref: list[dict] | None, ours: list[dict] | None) -> str:
    """A markdown row: medians of ``seconds`` and ``peak_mib`` of the official and the project's runs, and the
    official / project time ratio."""
    if not ref or not ours:
        return f"| {label} | - | - | - | - | - |"
    a = statistics.median(x["seconds"] for x in ref)
    b = statistics.median(x["seconds"] for x in ours)
    pa = statistics.median(x["peak_mib"] for x in ref)
    pb = statistics.median(x["peak_mib"] for x in ours)
    return f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {pa:,.0f} | {pb:,.0f} |"
