"""The CI rule of tests/conftest.py: with CI=true a skipped test fails the run, naming what was missing; an
xfail stays allowed; without CI a skip stays a skip. Each case runs in a pytest of its own (pytester) with
a copy of that conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TESTS = """
import pytest

def test_passes():
    pass

def test_needs_a_tool():
    pytest.skip("TimescaleDB (PGlite) needs node and npm (apt-get install nodejs npm)")

@pytest.mark.skipif(True, reason="the real data folder is absent")
def test_needs_data():
    pass

@pytest.fixture
def server():
    pytest.skip("no server here")

def test_needs_a_server(server):
    pass

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert False
"""
MODULE_SKIP = """
import pytest
pytest.skip("this module needs a tool", allow_module_level=True)

def test_never_collected():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_cases=TESTS, test_module_skip=MODULE_SKIP)
    return pytester


def test_in_ci_every_skip_fails_with_its_reason(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    # A failed collection stops the run by itself; here the tests of the other module should run too.
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, failed=1, errors=3, xfailed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines_random(
        [
            "*in CI (CI=true) a skip fails the run: TimescaleDB (PGlite) needs node and npm*",
            "*in CI (CI=true) a skip fails the run: the real data folder is absent*",
            "*in CI (CI=true) a skip fails the run: no server here*",
            "*in CI (CI=true) a skip fails the run: this module needs a tool*",
        ]
    )


def test_outside_ci_a_skip_is_a_skip(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == 0
