"""radvd in the core router: router advertisements with prefix and RDNSS on RA segments."""

from __future__ import annotations

from sentinel.errors import LabError
from sentinel.lab.netns import CORE_NS, bridge_name
from sentinel.lab.procs import spawn
from sentinel.lab.servers.base import ServerContext
from sentinel.lab.state import ProcessRecord


def config(ctx: ServerContext) -> str:
    """radvd.conf: one interface block per segment with ``ra: true``."""
    manifest = ctx.manifest
    resolver = manifest.host(manifest.resolver)
    if resolver.v6 is None:
        raise LabError(f"resolver {resolver.id} has no IPv6 address to announce as RDNSS")
    blocks = []
    for segment in manifest.segments:
        if not segment.ra:
            continue
        blocks.append(
            f"interface {bridge_name(segment)} {{\n"
            "    AdvSendAdvert on;\n    MinRtrAdvInterval 3;\n    MaxRtrAdvInterval 10;\n"
            f"    prefix {segment.v6} {{ AdvOnLink on; AdvAutonomous on; }};\n"
            f"    RDNSS {resolver.v6} {{ }};\n"
            f"    DNSSL {manifest.dns_zone} {{ }};\n}};\n")
    return "\n".join(blocks)


def start(ctx: ServerContext) -> list[ProcessRecord]:
    """Run radvd in the foreground in the core namespace (none when no segment has RA)."""
    text = config(ctx)
    if not text:
        return []
    folder = ctx.paths.root / "core"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "radvd.conf"
    conf.write_text(text, encoding="ascii")
    argv = ["radvd", "--nodaemon", "--config", str(conf), "--pidfile",
            str(folder / "radvd.pid"), "--logmethod", "stderr"]
    return [spawn(ctx.paths, "core-radvd", CORE_NS, argv)]
