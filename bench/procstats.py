"""What the benchmarks read off /proc: CPU and memory of processes and of the machine."""

from __future__ import annotations

import os


def proc_sample(pid: int) -> dict:
    """CPU seconds (utime+stime), VmRSS and VmHWM in MiB of one process."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: fields are counted after its closing parenthesis.
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15
    mem = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                mem[key] = int(value.split()[0]) / 1024
    return {"cpu": cpu, "rss": mem.get("VmRSS", 0.0), "hwm": mem.get("VmHWM", 0.0)}


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat).

    The machine may be shared: what others use during a run shows in the figures.
    """
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving the current database, by pid (none on SQLite).

    They run on the same cores as the servers, so their share belongs in the picture.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()  # not ours to keep: generator processes may be forked later
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = proc_sample(pid)["cpu"]
        except OSError:  # the backend ended meanwhile
            pass
    return cpu


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings of {pid: CPU seconds}.

    A process first seen in the second reading started in between (a database
    connection opened at the first edit, say): all of its CPU counts.
    """
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
