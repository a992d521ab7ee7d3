"""Fixtures for the billing tests: the real FOCUS sample and helpers to write variants."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[2] / "contracts" / "focus" / "focus_sample_1000.aws_oracle.csv"


def t(msgid: str, **kw: object) -> str:
    """Identity translation for tests."""
    return msgid.format(**kw)


@pytest.fixture
def sample() -> Path:
    return SAMPLE


def sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)
    return path


def direct_sum(path: Path, key: str) -> dict[str, float]:
    """BilledCost summed by `key`, straight from the CSV with the standard library."""
    out: dict[str, float] = defaultdict(float)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            out[row[key]] += float(row["BilledCost"])
    return dict(out)
