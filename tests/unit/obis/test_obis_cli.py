"""``meterflow obis decode`` run in-process."""

from __future__ import annotations

import argparse
import json

import pytest
from meterflow_cli import obis_cmd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterflow")
    sub = parser.add_subparsers(dest="command", required=True)
    obis_cmd.add_parser(sub)
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_decode_prints_one_json_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("obis", "decode", "0100011D00FF", "1-0:2.29.0*255", "32.7.0") == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    first = objects[0]
    for key in ("obis", "hex", "medium", "quantity", "direction", "phase", "processing", "unit", "description"):
        assert key in first
    assert first["obis"] == "1-0:1.29.0*255"
    assert first["hex"] == "0100011D00FF"
    assert (first["quantity"], first["direction"], first["unit"]) == ("active_energy", "import", "kWh")
    assert (objects[1]["direction"], objects[1]["processing"]) == ("export", "interval_delta")
    assert (objects[2]["quantity"], objects[2]["phase"], objects[2]["unit"]) == ("voltage", "L1", "V")


def test_invalid_code_reports_and_continues(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("obis", "decode", "1.8.0", "ZZZ", "1.256.0", "2.8.0") == 2
    out, err = capsys.readouterr()
    assert [json.loads(line)["obis"] for line in out.splitlines()] == ["1-0:1.8.0*255", "1-0:2.8.0*255"]
    errors = err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("error: ZZZ: not hex")
    assert errors[1] == "error: 1.256.0: group D out of range: 256 (must be 0..255) in '1.256.0'"


def test_all_invalid_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("obis", "decode", "0100011D00F") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: 0100011D00F: wrong length: expected 12 hex digits, got 11 in '0100011D00F'\n"


@pytest.mark.parametrize("argv", [["obis"], ["obis", "decode"]])
def test_usage_errors_exit_via_argparse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        _parser().parse_args(argv)
    assert excinfo.value.code == 2
    assert "usage:" in capsys.readouterr().err
