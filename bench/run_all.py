"""Run every benchmark script in bench/ and print one JSON object with all their reports.

Each script prints one JSON object; they run one after another in separate processes so that one's
memory does not weigh on the next. Reports are also written to bench/results/<name>.json.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).parent
SCRIPTS = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "run_all.py")
#: Further runs of a script with arguments: report name → (script, arguments).
VARIANTS = {"connector_read_zoho": ("connector_read.py", ["--kind", "zoho"])}


def main() -> int:
    reports: dict[str, object] = {}
    failed = []
    (HERE / "results").mkdir(exist_ok=True)
    runs = [(s.stem, s, []) for s in SCRIPTS] + [(n, HERE / f, a) for n, (f, a) in VARIANTS.items()]
    for name, script, extra in runs:
        print(f"running {name} …", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, str(script), *extra], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            failed.append(name)
            reports[name] = {"error": proc.stderr.strip().splitlines()[-5:]}
            continue
        report = orjson.loads(proc.stdout)
        reports[name] = report
        (HERE / "results" / f"{name}.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    sys.stdout.write(orjson.dumps(reports, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
