"""Where a benchmark ran: platform, CPU, load and package versions (shared by the scripts).

Every script prints this description with its table and writes it as ``#`` comment lines
on top of its CSV, so that a figure is never separated from the machine that produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib.metadata import PackageNotFoundError, version


def machine_info(packages=("numpy", "pymc", "pytensor", "nutpie", "arviz")) -> dict:
    """Platform, CPU model and count, 1-minute load average, Python and package versions."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
    for package in packages:
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    return info


def format_machine(info: dict) -> str:
    """The description as ``# key: value`` lines."""
    return "\n".join(f"# {key}: {value}" for key, value in info.items())
