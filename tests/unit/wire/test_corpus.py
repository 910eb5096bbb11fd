"""Replay the malformed-input corpus: every file must end in a DecodeError, nothing else.

Files are ``<parser>__<what is wrong>.hex`` (hex, whitespace ignored); the parser names are
those of ``test_properties.PARSERS``. Add a file whenever a server sends something new.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.errors import DecodeError
from tests.unit.wire.test_properties import PARSERS

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.hex"))


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_malformed_input_raises_decode_error(path: Path) -> None:
    parser_name = path.stem.split("__", 1)[0]
    data = bytes.fromhex("".join(path.read_text().split()))
    with pytest.raises(DecodeError):
        PARSERS[parser_name](data)
