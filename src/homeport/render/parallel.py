"""Rendering a large build on every core: pages are rendered by forked workers.

A full build of a big site is CPU-bound Python (Markdown, templates), so one process uses one
core. When there are many pages to render, the builder forks workers after planning: each
renders every n-th chunk of the plan (chunks keep neighbouring pages, which share list items,
together), stages its files under temporary names and sends back what it staged. The parent
renames nothing until all have finished, so a failure anywhere still leaves the previous site
intact. Where ``fork`` is missing, or the build is small, pages render in this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from homeport.render.output import Output, Staged
from homeport.render.pages import Page
from homeport.render.themes import ThemeError

CHUNK = 48
MIN_PAGES = 600
"""Below this, forking costs more than it saves."""
MAX_WORKERS = 4

Todo = Sequence[tuple[Page, str]]


def worker_count(pages: int) -> int:
    if pages < MIN_PAGES or not hasattr(os, "fork"):
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS))


def render_all(todo: Todo, output: Output, workers: int) -> None:
    """Render and stage every page of ``todo`` (page, fingerprint) into ``output``."""
    if workers <= 1:
        for page, fingerprint in todo:
            output.put(page.path, fingerprint, page.render())
        return
    children = [_fork(todo, output, index, workers) for index in range(1, workers)]
    failure: BaseException | None = None
    mine: list[Staged] = []
    try:
        for item in _share(todo, 0, workers):
            mine.append(_render(output, *item))
    except BaseException as exc:  # collect the workers' files first, so all can be removed
        failure = exc
    for staged in mine:
        output.accept(staged)
    for pid, pipe in children:
        result = _collect(pid, pipe)
        for fields in result.get("staged", []):
            output.accept(Staged(*fields))
        if failure is None and "error" in result:
            message = str(result["error"])
            failure = ThemeError(message) if result.get("theme") else RuntimeError(message)
    if failure is not None:
        raise failure


def _share(todo: Todo, index: int, workers: int) -> Iterator[tuple[Page, str]]:
    """Worker ``index``'s pages: chunks index, index + workers, index + 2 * workers…"""
    for start in range(index * CHUNK, len(todo), workers * CHUNK):
        yield from todo[start:start + CHUNK]


def _render(output: Output, page: Page, fingerprint: str) -> Staged:
    return output.stage(page.path, fingerprint, page.render())


def _fork(todo: Todo, output: Output, index: int, workers: int) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: render, report, and leave without running the parent's cleanup
        os.close(read)
        staged: list[Staged] = []
        report: dict[str, object]
        try:
            for item in _share(todo, index, workers):
                staged.append(_render(output, *item))
            report = {"staged": [list(item) for item in staged]}
        except ThemeError as exc:
            report = {"staged": [list(item) for item in staged], "error": exc.message,
                      "theme": True}
        except BaseException as exc:
            report = {"staged": [list(item) for item in staged],
                      "error": f"build worker failed: {exc!r}"}
        try:
            with os.fdopen(write, "wb") as pipe:
                pipe.write(orjson.dumps(report))
        finally:
            os._exit(0)
    os.close(write)
    return pid, read


Report = dict[str, Any]
"""A worker's JSON report: ``staged`` (lists of Staged fields), maybe ``error`` and ``theme``."""


def _collect(pid: int, pipe: int) -> Report:
    with os.fdopen(pipe, "rb") as stream:
        data = stream.read()
    os.waitpid(pid, 0)
    if not data:
        return {"error": "a build worker died before reporting"}
    result: Report = orjson.loads(data)
    return result
