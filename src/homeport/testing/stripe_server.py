"""A local stand-in for Stripe's API, on loopback, for tests and the benchmark.

It implements the documented endpoints Homeport's Stripe processor calls (products, prices,
webhook endpoints, Checkout sessions, Billing Portal sessions, customers, subscriptions), answers
in Stripe's shapes and error JSON, and sends webhooks the way Stripe does: a POST of the event
JSON with ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
endpoint's secret>`` to every endpoint whose ``enabled_events`` name the event's type (or ``*``).
The official ``stripe`` library talks to it through its ``base_addresses`` (``api``).

Keys: ``sk_test_…`` (every endpoint) and ``rk_test_…`` restricted keys (Checkout, the Billing
Portal, reading customers and subscriptions; anything else answers 403 ``permission_error``).

What a person does at Stripe's hosted pages, and what time does, are test controls outside
``/v1``: ``GET /pay/<session>`` (a page with a Pay button) and ``POST /pay/<session>`` complete a
Checkout session; ``POST /_test/subscriptions/<id>/cancel`` (at period end), ``/delete`` (at once),
``/renew``; ``POST /_test/payment_intents/<id>/refund``; ``GET /_test/deliveries`` lists what
was sent and how each endpoint answered; ``POST /_test/deliveries/<n>/resend`` sends one again
as it was (same signature: a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

API_VERSION = "2026-10-28.endive"
RESTRICTED_OK = ("checkout/sessions", "billing_portal/sessions", "customers", "subscriptions")
"""Path prefixes under /v1 a restricted key may use."""
PERIOD = {"month": 30 * 86400, "year": 365 * 86400, "day": 86400, "week": 7 * 86400}


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key) or [key]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StripeError(400, f"Invalid parameter: {key}")
            node = child
        node[parts[-1]] = value
    found: dict[str, Any] = _lists(root)
    return found


def _lists(node: Any) -> Any:
    """Dicts whose keys are 0..n-1 become lists."""
    if not isinstance(node, dict):
        return node
    fixed = {k: _lists(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        return [fixed[k] for k in sorted(fixed, key=int)]
    return fixed


class StripeError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code


@dataclass
class Delivery:
    endpoint: str
    url: str
    event: dict[str, Any]
    body: bytes
    header: str
    status: int | None = None
    error: str | None = None


@dataclass
class FakeStripe:
    """The state: every object by id, the keys, and the deliveries made."""

    secret_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12))
    restricted_keys: set[str] = field(default_factory=set)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    base: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: Any = time.time
    resolve: dict[str, str] = field(default_factory=dict)
    """``host:port`` of a webhook URL → the loopback ``http://127.0.0.1:port`` to connect to
    instead (names like ``alice.prov.test`` that no resolver knows), sent with that ``Host``.
    Any other address that is not loopback is never contacted (the delivery says so)."""

    def restricted_key(self) -> str:
        key = "rk_test_" + secrets.token_hex(12)
        self.restricted_keys.add(key)
        return key

    def now(self) -> int:
        return int(self.clock())

    def new(self, prefix: str, kind: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_test_{secrets.token_hex(10)}", "object": kind,
               "created": self.now(), "livemode": False, "metadata": {}, **fields}
        with self.lock:
            self.objects[obj["id"]] = obj
        return obj

    def get(self, obj_id: str, kind: str) -> dict[str, Any]:
        found = self.objects.get(obj_id)
        if found is None or found["object"] != kind:
            raise StripeError(404, f"No such {kind.split('.')[-1]}: '{obj_id}'",
                              code="resource_missing")
        return found

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == kind]

    # events -----------------------------------------------------------------------------

    def emit(self, kind: str, obj: Mapping[str, Any], previous: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": json.loads(json.dumps(obj))}
        if previous is not None:
            data["previous_attributes"] = dict(previous)
        event = self.new("evt", "event", type=kind, api_version=API_VERSION, data=data,
                         pending_webhooks=0, request={"id": None, "idempotency_key": None})
        event.pop("metadata")
        for endpoint in self.of_kind("webhook_endpoint"):
            wanted = endpoint["enabled_events"]
            if "*" in wanted or kind in wanted:
                body = json.dumps(event, indent=2).encode()
                header = sign(body, endpoint["secret"], self.now())
                self.deliveries.append(Delivery(endpoint["id"], endpoint["url"], event, body,
                                                header))
                event["pending_webhooks"] += 1
        return event

    def deliver(self, timeout: float = 10.0) -> list[Delivery]:
        """POST every delivery not yet made (in order); what was sent."""
        sent = []
        with httpx.Client(timeout=timeout) as client:
            for delivery in [d for d in self.deliveries if d.status is None and not d.error]:
                self.post(client, delivery)
                sent.append(delivery)
        return sent

    def post(self, client: httpx.Client, delivery: Delivery) -> None:
        url = httpx.URL(delivery.url)
        netloc = url.netloc.decode()
        headers = {"Stripe-Signature": delivery.header,
                   "Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
        target = delivery.url
        if netloc in self.resolve:
            target = self.resolve[netloc] + url.raw_path.decode()
            headers["Host"] = netloc
        elif url.host not in ("127.0.0.1", "::1", "localhost") and not url.host.endswith(
                ".localhost"):
            delivery.error = "not sent: only loopback addresses (or resolve) are reached"
            return
        try:
            answer = client.post(target, content=delivery.body, headers=headers)
            delivery.status = answer.status_code
        except httpx.HTTPError as exc:
            delivery.error = str(exc) or type(exc).__name__

    # what people and time do ------------------------------------------------------------

    def pay(self, session_id: str, email: str = "") -> dict[str, Any]:
        """Complete a Checkout session as a buyer would (giving ``email`` when the session
        has none): customer, subscription or payment, then the events Stripe sends."""
        session = self.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(400, "This Checkout Session is no longer active.")
        email = session.get("customer_email") or email
        if not email:
            raise StripeError(400, "Your email is incomplete.")
        customer = self.customer_for(email)
        session.update(status="complete", payment_status="paid", customer=customer["id"],
                       customer_details={"email": email, "name": None})
        if session["mode"] == "subscription":
            price = self.get(session["line_items"][0]["price"], "price")
            start = self.now()
            end = start + PERIOD[price["recurring"]["interval"]]
            item = {"id": f"si_test_{secrets.token_hex(8)}", "object": "subscription_item",
                    "price": price, "quantity": 1, "current_period_start": start,
                    "current_period_end": end, "metadata": {}}
            metadata = dict((session.get("subscription_data") or {}).get("metadata") or {})
            sub = self.new("sub", "subscription", customer=customer["id"], status="active",
                           cancel_at_period_end=False, canceled_at=None, ended_at=None,
                           cancel_at=None, metadata=metadata,
                           items={"object": "list", "data": [item], "has_more": False})
            session["subscription"] = sub["id"]
            self.emit("customer.subscription.created", sub)
        else:
            intent = self.new("pi", "payment_intent", amount=session["amount_total"],
                              currency=session["currency"], customer=customer["id"],
                              status="succeeded", metadata=dict(session["metadata"]))
            session["payment_intent"] = intent["id"]
        self.emit("checkout.session.completed", session)
        return session

    def customer_for(self, email: str) -> dict[str, Any]:
        for customer in self.of_kind("customer"):
            if customer["email"] == email:
                return customer
        return self.new("cus", "customer", email=email, name=None)

    def cancel(self, sub_id: str) -> dict[str, Any]:
        sub = self.get(sub_id, "subscription")
        sub.update(cancel_at_period_end=True, canceled_at=self.now(),
                   cancel_at=sub["items"]["data"][0]["current_period_end"])
        self.emit("customer.subscription.updated", sub, {"cancel_at_period_end": False})
        return sub

    def delete(self, sub_id: str) -> dict[str, Any]:
        sub = self.get(sub_id, "subscription")
        sub.update(status="canceled", ended_at=self.now(),
                   canceled_at=sub.get("canceled_at") or self.now())
        self.emit("customer.subscription.deleted", sub)
        return sub

    def renew(self, sub_id: str) -> dict[str, Any]:
        sub = self.get(sub_id, "subscription")
        item = sub["items"]["data"][0]
        previous = item["current_period_end"]
        item["current_period_start"] = previous
        item["current_period_end"] = previous + PERIOD[item["price"]["recurring"]["interval"]]
        self.emit("customer.subscription.updated", sub, {"items": {"data": [
            {**item, "current_period_end": previous}]}})
        return sub

    def refund(self, intent_id: str) -> dict[str, Any]:
        intent = self.get(intent_id, "payment_intent")
        charge = self.new("ch", "charge", amount=intent["amount"], amount_refunded=intent[
            "amount"], refunded=True, currency=intent["currency"], customer=intent["customer"],
            payment_intent=intent_id, metadata=dict(intent["metadata"]))
        self.emit("charge.refunded", charge)
        return charge


def _error(exc: StripeError) -> JSONResponse:
    body: dict[str, Any] = {"type": exc.kind, "message": str(exc)}
    if exc.code:
        body["code"] = exc.code
    return JSONResponse({"error": body}, exc.status)


def _require(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer"
                          ) from None


class Api:
    """The ``/v1`` routes over a ``FakeStripe``."""

    def __init__(self, state: FakeStripe) -> None:
        self.s = state

    def check_key(self, request: Request, path: str) -> None:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key == self.s.secret_key:
            return
        if key in self.s.restricted_keys:
            writes_ok = path.startswith(RESTRICTED_OK[:2])
            if (request.method == "GET" or writes_ok) and path.startswith(RESTRICTED_OK):
                return
            raise StripeError(403, "The provided key does not have the required permissions "
                              f"for this endpoint: /v1/{path}", kind="invalid_request_error",
                              code="permission_error")
        raise StripeError(401, "Invalid API Key provided", kind="invalid_request_error")

    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        try:
            self.check_key(request, path)
            params: dict[str, Any] = (decode_form((await request.body()).decode())
                                      if request.method == "POST"
                                      else decode_form(request.url.query))
            with self.s.lock:
                return JSONResponse(self.route(request.method, path, params))
        except StripeError as exc:
            return _error(exc)

    def route(self, method: str, path: str, p: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        s = self.s
        if parts == ["products"] and method == "POST":
            _require(p, "name")
            return s.new("prod", "product", name=p["name"], active=True,
                         metadata=dict(p.get("metadata") or {}))
        if parts == ["prices"] and method == "POST":
            return self.price(p)
        if len(parts) == 2 and parts[0] == "prices" and method == "POST":
            price = s.get(parts[1], "price")
            if "active" in p:
                price["active"] = p["active"] == "true"
            return price
        if len(parts) == 2 and parts[0] == "subscriptions" and method == "POST":
            return self.update_subscription(s.get(parts[1], "subscription"), p)
        if parts == ["webhook_endpoints"] and method == "POST":
            _require(p, "url", "enabled_events")
            return s.new("we", "webhook_endpoint", url=p["url"], status="enabled",
                         enabled_events=list(p["enabled_events"]), api_version=API_VERSION,
                         secret="whsec_" + secrets.token_urlsafe(24),
                         metadata=dict(p.get("metadata") or {}))
        if parts == ["checkout", "sessions"] and method == "POST":
            return self.checkout(p)
        if parts == ["billing_portal", "sessions"] and method == "POST":
            _require(p, "customer")
            s.get(p["customer"], "customer")
            made = s.new("bps", "billing_portal.session", customer=p["customer"],
                         return_url=p.get("return_url"))
            made["url"] = f"{s.base}/portal/{made['id']}"
            return made
        if len(parts) == 2 and method == "GET":
            kinds = {"customers": "customer", "subscriptions": "subscription",
                     "products": "product", "prices": "price",
                     "payment_intents": "payment_intent", "charges": "charge"}
            if parts[0] in kinds:
                return s.get(parts[1], kinds[parts[0]])
        if parts == ["checkout", "sessions", parts[-1]] and method == "GET":
            return s.get(parts[-1], "checkout.session")
        if parts in (["subscriptions"], ["customers"]) and method == "GET":
            kind = parts[0][:-1]
            rows = [o for o in s.of_kind(kind)
                    if all(str(o.get(k)) == str(v) for k, v in p.items()
                           if k in ("customer", "email", "status") and v != "all")
                    and ("price" not in p or any(i["price"]["id"] == p["price"]
                                                 for i in o["items"]["data"]))]
            return {"object": "list", "url": f"/v1/{parts[0]}", "has_more": False,
                    "data": rows[: _int(p.get("limit", 10), "limit")]}
        raise StripeError(404, f"Unrecognized request URL ({method}: /v1/{path}).")

    def price(self, p: dict[str, Any]) -> dict[str, Any]:
        _require(p, "product", "currency", "unit_amount")
        self.s.get(p["product"], "product")
        recurring = p.get("recurring")
        if recurring is not None:
            if recurring.get("interval") not in PERIOD:
                raise StripeError(400, "Invalid recurring[interval]")
            recurring = {"interval": recurring["interval"], "interval_count": 1}
        return self.s.new("price", "price", product=p["product"], active=True,
                          currency=str(p["currency"]).lower(),
                          unit_amount=_int(p["unit_amount"], "unit_amount"),
                          recurring=recurring, type="recurring" if recurring else "one_time",
                          metadata=dict(p.get("metadata") or {}))

    def update_subscription(self, sub: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        """Items moved to another price (``items[n][id]``, ``items[n][price]``); the
        ``customer.subscription.updated`` event follows, as at Stripe."""
        previous = json.loads(json.dumps(sub["items"]))
        for change in p.get("items") or []:
            item = next((i for i in sub["items"]["data"] if i["id"] == change.get("id")), None)
            if item is None:
                raise StripeError(400, f"No such subscription item: '{change.get('id')}'",
                                  code="resource_missing")
            if "price" in change:
                price = self.s.get(change["price"], "price")
                if not price["active"]:
                    raise StripeError(400, "The price specified is inactive.")
                item["price"] = price
        self.s.emit("customer.subscription.updated", sub, {"items": previous})
        return sub

    def checkout(self, p: dict[str, Any]) -> dict[str, Any]:
        _require(p, "mode", "success_url", "line_items")
        mode = p["mode"]
        if mode not in ("subscription", "payment"):
            raise StripeError(400, f"Invalid mode: {mode}")
        items = p["line_items"]
        if not isinstance(items, list) or len(items) != 1:
            raise StripeError(400, "line_items must hold one item here")
        item = items[0]
        if "price" in item:
            price = self.s.get(item["price"], "price")
            if not price["active"]:
                raise StripeError(400, "The price specified is inactive. This field only "
                                  "accepts active prices.")
            if (price["recurring"] is None) == (mode == "subscription"):
                raise StripeError(400, "The price's type does not match the session's mode")
            amount, currency = price["unit_amount"], price["currency"]
        else:
            data = item.get("price_data") or {}
            _require(data, "currency", "unit_amount")
            amount, currency = _int(data["unit_amount"], "unit_amount"), data["currency"]
            if mode != "payment":
                raise StripeError(400, "price_data without a price is for payments here")
        made = self.s.new(
            "cs", "checkout.session", mode=mode, status="open", payment_status="unpaid",
            success_url=p["success_url"], cancel_url=p.get("cancel_url"),
            customer=p.get("customer"), customer_email=p.get("customer_email"),
            customer_details=None, client_reference_id=p.get("client_reference_id"),
            amount_total=amount * _int(item.get("quantity", 1), "quantity"),
            currency=str(currency).lower(), subscription=None, payment_intent=None,
            metadata=dict(p.get("metadata") or {}), line_items=[item],
            subscription_data=p.get("subscription_data") or {})
        made["url"] = f"{self.s.base}/pay/{made['id']}"
        return made


def create_app(state: FakeStripe) -> Starlette:
    api = Api(state)

    async def pay_page(request: Request) -> Response:
        session_id = request.path_params["session"]
        try:
            form = decode_form((await request.body()).decode())
            with state.lock:
                session = state.get(session_id, "checkout.session")
                if request.method == "POST":
                    state.pay(session_id, str(form.get("email") or ""))
        except StripeError as exc:
            return _error(exc)
        if request.method == "POST":
            await _deliver(state)
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            return RedirectResponse(target, 303)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        ask = "" if session.get("customer_email") else (
            "<label for=email>Email</label> <input id=email type=email name=email required>")
        page = (f"<!doctype html><html lang=en><title>Pay</title><h1>Pay {html.escape(amount)}"
                f"</h1><form method=post>{ask}<button type=submit>Pay</button></form></html>")
        return HTMLResponse(page)

    async def control(request: Request) -> Response:
        kind, obj_id, action = (request.path_params[k] for k in ("kind", "id", "action"))
        actions = {("subscriptions", "cancel"): state.cancel,
                   ("subscriptions", "delete"): state.delete,
                   ("subscriptions", "renew"): state.renew,
                   ("payment_intents", "refund"): state.refund}
        if (kind, action) not in actions:
            return JSONResponse({"error": {"message": "no such control"}}, 404)
        try:
            with state.lock:
                obj = actions[(kind, action)](obj_id)
        except StripeError as exc:
            return _error(exc)
        await _deliver(state)
        return JSONResponse(obj)

    async def deliveries(request: Request) -> Response:
        return JSONResponse([{"n": n, "endpoint": d.endpoint, "url": d.url,
                              "type": d.event["type"], "event": d.event["id"],
                              "status": d.status, "error": d.error}
                             for n, d in enumerate(state.deliveries)])

    async def resend(request: Request) -> Response:
        n = int(request.path_params["n"])
        if not 0 <= n < len(state.deliveries):
            return JSONResponse({"error": {"message": "no such delivery"}}, 404)
        original = state.deliveries[n]
        again = Delivery(original.endpoint, original.url, original.event, original.body,
                         original.header)
        state.deliveries.append(again)
        await _deliver(state)
        return JSONResponse({"status": again.status, "error": again.error})

    async def portal(request: Request) -> Response:
        return HTMLResponse("<!doctype html><title>Billing portal</title><h1>Your subscription"
                            "</h1>")

    methods = ["GET", "POST", "DELETE"]
    return Starlette(routes=[
        Route("/v1/{path:path}", api.handle, methods=methods),
        Route("/pay/{session}", pay_page, methods=["GET", "POST"]),
        Route("/portal/{session}", portal),
        Route("/_test/deliveries", deliveries),
        Route("/_test/deliveries/{n:int}/resend", resend, methods=["POST"]),
        Route("/_test/{kind}/{id}/{action}", control, methods=["POST"]),
    ])


async def _deliver(state: FakeStripe) -> None:
    import anyio.to_thread

    await anyio.to_thread.run_sync(state.deliver)


@contextmanager
def running(state: FakeStripe | None = None) -> Iterator[FakeStripe]:
    """A ``FakeStripe`` served by uvicorn on a free loopback port (``state.base``), in a
    thread, until the block ends."""
    from homeport.testing.live import free_port, serving_in_thread

    state = state or FakeStripe()
    port = free_port()
    state.base = f"http://127.0.0.1:{port}"
    with serving_in_thread(create_app(state), port, "the local Stripe"):
        yield state


__all__ = ["FakeStripe", "create_app", "decode_form", "running", "sign"]
