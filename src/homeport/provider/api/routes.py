"""The sync protocol's route table under ``/_homeport/v1`` (``docs/protocol.md``)."""

from __future__ import annotations

from starlette.routing import Route

from homeport.provider.api import domains, enroll, objects, publishing, tenant
from homeport.provider.api.http import endpoint


def routes() -> list[Route]:
    return [
        Route("/", endpoint(enroll.info), methods=["GET"]),
        Route("/challenge", endpoint(enroll.challenge), methods=["POST"]),
        Route("/enroll", endpoint(enroll.enroll), methods=["POST"]),
        Route("/tenant", endpoint(tenant.get_tenant), methods=["GET"]),
        Route("/tenant", endpoint(tenant.delete_tenant), methods=["DELETE"]),
        Route("/identity", endpoint(tenant.identity), methods=["POST"]),
        Route("/handoff", endpoint(tenant.take_handoff), methods=["POST"]),
        Route("/objects/missing", endpoint(objects.missing), methods=["POST"]),
        Route("/objects/fetch", endpoint(objects.fetch), methods=["POST"]),
        Route("/objects", endpoint(objects.upload), methods=["POST"]),
        Route("/publish", endpoint(publishing.publish), methods=["POST"]),
        Route("/rollback", endpoint(publishing.rollback), methods=["POST"]),
        Route("/bundle", endpoint(objects.bundle), methods=["GET"]),
        Route("/domains", endpoint(domains.add), methods=["POST"]),
        Route("/domains/verify", endpoint(domains.verify), methods=["POST"]),
        Route("/tls-allowed", endpoint(domains.tls_allowed), methods=["GET"]),
    ]
