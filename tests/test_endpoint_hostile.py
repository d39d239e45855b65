"""Hostile endpoints and replies (issue 27): a 200 that is not a completion (not JSON, an HTML
page, JSON without its content), a server that trickles its reply, a dead port, a reply far
over the schema, a huge task instruction. Each is one clear error naming the endpoint, within
the call's deadline; errored episodes stop a run and make `steve` exit non-zero with the way
to resume; nothing oversized reaches the model or the disk."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from agent import runner
from agent.cli import app
from agent.llm import Completion, LLMError, make_client
from agent.llm.repair import parse_json
from agent.llm.validate import schema_violation
from agent.planner.llm import LLMPlanner
from agent.runner import ERRORED_IN_A_ROW, RunConfig, finished_episodes, run_suite
from knowledge.schema import Briefing
from sim.schema import Goal, Task, WorldState

pytest.importorskip("openai")

PLAN = json.dumps({"plan": [{"verb": "mine", "target": "oak_log", "count": 1}]})


def _completion(content: Any = PLAN, **message: Any) -> bytes:
    msg = {"role": "assistant", "content": content, **message}
    if content is None:
        del msg["content"]
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": msg}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }
    ).encode()


# what each mode answers with a 200: (body, content type, what the error must say)
BODIES: dict[str, tuple[bytes, str, str]] = {
    "not-json": (b'{"choices": [{"message": ', "application/json", "not JSON"),
    "html": (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "text/html"),
    "no-choices": (b'{"id": "x", "object": "chat.completion"}', "application/json", "choices"),
    "no-content": (_completion(None), "application/json", "content is missing"),
    "wrong-type": (_completion(42), "application/json", "content is int"),
    "list": (b"[1, 2, 3]", "application/json", "not an object"),
}


class Hostile(BaseHTTPRequestHandler):
    """Answers every request as `mode` says: a body of BODIES, `ok`, or `trickle` (the whole
    response one byte per 0.5 s) and `trickle-body` (the headers at once, then the same)."""

    mode: ClassVar[str] = "ok"
    hits: ClassVar[list[str]] = []
    halt: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Hostile.hits.append(self.mode)
        body, kind = (_completion(), "application/json")
        if self.mode in BODIES:
            body, kind = BODIES[self.mode][:2]
        head = (
            f"HTTP/1.0 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        if self.mode == "trickle":
            self._trickle(head + body)
        elif self.mode == "trickle-body":
            self.wfile.write(head)
            self._trickle(body)
        else:
            self.wfile.write(head + body)

    def _trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            if Hostile.halt.wait(0.5):
                return
            try:
                self.wfile.write(data[i : i + 1])
            except OSError:  # the client hung up: what the deadline is for
                return

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    Hostile.mode, Hostile.hits, Hostile.halt = "ok", [], threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    Hostile.halt.set()
    httpd.shutdown()
    httpd.server_close()


def _dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


MESSAGES = [{"role": "user", "content": "plan"}]
FAST = {"max_retries": 1, "backoff_s": 0.01, "timeout": 5}


# ---- the endpoint -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", sorted(BODIES))
def test_a_reply_that_is_not_a_completion_is_retried_then_one_clear_error(
    url: str, mode: str
) -> None:
    Hostile.mode = mode
    client = make_client("openai", model="m", base_url=url, **FAST)
    with pytest.raises(LLMError) as info:
        client.complete(MESSAGES, {"type": "object"})
    text = str(info.value)
    assert url in text and "openai" in text, text
    assert "malformed reply" in text and BODIES[mode][2] in text, text
    assert "gave up after 2 attempts" in text and Hostile.hits == [mode, mode]


def test_a_well_formed_reply_still_reads(url: str) -> None:
    client = make_client("openai", model="m", base_url=url, **FAST)
    done = client.complete(MESSAGES, {"type": "object"})
    assert done.parsed == json.loads(PLAN) and (done.prompt_tokens, done.completion_tokens) == (
        5,
        3,
    )


@pytest.mark.parametrize("mode", ["trickle", "trickle-body"])
def test_a_trickling_server_is_cut_at_the_deadline(url: str, mode: str) -> None:
    """One byte every 0.5 s never trips a socket timeout of 1 s; the call's deadline does."""
    Hostile.mode = mode
    client = make_client("openai", model="m", base_url=url, timeout=1, backoff_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client.complete(MESSAGES)
    assert time.monotonic() - t0 < 2.0
    assert url in str(info.value) and "within 1 s" in str(info.value)


def test_a_dead_port_is_one_clear_error_within_the_deadline() -> None:
    dead = _dead_url()
    client = make_client("openai", model="m", base_url=dead, max_retries=3, backoff_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client.complete(MESSAGES)
    assert time.monotonic() - t0 < 5
    assert dead in str(info.value) and "gave up after 4 attempts" in str(info.value)


def test_retries_stop_at_the_deadline() -> None:
    """Backoff that would outlast the call's timeout is not waited out."""
    client = make_client(
        "openai", model="m", base_url=_dead_url(), max_retries=10, backoff_s=0.4, timeout=1
    )
    t0 = time.monotonic()
    with pytest.raises(LLMError, match="timeout of the call"):
        client.complete(MESSAGES)
    assert time.monotonic() - t0 < 1.5


# ---- runs ---------------------------------------------------------------------------------
SUITE = """
name: hostile
world: craftworld/v1
defaults: {max_ticks: 2000, max_subgoals: 3, seeds: [0, 1]}
tasks:
  - {id: pickaxe, instruction: Craft a wooden pickaxe., goal: {item: wooden_pickaxe}}
  - {id: sword, instruction: Craft a wooden sword., goal: {item: wooden_sword}}
  - {id: planks, instruction: Craft oak planks., goal: {item: oak_planks, count: 4}}
"""


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(SUITE)
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("where", ["html", "dead"])
def test_errored_episodes_in_a_row_stop_the_run(url: str, tmp_path: Path, where: str) -> None:
    Hostile.mode = where
    base = _dead_url() if where == "dead" else url
    cfg = RunConfig(
        suite=str(_suite(tmp_path)),
        planner="openai",
        model="m",
        base_url=base,
        out=str(tmp_path / "runs"),
        extra={"llm": FAST},
    )
    result = run_suite(cfg)
    assert len(result.episodes) == ERRORED_IN_A_ROW == 3
    for r in result.episodes:
        assert r.error and base in r.error and not r.success, r.error
    assert result.stopped is not None and "3 errored episodes in a row" in result.stopped
    assert "3 not played" in result.stopped
    rows = _lines(result.run_dir / "episodes.jsonl")
    assert len(rows) == 3 and all(row["error"] for row in rows)
    assert finished_episodes(result.run_dir) == set()


def test_steve_run_exits_nonzero_and_says_how_to_resume(url: str, tmp_path: Path) -> None:
    Hostile.mode = "not-json"
    out = tmp_path / "runs"
    args = ["run", str(_suite(tmp_path)), "--planner", "openai", "--model", "m"]
    args += ["--base-url", url, "--out", str(out), "--option", "llm.max_retries=0"]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert url in text and "not JSON" in text
    assert "stopped after 3 errored episodes in a row" in text
    assert "steve run --resume" in text
    (run_dir,) = out.iterdir()
    Hostile.mode = "ok"  # the endpoint is back: the printed command plays the rest
    again = CliRunner().invoke(app, ["run", "--resume", str(run_dir)])
    assert again.exit_code == 0, again.output
    assert len(finished_episodes(run_dir)) == 6


def test_episodes_side_by_side_stop_too_when_the_endpoint_is_down(url: str, tmp_path: Path) -> None:
    """`--batch 2` and no store (method none): waves of two, so the run still stops after
    errors in a row instead of playing every episode against a broken endpoint."""
    Hostile.mode = "html"
    out = tmp_path / "runs"
    args = ["run", str(_suite(tmp_path)), "--planner", "openai", "--model", "m", "--batch", "2"]
    args += ["--method", "none", "--base-url", url, "--out", str(out)]
    args += ["--option", "llm.max_retries=0"]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "stopped after 3 errored episodes in a row" in text
    (run_dir,) = out.iterdir()
    from agent.record import read_episodes

    played = read_episodes(run_dir)
    assert len(played) == 4 and all(r.error for r in played), "two waves of two, then stop"


def test_steve_eval_exits_nonzero_and_says_how_to_resume(url: str, tmp_path: Path) -> None:
    Hostile.mode = "html"
    args = ["eval", str(_suite(tmp_path)), "--method", "none,evolving", "--planner", "openai"]
    args += ["--model", "m", "--base-url", url, "--out", str(tmp_path / "reports")]
    args += ["--option", "llm.max_retries=0"]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "steve eval --resume" in text
    assert "none: stopped after 3 errored episodes" in text
    assert Hostile.hits == ["html"] * 3, "the second method never waited on the endpoint"


# ---- replies and prompts ------------------------------------------------------------------
VERBS = {"mine": ("oak_log", "stone"), "craft": ("oak_planks", "stick")}
TASK = Task(id="planks", instruction="Craft oak planks.", goal=Goal(item="oak_planks"))
STATE = WorldState(world="craftworld/v1", nearby_blocks={"oak_log": 12})


class Same:
    """A client that always answers `text`, and keeps what it was asked."""

    backend, model = "fake", "fake-1"

    def __init__(self, text: str) -> None:
        self.text = text
        self.asked: list[list[dict[str, str]]] = []

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None, **_: Any
    ) -> Completion:
        self.asked.append(messages)
        return Completion(text=self.text, parsed=parse_json(self.text), backend="fake")


def _steps(n: int) -> str:
    return json.dumps({"plan": [{"verb": "mine", "target": "oak_log", "count": 1}] * n})


def test_a_plan_over_max_items_is_refused() -> None:
    planner = LLMPlanner(Same(_steps(200)), verb_targets=VERBS, max_steps=4)
    result = planner.plan(TASK, STATE, Briefing())
    assert result.subgoals == [] and result.error is not None
    assert "200 items, at most 4" in result.error
    ok = LLMPlanner(Same(_steps(4)), verb_targets=VERBS, max_steps=4).plan(TASK, STATE, Briefing())
    assert ok.error is None and len(ok.subgoals) == 4


@pytest.mark.parametrize(
    ("value", "schema", "says"),
    [
        ("x" * 11, {"type": "string", "maxLength": 10}, "11 characters, at most 10"),
        ("fly", {"enum": ["mine", "craft"]}, "'fly' is not one of 2"),
        ({"a": 1, "b": 2}, {"properties": {"a": {}}, "additionalProperties": False}, "'b'"),
        ({}, {"required": ["plan"]}, "missing 'plan'"),
        (True, {"enum": [1]}, "not one of 1"),
        (70, {"type": "integer", "maximum": 64}, "above the maximum 64"),
        (
            {"verb": "mine", "target": "gold"},
            {
                "anyOf": [
                    {"properties": {"verb": {"enum": ["craft"]}}},
                    {"properties": {"verb": {"enum": ["mine"]}, "target": {"enum": ["oak_log"]}}},
                ]
            },
            "reply.target",  # the alternative that got furthest names the problem
        ),
    ],
)
def test_replies_are_checked_against_the_whole_schema(value: Any, schema: Any, says: str) -> None:
    found = schema_violation(value, schema)
    assert found is not None and says in found, found


def test_a_huge_instruction_is_clipped_in_the_prompt() -> None:
    fake = Same(_steps(1))
    huge = TASK.model_copy(update={"instruction": "Craft oak planks. " + "x" * 1_000_000})
    LLMPlanner(fake, verb_targets=VERBS).plan(huge, STATE, Briefing())
    user = fake.asked[0][-1]["content"]
    assert len(user) < 6000
    assert "… [clipped 996,018 chars]" in user and user.startswith("Task: Craft oak planks.")


def _fake_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reply: str) -> runner.RunResult:
    def make(cfg: RunConfig, world: Any) -> LLMPlanner:
        return LLMPlanner(Same(reply), world, recipes="off")

    monkeypatch.setitem(runner.PLANNERS, "same", make)
    cfg = RunConfig(
        suite=str(_suite(tmp_path)),
        planner="same",
        tasks=["planks"],
        seeds=[0],
        out=str(tmp_path / "runs"),
    )
    return run_suite(cfg)


