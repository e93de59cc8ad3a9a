"""Provider exhaustion benchmark (issue L): a hostile tenant's attacks on a real
``homeport provider serve --workers 1`` on 127.0.0.1, with what each cost the worker process:
its peak RSS above its resident size before the attack (``VmHWM``, reset through
``/proc/<pid>/clear_refs`` before each), its CPU seconds, and the bytes written to the tenant's
directory (``du``; the repository database left out, it is charged object by object) against
the tenant's quota and charged usage.

    .venv/bin/python bench/provider_exhaustion.py            # about a minute; --markdown

The home side is the test suite's (``tests/provider/conftest.py``: a real home repository that
signs its requests), so run it from the repository's root with the dev venv. Linux only. The
provider and every temporary file are removed at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeport.core.canonical import canonical
from homeport.core.objects import Flags, ObjectType, pack_header
from homeport.provider.db import ProviderDB
from homeport.repo import snapshot
from homeport.repo.bundle import frame
from homeport.repo.codec import MAX_BODY, encode
from homeport.settings import load_settings
from homeport.testing.live import free_port, stop_process, wait_ready
from tests.provider.conftest import BASE, FakeVerifiers, Home, World

MB = 1024 * 1024
QUOTA = 1024 * MB


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def du(root: Path) -> int:
    seen: set[int] = set()
    total = 0
    for folder, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            if name.startswith("repo.sqlite"):
                continue
            st = os.lstat(os.path.join(folder, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


class Bench:
    def __init__(self, world: World, pid: int, data: Path) -> None:
        self.world, self.pid, self.data = world, pid, data
        self.rows: list[dict[str, Any]] = []

    def measure(self, name: str, tenant: str, attack: Callable[[], str]) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        rss, spent = status(self.pid, "VmRSS"), cpu(self.pid)
        started = time.monotonic()
        outcome = attack()
        row = {
            "attack": name,
            "answer": outcome,
            "seconds": round(time.monotonic() - started, 1),
            "cpu_s": round(cpu(self.pid) - spent, 2),
            "rss_mb": rss // MB,
            "peak_mb": status(self.pid, "VmHWM") // MB,
            "written_mb": round(du(self.data / "tenants" / tenant) / MB, 1),
        }
        tdoc = self.tenant_doc(tenant)
        row["usage_mb"] = round(tdoc["usage"] / MB, 1)
        row["quota_mb"] = round(tdoc["quota"] / MB, 1)
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def tenant_doc(self, tenant: str) -> dict[str, Any]:
        home = self.homes[tenant]
        doc: dict[str, Any] = home.request(self.world.client, "GET", "/tenant").json()
        return doc

    homes: dict[str, Home] = {}

    def tenant(self, name: str, quota: int = QUOTA) -> Home:
        home = self.world.enrolled(name, quota)
        self.homes[name] = home
        return home


def answer(response: httpx.Response) -> str:
    try:
        return f"{response.status_code} {response.json().get('error', '')}".strip()
    except ValueError:
        return str(response.status_code)


def zstd_bomb(declared: int) -> bytes:
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, size=declared, closefd=False) as w:
        zeros = bytes(MB)
        for _ in range(declared // MB):
            w.write(zeros)
    return out.getvalue()


def run(bench: Bench) -> None:
    world = bench.world
    client = world.client

    home = bench.tenant("bomb")
    stored = pack_header(ObjectType.CHUNK, Flags.COMPRESSED, ()) + zstd_bomb(1536 * MB)
    data = frame(os.urandom(32), stored)
    bench.measure(
        f"zstd frame of {len(stored) // 1024} KB declaring 1.5 GiB",
        "bomb",
        lambda: answer(home.upload(client, data)),
    )

    liar = bench.tenant("liar")
    liar.write_site({"index.html": "hi", "evil.bin": "x"})
    real = snapshot.store_file

    def lying(writer: snapshot.ObjectWriter, path: Path, private: bool) -> bytes:
        if path.name != "evil.bin":
            return real(writer, path, private)
        cid = writer.store(ObjectType.CHUNK, (), bytes(MAX_BODY), private)
        return writer.store(ObjectType.FILE, (cid,) * 8, canonical({"size": 5}), private)

    snapshot.store_file = lying  # type: ignore[assignment]
    try:
        commit = liar.snapshot()
    finally:
        snapshot.store_file = real
    bench.measure(
        "site file: one 64 MiB chunk listed 8 times, claiming 5 bytes",
        "liar",
        lambda: answer(liar.publish(client, commit)),
    )

    big = bench.tenant("big")
    big.write_site({"index.html": "hi", "zeros.bin": bytes(256 * MB)})
    big_commit = big.snapshot()
    bench.measure(
        "publish 256 MiB of zeros (a few kB of objects)",
        "big",
        lambda: answer(big.publish(client, big_commit)),
    )

    def three_gets() -> str:
        codes = []
        for _ in range(3):
            with client.stream("GET", "/zeros.bin", headers={"Host": f"big.{BASE}"}) as got:
                for _piece in got.iter_raw(MB):
                    pass
                codes.append(str(got.status_code))
        return " ".join(codes)

    bench.measure("3 GETs of the 256 MiB file", "big", three_gets)

    small = bench.tenant("small", quota=16 * MB)
    small.write_site({"index.html": "hi", "zeros.bin": bytes(256 * MB)})
    small_commit = small.snapshot()
    bench.measure(
        "the same site, quota 16 MiB",
        "small",
        lambda: answer(small.publish(client, small_commit)),
    )

    cpu_home = bench.tenant("cpu")
    oid, one = encode(ObjectType.CHUNK, (), bytes(MAX_BODY - 1), False, None)
    one_frame = frame(oid, one)
    pack = one_frame * (300_000 // len(one_frame))
    bench.measure(
        f"pack of {len(pack) // 1000} KB: one valid 64 MiB-of-zeros chunk, repeated",
        "cpu",
        lambda: answer(cpu_home.upload(client, pack)),
    )

    wide = bench.tenant("wide")
    wide.write_site({"index.html": "hi"})
    wide_commit = wide.snapshot()
    wide.push(client, wide_commit)
    file_id = wide.files(wide_commit)["index.html"]
    doc = {
        **wide.publish_doc(wide_commit),
        "files": {f"d{i % 100}/p{i}.html": file_id for i in range(100_000)},
    }
    bench.measure(
        "site of 100,000 paths (one small file)",
        "wide",
        lambda: answer(wide.request(client, "POST", "/publish", doc)),
    )

    def slow_headers() -> str:
        port = int(str(client.base_url).rsplit(":", 1)[1])
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.settimeout(1.0)
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
                try:
                    sock.sendall(bytes([byte]))
                    got = sock.recv(200)
                except TimeoutError:
                    continue
                except OSError:
                    return f"cut after {time.monotonic() - began:.0f} s"
                return f"{got[:12].decode(errors='replace')} after {time.monotonic() - began:.0f} s"
        return f"still open after {time.monotonic() - began:.0f} s"

    bench.measure("headers at one byte a second", "bomb", slow_headers)


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| attack | answer | s | worker CPU s | RSS before MB | peak MB | written MB "
        "| usage MB | quota MB |"
    )
    lines = [head, "|" + " --- |" * 9]
    for r in rows:
        lines.append(
            f"| {r['attack']} | {r['answer']} | {r['seconds']} | {r['cpu_s']} | {r['rss_mb']} "
            f"| {r['peak_mb']} | {r['written_mb']} | {r['usage_mb']} | {r['quota_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provider-exhaustion-") as tmp:
        scratch = Path(tmp)
        data, port = scratch / "provider", free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
        env.update(HOMEPORT_OPERATOR_PASSWORD="bench-operator", HOMEPORT_ARGON2_TIME_COST="1")
        command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
        command += ["--port", str(port), "--base-domain", BASE, "--workers", "1"]
        log = scratch / "provider.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/_homeport/v1/", [proc], log, 30)
            db = ProviderDB(data)
            settings = load_settings(data, base_domain=BASE)
            with httpx.Client(base_url=url, timeout=120) as client:
                world = World(settings, db, client, FakeVerifiers(), [], scratch, None)
                bench = Bench(world, proc.pid, data)
                run(bench)
            for home in world.homes:
                home.repo.close()
            db.close()
        finally:
            stop_process(proc)
    rows = bench.rows
    print(markdown(rows) if args.markdown else json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
