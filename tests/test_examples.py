"""The example scripts in scenarios/examples run as documented and say what they claim."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "examples"


def _main(name: str):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))["main"]


def test_every_example_has_a_page() -> None:
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert len(scripts) >= 3
    for script in scripts:
        text = script.read_text()
        assert text.startswith('"""') and f"python scenarios/examples/{script.name}" in text


def test_run_a_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _main("run_a_suite")(str(tmp_path))
    out = capsys.readouterr().out
    assert "success 11/11" in out and "evidence [" in out


def test_continue_from_a_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _main("continue_from_a_pack")(str(tmp_path))
    lines = capsys.readouterr().out.splitlines()
    packed = next(line for line in lines if "from the pack" in line)
    empty = next(line for line in lines if "from an empty store" in line)
    failed = [int(re.search(r"(\d+) failed", line).group(1)) for line in (packed, empty)]  # type: ignore[union-attr]
    assert failed[0] < failed[1], "the pack spares the mistakes already made"
    assert (tmp_path / "wooden.pack.json").exists()


def test_build_a_suite_in_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _main("build_a_suite_in_code")(str(tmp_path))
    out = capsys.readouterr().out
    assert "3 tasks, valid" in out and out.count(" ok in ") == 3
    assert "split: unseen" in (tmp_path / "torch-economy.yaml").read_text()


def test_play_an_episode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _main("play_an_episode")(str(tmp_path))
    out = capsys.readouterr().out
    first, second = out.split("episode 2:")
    assert first.count("-> ok") == 1 and second.count("-> ok") == 1
    assert "skill" not in first.split("-> ok")[0], "an empty store recalls no skill"
    recalled = [
        line.partition("recalled: ")[2] for line in second.splitlines() if "recalled" in line
    ]
    assert recalled and all("skill" in r for r in recalled), "it recalls the first's skills"
    assert (tmp_path / "knowledge.sqlite").exists()
