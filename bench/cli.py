"""How fast `casemgr case list` starts and answers, against `import sqlalchemy.orm` and `casemgr --help`.

Target (issue 10): `casemgr case list` in under 0.5 s, the median of 10 runs on a migrated SQLite
instance holding a few cases. Most of a short command's time is importing code, and how long that
takes depends on the machine, so the run also times, interleaved with it (one of each per round,
after two warm-up rounds):
- the floor: `python -c "import sqlalchemy.orm"`, what any command that reads the database must
  import (the ORM; `case list` imports nothing else that large);
- `casemgr --help`, which imports no database code at all.
It prints each command's median and minimum wall time, `case list` as a ratio to the floor and what
it adds to it.

Two rounds of runs: first with bytecode as this environment has it (with PYTHONDONTWRITEBYTECODE=1
an editable install compiles casemgr's modules from source on every run), then with bytecode cached
(in a temporary PYTHONPYCACHEPREFIX filled by the warm-up runs, as a wheel install's compiled files
are).

`CASEMGR_BENCH_CLI_RUNS` (default 10) sets the runs of each command in each round,
`CASEMGR_BENCH_CLI_CASES` (default 30) the cases the instance holds.

Run: `python -m bench cli` or `python -m bench.cli`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("CASEMGR_BENCH_CLI_RUNS", "10"))
CASES = int(os.environ.get("CASEMGR_BENCH_CLI_CASES", "30"))
WARM_UP = 2
TARGET_S = 0.5
ROOT = Path(__file__).resolve().parent.parent


def casemgr_command() -> list[str]:
    """The installed entry point beside this interpreter (what a user runs), else the same through -c."""
    script = Path(sys.executable).parent / "casemgr"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from casemgr.cli import main; main()"]


def prepare(tmp: Path) -> dict[str, str]:
    """A migrated SQLite instance with CASES cases, made by `casemgr init` and the cases service; its environment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "CASEMGR_INSTANCE_DIR": str(tmp / "instance"), "CASEMGR_EVIDENCE_DIR": str(tmp / "evidence"),
           "CASEMGR_DATABASE_URL": f"sqlite:///{tmp / 'casemgr.sqlite'}"}
    subprocess.run([*casemgr_command(), "init", "--no-admin"], env=env, check=True, capture_output=True)
    seed = ("import sys\n"
            "from casemgr import build_database\n"
            "from casemgr.auth.actor import Actor\n"
            "from casemgr.cases import service\n"
            "from casemgr.cases.schemas import NewCase\n"
            "from casemgr.config import Settings\n"
            "db = build_database(Settings.from_env())\n"
            "with db.transaction() as s:\n"
            "    for i in range(int(sys.argv[1])):\n"
            "        service.create_case(s, Actor.system('bench'), NewCase(title=f'Phishing wave {i}',\n"
            "                            category='fraud', subcategory='phishing', impact='medium', urgency='high'))\n"
            "db.dispose()\n")
    subprocess.run([sys.executable, "-c", seed, str(CASES)], env=env, check=True, capture_output=True)
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def measure(label: str, env: dict[str, str]) -> dict[str, list[float]]:
    commands = {
        "floor: import sqlalchemy.orm": [sys.executable, "-c", "import sqlalchemy.orm"],
        "casemgr --help": [*casemgr_command(), "--help"],
        "casemgr case list": [*casemgr_command(), "case", "list"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(WARM_UP + RUNS):
        for name, argv in commands.items():
            elapsed, output = timed(argv, env)
            if name == "casemgr case list" and f"{CASES} case(s)" not in output:
                raise RuntimeError(f"`casemgr case list` did not list the {CASES} cases: {output[-200:]!r}")
            if round_ >= WARM_UP:
                times[name].append(elapsed)
    floor = statistics.median(times["floor: import sqlalchemy.orm"])
    listed = statistics.median(times["casemgr case list"])
    print(f"   {label}:")
    for name, values in times.items():
        print(f"     {name:<30} median {statistics.median(values):.3f} s  min {min(values):.3f} s")
    verdict = "meets" if listed < TARGET_S else "misses"
    print(f"     case list / floor {listed / floor:.2f}; adds {listed - floor:.3f} s to it; "
          f"{verdict} the target (median < {TARGET_S} s)")
    return times


def main() -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   {RUNS} runs of each command per round after {WARM_UP} warm-ups, {CASES} cases, SQLite; "
          f"load average {load:.2f}")
    with tempfile.TemporaryDirectory(prefix="casemgr-bench-cli-") as name:
        tmp = Path(name)
        env = prepare(tmp)
        writes = "not written" if env.get("PYTHONDONTWRITEBYTECODE") else "written"
        measure(f"bytecode as this environment has it ({writes})", env)
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        measure("bytecode cached (a temporary PYTHONPYCACHEPREFIX)", cached)
        shutil.rmtree(tmp / "pycache", ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   load average after: {load:.2f}")


if __name__ == "__main__":
    main()
