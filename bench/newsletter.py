"""The newsletter's send at the provider (issue G): how long the home's publish now waits (the
mails queued, 500 addresses a batch as ``POST /_homeport/v1/newsletter`` takes them) against
how long it waited before, when the provider sent every mail inside that request; and the
queue's send rate, one SMTP connection a round, against a connection per mail (the old path).

In this process: the provider's database (SQLite in a temporary folder, or ``--database
postgresql://…``), its ``NewsletterQueue`` and ``Sender``. The mail server is aiosmtpd's own
command (``python -m aiosmtpd``, handler ``Sink``: it takes every mail and keeps none) in a
process of its own on loopback, so it does not share this process's interpreter lock. Each
mail is like a real entry's: plain text and an HTML part, about 4 KB. No home enrolls here, so
the sender's check that the tenant still has it send (one read of the delegation per tenant
and round) is answered yes without the database.

    .venv/bin/python bench/newsletter.py [--members 2000] [--database URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from homeport.interop import mail
from homeport.interop.newsletter import email_hash, unsubscribe_headers
from homeport.provider.app import create_provider_app
from homeport.provider.db import ProviderDB
from homeport.provider.newsletter import NewsletterQueue, Sender
from homeport.settings import load_settings
from homeport.testing.live import free_port, stop_process

SITE = "https://alice.example.test"
TEXT = ("A new essay\n\n" + "A paragraph of the essay, as members read it. " * 40
        + "\n\nOn the site: https://alice.example.test/articles/a-new-essay/\n")
HTML = ("<!doctype html><html lang=en><body><div style='max-width:38rem'><h1>A new essay</h1>"
        + "<p>A paragraph of the essay, as members read it.</p>" * 40 + "</div></body></html>")


class Chosen:
    """The provider's grants, with the ``newsletter-send`` delegation in force for everyone."""

    def __init__(self, grants: Any) -> None:
        self.grants = grants

    def delegation(self, tenant: str, power: str) -> object:
        return object()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grants, name)


def smtp_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c",
                             "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise SystemExit("the SMTP server did not start") from None
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--database", default="", help="postgresql://… (default: SQLite)")
    args = parser.parse_args()
    port = free_port()
    server = smtp_server(port)
    url = f"smtp+plain://127.0.0.1:{port}"
    try:
        queued, rate, old_rate, sample = run(args, url)
    finally:
        stop_process(server)
    load = os.getloadavg()[0]
    print(f"members: {args.members}, engine: {'postgresql' if args.database else 'sqlite'}, "
          f"load average {load:.1f}")
    print(f"publish waits (queue {args.members} mails):        {queued:8.2f} s")
    print(f"publish waited before (send them all, old path): {args.members / old_rate:8.2f} s "
          f"(estimated from {sample} mails)")
    print(f"  ratio: {args.members / old_rate / queued:.0f}x shorter")
    print(f"queue's sender, a connection a round:  {rate:8.1f} mails/s")
    print(f"old path, a connection per mail:       {old_rate:8.1f} mails/s")
    print(f"  ratio: {rate / old_rate:.2f}")


def run(args: argparse.Namespace, url: str) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        for key in [k for k in os.environ if k.startswith("HOMEPORT_")]:
            del os.environ[key]
        settings = load_settings(Path(tmp) / "provider", base_domain="example.test",
                                 provider_database=args.database, smtp_url=url,
                                 bounce_address="bounces@bounce.example.test")
        db = ProviderDB(settings.data_dir, settings.provider_database)
        ports = create_provider_app(settings, db=db).state.ports
        ports = dataclasses.replace(ports, grants=Chosen(ports.grants))
        queue = NewsletterQueue(db)
        addresses = [f"member{n}@example.org" for n in range(args.members)]
        mail_doc = {"site": SITE, "subject": "A new essay", "text": TEXT, "html": HTML}

        # what the publish waits for now: the batches queued (the endpoint's work)
        started = time.perf_counter()
        for start in range(0, len(addresses), 500):
            part = addresses[start : start + 500]
            suppressed = ports.suppressions.suppressed("alice", [email_hash(a) for a in part])
            queue.add("alice", "entry-1", mail_doc,
                      [(a, email_hash(a)) for a in part if email_hash(a) not in suppressed],
                      int(time.time() * 1000))
        queued = time.perf_counter() - started

        # the queue's sender, one connection a round of 20
        sender = Sender(settings, db, ports, lambda: int(time.time() * 1000))
        started = time.perf_counter()
        while sender.run_once(limit=20):
            pass
        sent = time.perf_counter() - started
        if sender.sent != args.members:
            raise SystemExit(f"{sender.sent} mails sent of {args.members}")

        # the old path: a connection per mail, inside the request the publish waited on
        sample = addresses[: max(1, args.members // 4)]
        started = time.perf_counter()
        for address in sample:
            mail.send(url, sender="newsletter@alice.example.test", to=address,
                      subject="A new essay", text=TEXT, html=HTML,
                      headers=unsubscribe_headers(ports.once, "alice", SITE,
                                                  email_hash(address)))
        old_rate = len(sample) / (time.perf_counter() - started)
        db.close()
    return queued, args.members / sent, old_rate, len(sample)


if __name__ == "__main__":
    main()
