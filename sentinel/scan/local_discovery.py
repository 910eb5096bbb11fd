"""An agent's local-link discovery, stored like a scan: ARP, ff02::1 echo and RA capture.

:func:`sentinel.probes.discovery.discover_segment` runs inside a segment (an agent's
vantage). Its result becomes ``discovery`` observations: one for the segment itself
(asset ``segment:<id>``, carrying the router advertisements heard on the link, which the
V6-RA check judges) and one per host found (grouped under the inventory asset that lists the
address, else the address), then goes through :func:`sentinel.scan.run_scan` so it gets the
same assessment, lifecycle, change events and audit trail as any scan.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any

from sentinel.errors import ScopeRefused
from sentinel.model import Asset, Context, Endpoint, ScanRecord
from sentinel.playbook import Egress, Playbook, Segment
from sentinel.probes.base import Target
from sentinel.probes.routes import EgressGuard
from sentinel.scan.engine import AssetPlan, Job
from sentinel.scan.liveness import SweepResult
from sentinel.scan.run import policy_for, refusal_event, refuse_out_of_scope, run_scan
from sentinel.scope import Gate
from sentinel.store.sqlite import SqliteStore


def segment_context(playbook: Playbook, segment: Segment, scan_id: str) -> Context:
    agency = playbook.agency(segment.agency)
    return Context(scan_id=scan_id, agency_id=agency.id, agency_name=agency.name.zh,
                   segment_id=segment.id, zone=segment.zone, tenant=segment.tenant,
                   mipin_level=segment.levels.mipin)


def _job(facts: dict[str, Any], address: str, asset: Asset, ctx: Context,
         segment: Segment) -> Job:
    endpoint = Endpoint(address=address, port=None, transport="none")
    return Job(SweepResult(facts), Target(endpoint, asset, ctx, segment, asset.name))


def local_plans(playbook: Playbook, segment: Segment, result: dict[str, Any],
                scan_id: str) -> Iterator[AssetPlan]:
    """The segment's own observation first, then one plan per asset found on the link."""
    ctx = segment_context(playbook, segment, scan_id)
    own = [a for a in result.get("self", []) if a and a != "0.0.0.0"]  # noqa: S104
    if not own:
        return
    facts = {"vantage": "link", "iface": result.get("iface"),
             "router_advertisements": result.get("router_advertisements", []),
             "hosts_found": len(result.get("hosts", [])), "self": own,
             "notes": result.get("notes", [])}
    asset = Asset(id=f"segment:{segment.id}", name=segment.id, addresses=tuple(own))
    yield AssetPlan(asset.id, (_job(facts, own[0], asset, ctx, segment),))
    owners = {a: item for item in playbook.assets for a in item.addresses}
    # An address the inventory does not list (a SLAAC one) joins the inventory asset whose
    # listed address answered from the same MAC: one host, both families.
    by_mac = {h["mac"]: owners[h["address"]] for h in result.get("hosts", [])
              if h.get("mac") and h["address"] in owners}
    grouped: dict[str, list[Job]] = {}
    for host in result.get("hosts", []):
        address = str(ipaddress.ip_address(host["address"]))
        item = owners.get(address) or by_mac.get(host.get("mac"))
        found = (Asset(id=item.id, name=item.name, addresses=item.addresses) if item
                 else Asset(id=address, addresses=(address,)))
        facts = {"state": "up", "family": host["family"], "methods": host["methods"],
                 "mac": host.get("mac"), "vantage": "link"}
        grouped.setdefault(found.id, []).append(_job(facts, address, found, ctx, segment))
    for asset_id, jobs in grouped.items():
        yield AssetPlan(asset_id, tuple(jobs))


async def discover_and_store(playbook: Playbook, segment: Segment, store: SqliteStore, *,
                             iface: str, timeout: float, playbook_name: str
                             ) -> tuple[ScanRecord, dict[str, Any]]:
    """Run local-link discovery in ``segment`` and store it as one scan."""
    from sentinel.probes.discovery import discover_segment  # scapy: only when run

    scan_id = uuid.uuid4().hex[:16]
    # The whole playbook is judged first, with its audit events, as a scan would be.
    refuse_out_of_scope(playbook, store, scan_id)
    # From inside the segment its traffic leaves through our own interface on its link (the
    # segment's declared egress is the central scanner's path); only this segment is pinned.
    egress = EgressGuard.for_playbook(
        playbook.model_copy(update={"segments": (segment,)}),
        override={segment.id: Egress(interface=iface)})
    refused: list[tuple[str, str]] = []
    gate = Gate(policy_for(playbook), playbook.rate, egress=egress,
                audit=lambda target, reason: refused.append((target, reason)))
    try:
        result = await discover_segment(gate, segment, iface, timeout)
    except ScopeRefused:
        store.add_events([refusal_event(playbook, scan_id, target, reason)
                          for target, reason in refused])
        raise
    finally:
        if egress is not None:
            egress.close()
    result["packets"] = gate.bucket.spent
    record = await run_scan(playbook, store, playbook_name=playbook_name, scan_id=scan_id,
                            plans=local_plans(playbook, segment, result, scan_id))
    return record, result
