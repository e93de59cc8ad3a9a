"""The live web's benchmark (issue E), in one run: each part is a module ``bench/interop_<part>.py``
with a ``run() -> dict`` of its figures, called here in turn; the figures are printed as JSON
(and, with ``--markdown``, as one table per part for ``docs/benchmarks.md``).

    .venv/bin/python bench/interop.py --markdown
    .venv/bin/python bench/interop.py --only backlog     # one part

Each part starts and stops its own processes on 127.0.0.1 and removes its temporary files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


def parts() -> dict[str, Path]:
    return {p.stem.removeprefix("interop_"): p for p in sorted(HERE.glob("interop_*.py"))}


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_interop_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def table(name: str, figures: dict[str, Any]) -> str:
    lines = [f"### {name}", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in figures.items()]
    return "\n".join(lines)


def main() -> int:
    found = parts()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(found), help="run this part")
    parser.add_argument("--markdown", action="store_true", help="print tables too")
    args = parser.parse_args()
    chosen = args.only or sorted(found)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for name in chosen:
        print(f"==> {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        figures = dict(load(name, found[name]).run())
        figures["bench seconds"] = round(time.monotonic() - started, 1)
        results[name] = figures
    print(json.dumps(results, indent=2))
    if args.markdown:
        for name in chosen:
            print()
            print(table(name, results[name]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
