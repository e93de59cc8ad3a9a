"""Tables from a results dict (the same dict that is written as JSON): plain text or Markdown."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from recbench.wrk import CONCURRENCY, OPERATIONS

TARGET_RATIO = 5.0


def short(error: str, limit: int = 160) -> str:
    """One line for a table: the first line, plus the last one (a traceback's exception)."""
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _rps(op: dict[str, Any] | None, batch_size: int | None = None) -> str:
    if not op or "rps" not in op:
        return "—"
    rps = float(op["rps"])
    text = _num(rps, 0 if rps >= 100 else 1)
    if batch_size:
        text += f" ({_num(rps * batch_size)} records/s)"
    return text


def _ms(op: dict[str, Any] | None) -> str:
    if not op or "rps" not in op:
        return "—"
    return f"{op['p50_ms']:.1f} / {op['p99_ms']:.1f}"


def _errors(op: dict[str, Any] | None) -> str:
    if not op or "rps" not in op:
        return "—"
    return str(op["errors"])


def verdict(home: dict[str, Any] | None, kinto: dict[str, Any] | None) -> dict[str, Any]:
    """Ratio, p99 verdict and target verdict for one operation."""
    if not home or "rps" not in home:
        reason = (home or {}).get("error")
        return {
            "ratio": None,
            "p99": "—",
            "target": f"not measured ({short(reason, 60)})" if reason else "not measured",
        }
    if not kinto or "rps" not in kinto or not kinto["rps"]:
        return {"ratio": None, "p99": "—", "target": "no Kinto figure"}
    ratio = home["rps"] / kinto["rps"]
    p99_ok = home["p99_ms"] <= kinto["p99_ms"]
    missed = []
    if ratio < TARGET_RATIO:
        missed.append(f"{ratio:.1f}x < {TARGET_RATIO:g}x")
    if not p99_ok:
        missed.append("p99 worse")
    if home["errors"]:
        missed.append(f"{home['errors']} errors")
    if home.get("unexpected"):
        missed.append(f"{home['unexpected']} unexpected statuses")
    if home.get("check"):
        missed.append("check failed")
    return {
        "ratio": round(ratio, 2),
        "p99": "no worse" if p99_ok else "worse",
        "target": "met" if not missed else "missed: " + ", ".join(missed),
    }


def _rows(pairing: dict[str, Any]) -> list[list[str]]:
    home = pairing["servers"]["homeport"]
    kinto = pairing["servers"]["kinto"]
    rows = []
    for op in OPERATIONS:
        h = home.get("ops", {}).get(op.key)
        k = kinto.get("ops", {}).get(op.key)
        v = verdict(h, k)
        title = op.title
        per = None
        if op.key == "batch":
            per = pairing["batch_size"]
            title = f"{op.title} ({per}/request)"
        rows.append(
            [
                title,
                _rps(h, per),
                _rps(k, per),
                "—" if v["ratio"] is None else f"{v['ratio']:.2f}x",
                _ms(h),
                _ms(k),
                v["p99"],
                f"{_errors(h)} / {_errors(k)}",
                v["target"],
            ]
        )
    return rows


HEADERS = [
    "operation",
    "Homeport req/s",
    "Kinto req/s",
    "ratio",
    "Homeport p50 / p99 ms",
    "Kinto p50 / p99 ms",
    "p99",
    "errors H / K",
    "target (≥5x, p99 no worse)",
]
CONC_HEADERS = ["server", "backend", "writers", "requests", "req/s", "errors", "statuses", "target"]


def _conc_rows(pairing: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key in ("homeport", "kinto"):
        srv = pairing["servers"][key]
        op = srv.get("ops", {}).get(CONCURRENCY.key)
        if not op or "rps" not in op:
            rows.append([srv["name"], srv["backend"], "—", "—", "—", "—", "not measured", "—"])
            continue
        statuses = ", ".join(f"{k}: {v}" for k, v in op["statuses"].items())
        if op["socket_errors"]:
            statuses += f", socket errors: {op['socket_errors']}"
        target = "—"
        if key == "homeport":
            target = "met" if op["errors"] == 0 else "missed"
        rows.append(
            [
                srv["name"],
                srv["backend"],
                str(op["connections"]),
                str(op["requests"]),
                _num(op["rps"]),
                str(op["errors"]),
                statuses,
                target,
            ]
        )
    return rows


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return "\n".join(lines)


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def _server_notes(pairing: dict[str, Any]) -> list[str]:
    notes = []
    for key in ("homeport", "kinto"):
        srv = pairing["servers"][key]
        d = srv.get("details")
        if d:
            extra = f", waitress threads={d['waitress_threads']}" if "waitress_threads" in d else ""
            notes.append(
                f"{srv['name']} ({srv['backend']}): `{d['server']}`, {d.get('processes')} "
                f"process(es), {d.get('threads')} OS threads in all once ready{extra}"
            )
        cpu = [
            f"{k} {op['server_cpu_pct']:.0f}"
            for k, op in srv.get("ops", {}).items()
            if "server_cpu_pct" in op
        ]
        if cpu:
            wrk = [op["wrk_cpu_pct"] for op in srv["ops"].values() if "wrk_cpu_pct" in op]
            notes.append(
                f"{srv['name']} ({srv['backend']}) CPU while loaded, % of one core: "
                + ", ".join(cpu)
                + f"; wrk itself {min(wrk):.0f} to {max(wrk):.0f}"
            )
        if srv.get("error"):
            notes.append(f"{srv['name']} ({srv['backend']}) not measured: {short(srv['error'])}")
        for op_key, op in srv.get("ops", {}).items():
            if op.get("check"):
                notes.append(f"{srv['name']} {op_key}: check before the run: {short(op['check'])}")
            if op.get("error"):
                notes.append(f"{srv['name']} {op_key}: {short(op['error'])}")
            if op.get("unexpected"):
                subs = f", in batches {op['substatuses']}" if op.get("substatuses") else ""
                notes.append(
                    f"{srv['name']} {op_key}: {op['unexpected']} unexpected statuses "
                    f"(statuses {op['statuses']}{subs})"
                )
            for status, body in sorted(op.get("samples", {}).items()):
                where = "in a batch " if status.startswith("sub") else ""
                if where and '"body":' in body:  # skip the sub-response's headers
                    body = body[body.index('"body":') + 7 :]
                    with contextlib.suppress(ValueError):
                        body = json.dumps(json.JSONDecoder().raw_decode(body)[0])
                notes.append(
                    f"{srv['name']} {op_key}: the first {status.removeprefix('sub')} {where}said: "
                    f"{short(body, 200)}"
                )
    return notes


def render(results: dict[str, Any], *, markdown: bool) -> str:
    table = _markdown_table if markdown else _text_table
    m = results["machine"]
    run = results["run"]
    parts = []
    head = "### " if markdown else "== "
    parts.append(
        f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"load average {m.get('loadavg') or '—'} before the run and "
        f"{m.get('loadavg_after') or '—'} after it, "
        f"Python {m['python']}, {m['wrk']}, Kinto {m.get('kinto') or '—'}, "
        f"PostgreSQL {m.get('postgresql') or '—'}, Homeport {m.get('homeport') or '—'} "
        f"(commit {m.get('git_commit') or '—'})."
    )
    parts.append(
        f"Run {run['started']} → {run['finished']}: wrk {run['threads']} threads, "
        f"{run['connections']} connections, {run['duration_s']:g} s per operation after a "
        f"{run['warmup_s']:g} s warm-up, {run['records']} seed records, "
        f"{run['writers']} concurrent writers for {run['duration_s']:g} s; "
        + (
            f"median of {run['rounds']} rounds, errors summed over all rounds."
            if run.get("rounds", 1) > 1
            else "one round."
        )
    )
    parts.append(f"Command: `{run['command']}`")
    for pairing in results["pairings"]:
        parts.append(f"{head}{pairing['title']}")
        if pairing.get("error"):
            parts.append(f"Not run: {pairing['error']}")
            continue
        parts.append(table(HEADERS, _rows(pairing)))
        parts.append(
            f"{'**' if markdown else ''}{run['writers']} concurrent writers, one collection"
            f"{'**' if markdown else ''}"
        )
        parts.append(table(CONC_HEADERS, _conc_rows(pairing)))
        notes = _server_notes(pairing)
        if notes:
            parts.append("\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts) + "\n"
