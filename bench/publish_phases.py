"""Where one ``homeport publish`` spends its time, phase by phase, in one process as the CLI
runs it: the imports, the digest of what changed (``publish/unchanged.py``), the plugins'
loading, the before-snapshot callbacks, the site build for each provider, the snapshot, the
push to every provider, the grants, the after-publish callbacks. Each phase's wall time and
the process's CPU time inside it are printed (a phase a publish skips is absent).

    .venv/bin/python bench/publish_phases.py DATA_DIR            # publish DATA_DIR's home
    .venv/bin/python bench/publish_phases.py DATA_DIR --json     # one JSON object

``bench/sync.py --phases`` runs it on a second 1 % change of its library. The push runs in a
worker thread per provider; its CPU time is counted in the phase that waits for it."""

from __future__ import annotations

import time

STARTED = time.perf_counter(), time.process_time()

import argparse  # noqa: E402  (the imports are a phase of their own)
import asyncio  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from homeport.cli.sync import _plugins  # noqa: E402
from homeport.publish import run, unchanged  # noqa: E402
from homeport.publish.hooks import register_publish_hooks  # noqa: E402
from homeport.settings import load_settings  # noqa: E402
from homeport.sync import providers  # noqa: E402

PHASES: dict[str, list[float]] = {}


def _note(name: str, wall: float, cpu: float) -> None:
    got = PHASES.setdefault(name, [0.0, 0.0])
    got[0] += wall
    got[1] += cpu


def timed(owner: Any, attr: str, name: str) -> None:
    """Replace ``owner.attr`` by the same callable, timed under ``name``."""
    inner: Callable[..., Any] = getattr(owner, attr)
    if asyncio.iscoroutinefunction(inner):

        @functools.wraps(inner)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return await inner(*args, **kwargs)
            finally:
                _note(name, time.perf_counter() - w, time.process_time() - c)

    else:

        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                _note(name, time.perf_counter() - w, time.process_time() - c)

    setattr(owner, attr, wrapper)


def instrument() -> None:
    from homeport.render import variants
    from homeport.services import repository

    timed(unchanged, "environment", "digest")
    timed(unchanged, "digest", "digest")
    timed(run, "call_before", "before-snapshot callbacks")
    timed(variants, "build_for_providers", "site build")
    timed(repository, "snapshot", "snapshot")
    timed(run, "_cursor", "snapshot")
    timed(providers, "publish", "push")
    timed(providers, "sync_grants", "grants")
    timed(run, "_settle", "record the digest")
    timed(run, "call_all", "after-publish callbacks")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="the home's data dir")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    _note("imports", time.perf_counter() - STARTED[0], time.process_time() - STARTED[1])
    instrument()
    settings = load_settings(args.data)
    register_publish_hooks()

    async def prepare(ctx: Any) -> object:
        w, c = time.perf_counter(), time.process_time()
        try:
            return await _plugins(ctx)
        finally:
            _note("plugins", time.perf_counter() - w, time.process_time() - c)

    w, c = time.perf_counter(), time.process_time()
    report = asyncio.run(run.publish(settings, prepare=prepare))
    whole = time.perf_counter() - w, time.process_time() - c
    accounted = [sum(v[i] for k, v in PHASES.items() if k != "imports") for i in (0, 1)]
    _note("the rest of run.publish", whole[0] - accounted[0], whole[1] - accounted[1])
    rows = [o.result for o in report.outcomes]
    out = {
        "phases": {k: {"wall": round(v[0], 4), "cpu": round(v[1], 4)} for k, v in PHASES.items()},
        "total": {
            "wall": round(time.perf_counter() - STARTED[0], 4),
            "cpu": round(time.process_time() - STARTED[1], 4),
        },
        "unchanged": report.unchanged,
        "sent": [{"objects": r.objects, "bytes": r.bytes, "seconds": r.seconds} for r in rows if r],
        "errors": [o.error for o in report.outcomes if o.error],
    }
    if args.json:
        print(json.dumps(out))
    else:
        for name, v in out["phases"].items():
            print(f"{name:28} {v['wall'] * 1000:9.1f} ms wall {v['cpu'] * 1000:9.1f} ms CPU")
        t = out["total"]
        print(f"{'whole process':28} {t['wall'] * 1000:9.1f} ms wall {t['cpu'] * 1000:9.1f} ms CPU")
        print(f"sent: {out['sent']}; errors: {out['errors']}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
