"""Auto-publish: time from a write to the change being live at a provider.

One ``homeport provider serve`` and one ``homeport serve`` (auto-publish on, SQLite or
PostgreSQL) on loopback, the home enrolled and caught up. Then, one at a time, ``--writes``
notes are created through ``/v1`` (one ``POST``) and the clock runs until the note's text is
on the site's home page at the provider, polled every 20 ms; a pause of ``--gap`` seconds
follows each. The same through another process (``homeport add note``, its start-up included)
for a few writes. Also counted: the publishes a burst of 50 writes makes.

    .venv/bin/python bench/interop_autopublish.py [--writes 20] [--gap 1] [--no-postgres]

``run()`` is what ``bench/interop.py`` calls. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from homeport.testing.live import free_port, start_home, stop_process

BASE = "example.test"
ADMIN = "bench admin password"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}
TIMEOUT = 30.0


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**env, **FAST, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw", **extra}


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", *args, "--data", str(data)],
        capture_output=True, timeout=120, env=env, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _wait_live(provider: str, text: str, since: float) -> float:
    with httpx.Client(timeout=5, headers={"Host": f"alice.{BASE}"}) as client:
        while time.perf_counter() - since < TIMEOUT:
            page = client.get(provider + "/")
            if page.status_code == 200 and text in page.text:
                return time.perf_counter() - since
            time.sleep(0.02)
    raise RuntimeError(f"{text!r} not live after {TIMEOUT} s")


def _note(text: str, slug: str, age: float = 0.0) -> dict[str, Any]:
    """A public note published ``age`` seconds ago (the newest is first on the home page)."""
    published = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))
    return {"data": {"text": text, "visibility": "public", "draft": False,
                     "published": published, "slug": slug}}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p99_s": round(_percentile(values, 99), 3),
        "max_s": round(max(values), 3),
    }


def run(writes: int = 20, gap: float = 1.0, postgres: bool = True) -> dict[str, Any]:
    """The figures as a dict, on SQLite and (with ``postgres``) on a throwaway PostgreSQL."""
    figures = {"sqlite": _one(writes, gap, None)}
    if postgres:
        from homeport.testing.postgres import TempPostgres

        with TempPostgres() as pg:
            figures["postgresql"] = _one(writes, gap, pg.create_database("autopublish"))
    return figures


def _one(writes: int, gap: float, postgres: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="homeport-bench-autopublish-") as scratch:
        root = Path(scratch)
        store = {"HOMEPORT_STORAGE_URL": postgres} if postgres else {}
        env = _env({"HOMEPORT_ADMIN_PASSWORD": ADMIN, "HOMEPORT_LOG_LEVEL": "warning", **store})
        port = free_port()
        provider_url = f"http://127.0.0.1:{port}"
        with open(root / "provider.log", "wb") as out:
            provider = subprocess.Popen(
                [sys.executable, "-m", "homeport", "provider", "serve", "--data",
                 str(root / "provider"), "--port", str(port), "--base-domain", BASE],
                stdout=out, stderr=subprocess.STDOUT, env=_env({}), start_new_session=True,
            )
        home = None
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(provider_url + "/_homeport/v1/", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or provider.poll() is not None:
                        raise RuntimeError("the provider did not start") from None
                    time.sleep(0.05)
            data = root / "home"
            _cli(data, env, "init", "--json")
            _cli(data, env, "add", "note", "Warming up")
            code = json.loads(_cli(root / "provider", _env({}), "provider", "invite", "--json"))
            _cli(data, env, "providers", "add", provider_url, code["code"], "--name", "alice")
            home = start_home(data, env, log=root / "home.log")
            _wait_live(provider_url, "Warming up", time.perf_counter())

            api: list[float] = []
            with httpx.Client(base_url=home.url, auth=("admin", ADMIN), timeout=10) as client:
                for n in range(writes):
                    text = f"Timed note {n} {time.time_ns()}"
                    started = time.perf_counter()
                    r = client.post(
                        "/buckets/site/collections/notes/records", json=_note(text, f"timed-{n}")
                    )
                    if r.status_code != 201:
                        raise RuntimeError(r.text)
                    api.append(_wait_live(provider_url, text, started))
                    time.sleep(gap)

                other: list[float] = []
                after_exit: list[float] = []
                for n in range(max(3, writes // 5)):
                    text = f"From another process {n} {time.time_ns()}"
                    started = time.perf_counter()
                    _cli(data, env, "add", "note", text)
                    exited = time.perf_counter()
                    other.append(_wait_live(provider_url, text, started))
                    after_exit.append(other[-1] - (exited - started))
                    time.sleep(gap)

                commits = len(json.loads(_cli(data, env, "log", "--json")))
                for n in range(50):
                    r = client.post(
                        "/buckets/site/collections/notes/records",
                        json=_note(f"Burst {n}", f"burst-{n}", age=50 - n),
                    )
                    if r.status_code != 201:
                        raise RuntimeError(r.text)
                started = time.perf_counter()
                _wait_live(provider_url, "Burst 49", started)
                time.sleep(3)
                burst = len(json.loads(_cli(data, env, "log", "--json"))) - commits
            return {
                "store": "postgresql" if postgres else "sqlite",
                "api_write_to_live": _summary(api),
                "other_process_start_to_live": _summary(other),
                "other_process_exit_to_live": _summary(after_exit),
                "burst_of_50_publishes": burst,
            }
        finally:
            if home is not None:
                home.stop()
            stop_process(provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print(json.dumps(run(args.writes, args.gap, not args.no_postgres), indent=2))


if __name__ == "__main__":
    main()
