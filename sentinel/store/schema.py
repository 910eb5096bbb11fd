"""JSON schemas of Sentinel's document kinds, generated from the model.

``sentinel schema docs/schema`` rewrites the committed schemas; a test fails when the
committed files differ from what the model generates.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from sentinel.model import DOCUMENT_MODELS, ScanRecord
from sentinel.playbook import Playbook


def schemas() -> dict[str, str]:
    """File name → schema text for every document kind, the scan record and the playbook."""
    models: dict[str, type[BaseModel]] = {
        **{f"{kind}.schema.json": model for kind, model in DOCUMENT_MODELS.items()},
        "scan.schema.json": ScanRecord,
        "playbook.schema.json": Playbook,
    }
    return {
        name: json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False, sort_keys=True)
        + "\n"
        for name, model in models.items()
    }


def write(folder: Path) -> list[Path]:
    """Write every schema into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
