"""Where a result came from: package versions (and the lock they should match), git commit, hardware, threads, peak memory.

Everything here is best effort and never raises: a field that cannot be found is ``None``.
"""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from . import portable_math
from .allocator import allocator_settings
from .lockfile import drift_note, lock_record

PACKAGES = ("dustbench", "numpy", "torch", "opencv-python-headless", "scikit-image", "scipy",
            "datasets", "pandas", "matplotlib")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (``None`` if not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:  # the version OpenCV reports can differ from the wheel's (e.g. a system build)
        import cv2
        out["opencv"] = cv2.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


@lru_cache(maxsize=1)
def git_commit() -> dict[str, str | bool | None]:
    """``{"commit": sha, "dirty": bool}`` of the checkout dustbench is imported from, if any.

    ``DUSTBENCH_GIT_COMMIT`` overrides it (for installs without a checkout, e.g. in CI images).
    """
    env = os.environ.get("DUSTBENCH_GIT_COMMIT")
    if env:
        return {"commit": env, "dirty": None}
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_total_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def hardware(device: str = "cpu") -> dict:
    """CPU model, cores (logical, and usable by this process), RAM, torch/OpenCV threads, torch's CPU
    capability (when torch is loaded), the allocator setting (:mod:`dustbench.allocator`: it moves CPU timings, docs/evaluation.md), device."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        usable = os.cpu_count()
    info = {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "cpu_usable": usable, "memory_gib": _memory_total_gib(),
            "device": str(device), "gpu": None,
            "threads": {"omp_num_threads_env": os.environ.get("OMP_NUM_THREADS")},
            "allocator": allocator_settings()}
    try:
        import cv2
        info["threads"]["opencv"] = cv2.getNumThreads()
    except ImportError:  # pragma: no cover
        pass
    info["threads"]["torch"] = None  # stays None when the method never loaded torch (classical ones)
    if "torch" in sys.modules or str(device) != "cpu":
        import torch
        info["threads"]["torch"] = torch.get_num_threads()
        info["threads"]["torch_interop"] = torch.get_num_interop_threads()
        # the vector ISA torch's CPU kernels dispatch to (AVX2, AVX512, ...): networks round differently
        # on each, so a published model's outputs can move by a level in a few pixels between machines
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if str(device).startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``), in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)  # bytes on macOS, KiB on Linux


def peak_cuda_mib(device: str = "cpu") -> float | None:
    if not str(device).startswith("cuda") or "torch" not in sys.modules:
        return None
    import torch
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)


def collect(device: str = "cpu") -> dict:
    """Versions, git commit and hardware in one JSON-serializable dict."""
    return {"versions": package_versions(), "lock": lock_record(), "git": git_commit(),
            "hardware": hardware(device), "argv": list(sys.argv)}


def benchmark_header() -> str:
    """What a benchmark's figures were measured under, printed above its table: versions (and the
    lock's verdict on them), commit, CPU, load average, thread settings. Figures copied into the
    README come with this header, so a reader can tell a slow machine from a slow change."""
    v = package_versions()
    git = git_commit()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):  # not on this platform
        load = "n/a"
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if "cv2" in sys.modules:
        threads["opencv"] = sys.modules["cv2"].getNumThreads()
    if "torch" in sys.modules:
        threads["torch"] = sys.modules["torch"].get_num_threads()
    hw = hardware()
    try:
        numba = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba = None
    return "\n".join([
        f"# dustbench {v.get('dustbench')} at {(git['commit'] or 'unknown')[:10]}{' (dirty)' if git['dirty'] else ''}; "
        f"python {v['python']}, numpy {v.get('numpy')}, opencv {v.get('opencv')}, torch {v.get('torch')}, "
        f"scikit-image {v.get('scikit-image')}, numba {numba} (portable math: {portable_math.implementation()})",
        f"# {drift_note()}",
        f"# {hw['cpu']}: {hw['cpu_usable']} of {hw['cpu_count']} CPUs usable, {hw['memory_gib']} GiB; "
        f"load average {load} (1/5/15 min); threads {threads}"])
