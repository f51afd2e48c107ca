"""Source shared by the benchmark child processes (each runs as ``python -c CHILD``)."""

from __future__ import annotations

import json
import subprocess
import textwrap

# Prepended to a child's source. Linux carries ru_maxrss over from the parent across exec, so a
# child spawned by a large parent would report the parent's peak; VmHWM is this process's own.
PEAK_MB = textwrap.dedent(
    '''
    def peak_mb(field="VmHWM"):
        """This process's peak (VmHWM) or current (VmRSS) resident memory, in MB."""
        from pathlib import Path
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(x.split()[1]) for x in status if x.startswith(field + ":")) / 1024
    '''
)


def run_child(command: list[str], timeout: float) -> dict:
    """Run one benchmark child; the JSON on its last stdout line, or NaNs and its stderr tail."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "error": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])
