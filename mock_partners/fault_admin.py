"""The admin API of a faulty partner node, on its own loopback port.

Test teams change a running node's behaviour and check what it received, the way WireMock's
admin API and MOSIP's mock ABIS expectations work. It listens on loopback only (a host that
is not loopback is refused at start, and a request from elsewhere gets 403), never on the
partner API's port.

- `GET /admin/faults`: the active profile, its knobs, the schedule and seconds elapsed.
- `PUT /admin/faults` `{"profile": "slow+flaky"}` (holds until changed) or
  `{"schedule": [{"from_s": 0, "profile": "healthy"}, {"from_s": 10, "profile": "down"}]}`.
- `GET /admin/profiles`: the named profiles and the knobs a spec may set.
- `GET|POST|DELETE /admin/expectations`: list, add (`forged_replies.expectation_from_json`), clear.
- `GET|DELETE /admin/requests`: the requests the node received (no biometric payloads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from mock_partners.faults import KNOBS, PROFILES, FaultInjector, FaultProfileError, Handler, Profile
from mock_partners.forged_replies import ExpectationError, expectation_from_json

INJECTOR: web.AppKey[FaultInjector] = web.AppKey("injector", FaultInjector)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_loopback(request.remote):
        return web.json_response({"error": "the admin API answers loopback only"}, status=403)
    return await handler(request)


def _profile_json(p: Profile) -> dict[str, Any]:
    return dataclasses.asdict(p)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        doc = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return doc


async def get_faults(request: web.Request) -> web.Response:
    inj = request.app[INJECTOR]
    return web.json_response(
        {
            "active": _profile_json(inj.active()),
            "override": inj.override is not None,
            "elapsed_s": round(inj.elapsed(), 3),
            "schedule": [{"from_s": at, "profile": p.name} for at, p in inj.schedule],
        }
    )


async def put_faults(request: web.Request) -> web.Response:
    inj = request.app[INJECTOR]
    doc = await _body(request)
    try:
        if "schedule" in doc:
            inj.set_schedule([(float(s["from_s"]), str(s["profile"])) for s in doc["schedule"]])
            inj.restart_clock()
        elif isinstance(doc.get("profile"), str):
            inj.set_profile(doc["profile"])
        else:
            raise FaultProfileError("expected {profile: SPEC} or {schedule: [...]}")
    except (FaultProfileError, KeyError, TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return await get_faults(request)


async def get_profiles(request: web.Request) -> web.Response:
    return web.json_response(
        {"profiles": {n: _profile_json(p) for n, p in PROFILES.items()}, "knobs": KNOBS}
    )


async def list_expectations(request: web.Request) -> web.Response:
    inj = request.app[INJECTOR]
    return web.json_response({"expectations": [e.to_json() for e in inj.expectations]})


async def add_expectation(request: web.Request) -> web.Response:
    inj = request.app[INJECTOR]
    try:
        expectation = expectation_from_json(await _body(request))
    except ExpectationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    inj.expectations.append(expectation)
    return web.json_response(expectation.to_json(), status=201)


async def clear_expectations(request: web.Request) -> web.Response:
    request.app[INJECTOR].expectations.clear()
    return web.json_response({"expectations": []})


async def list_requests(request: web.Request) -> web.Response:
    inj = request.app[INJECTOR]
    return web.json_response({"requests": [dataclasses.asdict(r) for r in inj.requests]})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[INJECTOR].requests.clear()
    return web.json_response({"requests": []})


def admin_app(injector: FaultInjector) -> web.Application:
    app = web.Application(middlewares=[loopback_only])
    app[INJECTOR] = injector
    app.add_routes(
        [
            web.get("/admin/faults", get_faults),
            web.put("/admin/faults", put_faults),
            web.get("/admin/profiles", get_profiles),
            web.get("/admin/expectations", list_expectations),
            web.post("/admin/expectations", add_expectation),
            web.delete("/admin/expectations", clear_expectations),
            web.get("/admin/requests", list_requests),
            web.delete("/admin/requests", clear_requests),
        ]
    )
    return app


@contextlib.asynccontextmanager
async def running_admin(
    injector: FaultInjector, port: int = 0, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """Serve the admin API on a loopback port; yields the port."""
    if not is_loopback(host):
        raise ValueError(f"the admin API listens on loopback only, not {host}")
    runner = web.AppRunner(admin_app(injector), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        injector.close()
        await runner.cleanup()
