"""Elasticsearch tests against the real node on 127.0.0.1:9200 (``tools/es``).

Every test here is marked ``es``. The node is started if it is not up; because the fault
test stops and restarts it, every test asks for it again (``start.sh`` is idempotent and
returns in 0.1 s when the node already runs). Each test writes under its own index prefix,
``sentinel-test-<uuid>``, removed afterwards, so tests never see each other's documents.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from sentinel.store.elastic_templates import setup, teardown

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
URL = "http://127.0.0.1:9200"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.es)


def es_script(name: str) -> None:
    """Run ``tools/es/<name>.sh`` (start or stop); fail the test loudly if it fails."""
    done = subprocess.run(
        [str(ROOT / "tools" / "es" / f"{name}.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"tools/es/{name}.sh failed:\n{done.stderr[-2000:]}"


def ensure_node() -> None:
    """The node is up and green (started here if a test or a person stopped it)."""
    if not Elasticsearch(URL, request_timeout=5).ping():
        es_script("start")


@pytest.fixture
def client() -> Iterator[Elasticsearch]:
    ensure_node()
    es = Elasticsearch(URL, request_timeout=30)
    yield es
    es.close()


@pytest.fixture
def prefix(client: Elasticsearch) -> Iterator[str]:
    """A throwaway index prefix with Sentinel's templates installed; removed afterwards."""
    name = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    setup(client, name)
    yield name
    ensure_node()
    teardown(Elasticsearch(URL, request_timeout=30), name)
