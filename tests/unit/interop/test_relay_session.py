"""The relay's protocol state, without a network: cursor, acks, order, backoff."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from homeport.interop.relay import BACKOFF_MAX, Session


def item(seq: int, item_id: str | None = None, body: bytes = b"x") -> dict[str, Any]:
    return {
        "seq": seq,
        "id": item_id or f"i{seq}",
        "kind": "test.note",
        "meta": {"n": seq},
        "body": base64.urlsafe_b64encode(body).decode().rstrip("="),
        "received": 1,
    }


def test_acks_ride_on_the_next_poll_until_it_is_answered() -> None:
    s = Session(wait=1000, limit=10)
    first = s.request()
    assert (first.after, first.ack, first.wait) == (0, (), 1000)
    got = s.answered({"items": [item(3), item(7)]})
    assert [(g.seq, g.item.id, g.item.body, g.item.meta) for g in got] == [
        (3, "i3", b"x", {"n": 3}),
        (7, "i7", b"x", {"n": 7}),
    ]
    s.applied(got[0], {"ok": 1})
    s.applied(got[1], {"ok": 2})
    poll = s.request()
    assert poll.after == 7
    assert poll.body()["ack"] == [
        {"id": "i3", "result": {"ok": 1}},
        {"id": "i7", "result": {"ok": 2}},
    ]
    s.failed()  # the poll carrying them was lost: they ride on the next one again
    again = s.request()
    assert [a[0] for a in again.ack] == ["i3", "i7"]
    s.answered({"items": []})
    assert s.request().ack == ()


def test_an_ack_made_while_a_poll_is_out_is_kept() -> None:
    s = Session()
    got = s.answered({"items": [item(1), item(2)]})
    s.applied(got[0], {})
    s.request()  # carries i1
    s.applied(got[1], {})  # (not how the driver works, but the state must not lose it)
    s.answered({"items": []})
    assert [a[0] for a in s.request().ack] == ["i2"]


def test_a_failed_item_is_asked_for_again_and_those_after_it_wait() -> None:
    s = Session()
    got = s.answered({"items": [item(1), item(2), item(3)]})
    s.applied(got[0], {})
    s.failed()  # item 2 failed: 3 is not applied either
    assert s.request().after == 1


def test_unknown_kinds_are_skipped_for_this_session_only() -> None:
    s = Session()
    got = s.answered({"items": [item(1)]})
    s.skipped(got[0])
    assert s.request().after == 1
    assert s.request().ack == ()
    assert Session().request().after == 0  # a new session asks from the start


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"items": "no"},
        {"items": [item(2), item(1)]},
        {"items": [item(1), item(1)]},
        {"items": [{**item(1), "body": 5}]},
        {"items": [{**item(1), "seq": "1"}]},
        {"items": [{k: v for k, v in item(1).items() if k != "kind"}]},
        {"items": [{**item(1), "meta": []}]},
    ],
)
def test_answers_that_break_the_protocol_are_refused(answer: Any) -> None:
    with pytest.raises(ValueError):
        Session().answered(answer)


def test_items_at_or_before_the_cursor_are_refused() -> None:
    s = Session()
    s.applied(s.answered({"items": [item(5)]})[0], {})
    with pytest.raises(ValueError):
        s.answered({"items": [item(5)]})


def test_backoff_grows_is_bounded_jittered_and_resets() -> None:
    draws = iter([0.0, 1.0] * 50)
    s = Session(rng=lambda: next(draws))
    delays = [s.failed() for _ in range(20)]
    assert delays[0] == pytest.approx(0.25) and delays[1] == pytest.approx(1.0)
    assert delays[2] < delays[4] < delays[6]
    assert max(delays) <= BACKOFF_MAX and delays[-1] == pytest.approx(BACKOFF_MAX)
    assert delays[-2] == pytest.approx(BACKOFF_MAX / 2)  # jitter: half to all of the step
    s.answered({"items": []})
    assert s.failed() < 1.0


def test_a_deleted_tenant_stops_the_relay_other_refusals_retry() -> None:
    s = Session()
    s.refused(503, "storage-error")
    s.refused(401, "unauthorized")
    assert s.stopped is None
    s.refused(410, "deleted")
    assert s.stopped == "deleted"
