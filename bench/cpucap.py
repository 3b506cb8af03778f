"""Hold processes to a share of one CPU, with a cgroup of their own (Linux, root).

On a 2-core machine the load generator and PostgreSQL need as much CPU as a
collab worker, so a worker never saturates there before the machine does. Held
to a fixed share, each worker saturates at that share, and one against two
workers compares what the workers do for the CPU they get, as separate cores
would. The cgroup's quota is enforced per `PERIOD_US`: short, so that a held
process waits milliseconds, not tenths of a second, once it has used its share.

Both cgroup versions are handled: v2's `cpu.max`, or v1's `cpu` hierarchy.
"""

from __future__ import annotations

import os
from pathlib import Path

PERIOD_US = 10_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


class CpuCapUnavailable(RuntimeError):
    pass


def _cpu_hierarchy() -> tuple[Path, int]:
    """The cgroup directory the cpu controller is managed from, and its version."""
    v2 = CGROUP_ROOT / "cgroup.controllers"
    if v2.exists() and "cpu" in v2.read_text().split():
        return CGROUP_ROOT, 2
    v1 = CGROUP_ROOT / "cpu"
    if (v1 / "cpu.cfs_quota_us").exists():
        return v1, 1
    raise CpuCapUnavailable("no cgroup cpu controller under /sys/fs/cgroup")


class CpuCap:
    """One cgroup per held process, each limited to `percent` % of one CPU."""

    def __init__(self, name: str, percent: float):
        if not 100 * 1000 / PERIOD_US <= percent <= 100:  # the kernel's least quota is 1 ms
            raise ValueError(f"a CPU share from {100 * 1000 / PERIOD_US:g} to 100 %")
        self.root, self.version = _cpu_hierarchy()
        if os.geteuid() != 0:
            raise CpuCapUnavailable("holding a process to a CPU share needs root (cgroups)")
        if self.version == 2:
            control = self.root / "cgroup.subtree_control"
            if "cpu" not in control.read_text().split():
                control.write_text("+cpu")
        self.name = name
        self.quota_us = round(PERIOD_US * percent / 100)
        self.groups: list[Path] = []

    def hold(self, pid: int) -> None:
        group = self.root / f"{self.name}-{pid}"
        group.mkdir(exist_ok=True)
        self.groups.append(group)
        if self.version == 2:
            (group / "cpu.max").write_text(f"{self.quota_us} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        (group / "cgroup.procs").write_text(str(pid))

    def release(self) -> None:
        """Move what is left back to the root group and remove the groups."""
        for group in self.groups:
            try:
                pids = (group / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    (self.root / "cgroup.procs").write_text(pid)
                except OSError:
                    pass  # it exited meanwhile
            try:
                group.rmdir()
            except OSError:
                pass
        self.groups = []

    def __enter__(self) -> CpuCap:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