def test_an_oversized_reply_stays_small_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 steps where 4 are allowed: refused each time, and the trajectory keeps only the
    head of each reply."""
    reply = _steps(20_000)
    (episode,) = _fake_run(tmp_path, monkeypatch, reply).episodes
    path = next((tmp_path / "runs").glob("*/trajectory/planks__s0.jsonl"))
    lines = _lines(path)
    assert episode.steps == len(lines) == 3 and not episode.success
    for line in lines:
        assert "20,000 items, at most 4" in line["plan"]["error"]
        assert "[clipped" in line["plan"]["reply"]
    assert path.stat().st_size < len(reply) // 10, "three lines, all of them far under one reply"


def test_a_trajectory_line_does_not_repeat_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is on the line of its first step; later lines are its next steps."""
    (episode,) = _fake_run(tmp_path, monkeypatch, _steps(3)).episodes
    lines = _lines(next((tmp_path / "runs").glob("*/trajectory/planks__s0.jsonl")))
    carrying = [line for line in lines if "plan" in line]
    assert len(carrying) == episode.llm_calls < len(lines)
    assert lines[0]["plan"]["subgoals"] == ["mine 1 oak_log"] * 3
    assert all("plan" not in line for line in lines[1:3])


def test_the_parallel_runner_stops_between_waves_too(url: str, tmp_path: Path) -> None:
    """Waves of one episode (the local backend, no Ray): no wave starts after three errored
    episodes in a row."""

    Hostile.mode = "html"
    cfg = RunConfig(
        suite=str(_suite(tmp_path)),
        planner="openai",
        model="m",
        base_url=url,
        out=str(tmp_path / "runs"),
        extra={"llm": FAST},
        workers=2,
        wave=1,
    )
    result = run_suite(cfg, pool="copies")
    assert len(result.episodes) == ERRORED_IN_A_ROW and all(r.error for r in result.episodes)
    assert result.stopped is not None and "in a row" in result.stopped
