"""Readers take a path, the file's bytes or a binary file object and read the same rows
(API uploads need no temporary file)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from sauti.ingest.errors import IngestError
from sauti.ingest.tabular import iter_json_records, read_delimited

CSV = (
    "date_reception;message;gravite\n04/03/2021 10:22;Hommes armés, près de Bria;3\n05/03/2021;calme;1;x;y\n"
)
JSON = '{"alerts": [{"received_at": "2021-03-04", "text": "a"}, {"received_at": "2021-03-05", "text": "b"}]}'


@pytest.mark.parametrize("form", ["bytes", "file-object"])
def test_delimited_bytes_read_like_the_file(tmp_path: Path, form: str) -> None:
    path = tmp_path / "alerts.csv"
    path.write_text(CSV, encoding="utf-8")
    data = path.read_bytes()
    source = data if form == "bytes" else io.BytesIO(data)
    expected = pd.concat(list(read_delimited(path)))
    got = pd.concat(list(read_delimited(source, name="upload.csv")))
    pd.testing.assert_frame_equal(got, expected)
    assert got["_extra_fields"].tolist() == ["", "x;y"]


@pytest.mark.parametrize("form", ["bytes", "file-object"])
def test_json_bytes_read_like_the_file(tmp_path: Path, form: str) -> None:
    path = tmp_path / "alerts.json"
    path.write_text(JSON, encoding="utf-8")
    data = path.read_bytes()
    source = data if form == "bytes" else io.BytesIO(data)
    expected = pd.concat(list(iter_json_records(path, ("alerts",))))
    pd.testing.assert_frame_equal(pd.concat(list(iter_json_records(source, ("alerts",)))), expected)


def test_problems_in_bytes_name_the_upload() -> None:
    with pytest.raises(IngestError, match=r"^up\.csv: column names given more than once"):
        list(read_delimited(b"a,A\n1,2\n", name="up.csv"))
    with pytest.raises(IngestError, match=r"^up\.json: not valid JSON at line 2"):
        list(iter_json_records(b'[{"a": 1},\n {"a": 2} {', name="up.json"))
