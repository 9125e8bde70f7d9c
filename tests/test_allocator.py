"""The command line's allocator setting: glibc keeps freed network-sized blocks instead of unmapping them."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from dustbench.allocator import keep_freed_memory
from dustbench.errors import DustbenchError

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")

# minor page faults of allocating, writing and freeing a 64 MiB array 6 times (numpy allocates through malloc)
PROBE = """
import json, resource, sys
import numpy as np
from dustbench.allocator import allocator_settings, keep_freed_memory
settings = keep_freed_memory() if sys.argv[1] == "keep" else allocator_settings()
np.ones(1 << 24, np.float32)  # the first block is faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    np.ones(1 << 24, np.float32)
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, "settings": settings}))
"""


def probe(mode: str, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@glibc
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default, kept = probe("default"), probe("keep")
    assert default["settings"] == {"malloc": "default", "why": "not requested"}
    assert kept["settings"] == {"malloc": "glibc", "mmap_threshold_mb": 256, "trim_threshold_mb": 256}
    assert default["faults"] >= 6 * 8  # each 64 MiB block mapped afresh (even as 2 MiB huge pages: 32 faults)
    assert kept["faults"] * 4 < default["faults"]


@glibc
def test_the_users_own_malloc_settings_win():
    got = probe("keep", MALLOC_ARENA_MAX="2")
    assert got["settings"] == {"malloc": "default", "why": "set by the environment (MALLOC_ARENA_MAX)"}
    assert probe("keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=0")["settings"]["malloc"] == "default"


@pytest.mark.parametrize("bad", [0, -1, 2048, 4096, 1.5, True, "256"])
def test_limits_a_c_int_cannot_hold_are_refused_not_wrapped(bad):
    with pytest.raises(DustbenchError, match="limit_mb must be an integer in"):
        keep_freed_memory(bad)


@glibc
def test_a_preloaded_allocator_wins():
    got = probe("keep", LD_PRELOAD="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2-not-loaded")
    assert got["settings"] == {"malloc": "default", "why": "set by the environment (LD_PRELOAD)"}
