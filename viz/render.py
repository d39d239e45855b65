"""The one renderer: a frame and the viewer's chrome in, an RGB array out.

Pure: no window, no clock, no state; the same frame and chrome always give the same pixels.
The live view, the replay, the screenshots and the video export all call `render_frame`.
Text is drawn with Pillow (a dependency of matplotlib, so the renderer needs no extra) in
Pillow's bundled font, the same on every machine.

Layout (900 x 560): a header; the world view (the world's own 3D render with a legend of its
colours, or its map when the `map` overlay is on, or a schematic of the recorded state, or the
household text panel) with the agent's body and inventory
below it; on the right the plan with the active subgoal, the diagnosis (cause, evidence,
progress indicators, stagnation/loop/deadlock flags) and the recalled knowledge (a guardrail
that blocked the subgoal is marked); a scrubber over the whole run and a footer. The help
and the LLM prompt/reply are overlays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from viz.frame import Frame, plan_rows

WIDTH, HEIGHT = 900, 560
WORLD_BOX = (8, 30, 392, 392)  # x, y, w, h
RIGHT_X = 410
SCRUBBER = (8, HEIGHT - 40, WIDTH - 16, 12)  # x, y, w, h: clicks here seek
PANELS = frozenset({"plan", "diagnosis", "knowledge"})
"""The overlays shown by default; `help` and `prompt` are off until toggled."""

BG = (22, 24, 30)
PANEL = (32, 35, 44)
LINE = (58, 62, 74)
TEXT = (222, 224, 230)
DIM = (128, 133, 146)
ACCENT = (255, 208, 92)
OK = (96, 200, 120)
BAD = (236, 88, 78)
WARN = (240, 162, 64)
SKILL = (110, 186, 255)
ACTIVE = (58, 66, 96)


@dataclass(frozen=True)
class Chrome:
    """What the viewer adds around a frame: mode, play state, overlays and the scrubber."""

    mode: str = "replay"  # live | replay | video
    playing: bool = False
    speed: float = 1.0  # subgoals per second
    overlays: frozenset[str] = PANELS
    cursor: int = 0  # this frame's index in the whole timeline
    total: int = 1  # frames in the timeline (so far, when live)
    starts: tuple[int, ...] = (0,)  # where each episode starts in the timeline
    keymap: tuple[tuple[str, str], ...] = ()  # (keys, what they do), for the help overlay
    message: str = ""  # a status line (e.g. waiting for the agent)


def render_frame(frame: Frame | None, chrome: Chrome = Chrome()) -> NDArray[np.uint8]:
    """The viewer's picture of `frame` (H, W, 3 uint8). `None` draws an empty view with the
    chrome (before the first subgoal of a live run has finished)."""
    c = _Canvas(WIDTH, HEIGHT)
    _header(c, frame, chrome)
    if frame is None:
        c.box((*WORLD_BOX[:2], WIDTH - 16, WORLD_BOX[3]), PANEL)
        c.text(20, 50, chrome.message or "no frames yet", DIM, 14)
    else:
        _world(c, frame, chrome.overlays)
        _agent(c, frame)
        _plan(c, frame, "plan" in chrome.overlays)
        _diagnosis(c, frame, "diagnosis" in chrome.overlays)
        _knowledge(c, frame, "knowledge" in chrome.overlays)
    _scrubber(c, chrome)
    _footer(c, frame, chrome)
    if frame is not None and "prompt" in chrome.overlays:
        _prompt_overlay(c, frame)
    if "help" in chrome.overlays:
        _help_overlay(c, chrome)
    return np.asarray(c.img, dtype=np.uint8).copy()


# ---- drawing primitives ----------------------------------------------------------------------
@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Canvas:
    def __init__(self, w: int, h: int) -> None:
        self.img = Image.new("RGB", (w, h), BG)
        self.d = ImageDraw.Draw(self.img)

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int] = TEXT, size: int = 12):
        self.d.text((x, y), s, fill=color, font=_font(size))
        return x + int(self.d.textlength(s, font=_font(size)))

    def width(self, s: str, size: int = 12) -> int:
        return int(self.d.textlength(s, font=_font(size)))

    def fit(self, s: str, width: int, size: int = 12) -> str:
        """`s` cut to `width` pixels, with an ellipsis when cut."""
        s = " ".join(s.split())
        if self.width(s, size) <= width:
            return s
        lo, hi = 0, len(s)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.width(s[:mid] + "…", size) <= width:
                lo = mid
            else:
                hi = mid - 1
        return s[:lo] + "…"

    def wrap(self, s: str, width: int, size: int = 12) -> list[str]:
        out: list[str] = []
        for para in s.splitlines() or [""]:
            line = ""
            for word in para.split(" "):
                trial = f"{line} {word}" if line else word
                if self.width(trial, size) <= width:
                    line = trial
                    continue
                if line:
                    out.append(line)
                while self.width(word, size) > width:  # a word longer than the line
                    cut = self.fit(word, width, size)[:-1] or word[:1]
                    out.append(cut)
                    word = word[len(cut) :]
                line = word
            out.append(line)
        return out

    def box(self, rect: tuple[int, int, int, int], fill: Any, outline: Any = None) -> None:
        x, y, w, h = rect
        self.d.rectangle((x, y, x + w - 1, y + h - 1), fill=fill, outline=outline)

    def bar(self, x: int, y: int, w: int, frac: float, color: tuple[int, int, int]) -> None:
        self.box((x, y, w, 8), LINE)
        filled = round(w * max(0.0, min(1.0, frac)))
        if filled:
            self.box((x, y, filled, 8), color)

    def title(self, x: int, y: int, s: str, w: int) -> None:
        self.text(x, y, s, ACCENT, 12)
        self.d.line((x, y + 16, x + w, y + 16), fill=LINE)

    def chip(self, x: int, y: int, s: str, color: tuple[int, int, int], lit: bool = True) -> int:
        w = self.width(s, 11) + 8
        self.box((x, y, w, 15), color if lit else PANEL, outline=color if lit else LINE)
        self.text(x + 4, y + 1, s, BG if lit else DIM, 11)
        return x + w + 4


# ---- sections --------------------------------------------------------------------------------
def _header(c: _Canvas, frame: Frame | None, chrome: Chrome) -> None:
    c.box((0, 0, WIDTH, 24), PANEL)
    if frame is not None:
        of = f"/{frame.steps}" if frame.steps else ""
        x = c.text(8, 5, frame.task_id, ACCENT, 13)
        x = c.text(x + 10, 6, f"seed {frame.seed}   attempt {frame.step + 1}{of}", TEXT)
        if frame.success is not None:
            word, color = ("episode succeeded", OK) if frame.success else ("episode failed", BAD)
            c.text(x + 14, 6, word, color)
        state = frame.state
        tick = state.time_of_day % 24000
        if state.location is None:
            phase = "night" if 13000 <= tick < 23000 else "day"
            c.text(WIDTH - 330, 6, f"tick {state.tick}  {phase}", DIM)
    state_word = "PLAYING" if chrome.playing else "PAUSED"
    right = f"{chrome.mode.upper()}  {state_word}  {chrome.speed:g}/s"
    if chrome.mode == "video":
        right = "VIDEO"
    c.text(WIDTH - 8 - c.width(right), 6, right, OK if chrome.playing else WARN)


def _world(c: _Canvas, frame: Frame, overlays: frozenset[str] = PANELS) -> None:
    x, y, w, h = WORLD_BOX
    c.box(WORLD_BOX, PANEL)
    state = frame.state
    if state.location is not None:
        _household(c, frame)
        return
    view = frame.map_image if "map" in overlays and frame.map_image is not None else frame.image
    if view is None:
        _schematic(c, frame)
        return
    img = Image.fromarray(np.asarray(view, dtype=np.uint8))
    factor = max(1, min(w // img.width, h // img.height))
    if factor * img.width > w or factor * img.height > h:  # larger than the box: shrink
        ratio = min(w / img.width, h / img.height)
        img = img.resize(
            (int(img.width * ratio), int(img.height * ratio)), Image.Resampling.NEAREST
        )
    else:
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    left, top = x + (w - img.width) // 2, y + (h - img.height) // 2
    c.img.paste(img, (left, top))
    if frame.agent_at is not None:  # a ring around the agent: its marker is a few pixels
        ax, ay = left + frame.agent_at[0] * img.width, top + frame.agent_at[1] * img.height
        c.d.ellipse((ax - 11, ay - 11, ax + 11, ay + 11), outline=ACCENT, width=2)
    _legend(c, frame)
    if frame.view_note:
        note = c.fit(frame.view_note, w - 8, 11)
        c.box((x, y + h - 16, c.width(note, 11) + 8, 16), BG)
        c.text(x + 4, y + h - 15, note, DIM, 11)


LEGEND_BLOCKS = 5
"""Blocks named in the world view's legend: those most often in sight."""


def _legend(c: _Canvas, frame: Frame) -> None:
    """What the colours mean, along the top of the world view: the agent, hostile and passive
    mobs, and the blocks most often in sight (the recorded state's `nearby_blocks`)."""
    from sim.craftworld.render import (
        AGENT_COLOR,
        BLOCK_COLORS,
        HOSTILE_COLOR,
        PASSIVE_COLOR,
        UNKNOWN_COLOR,
    )

    x, y, w, _ = WORLD_BOX
    keys: list[tuple[str, tuple[int, ...]]] = [
        ("you", tuple(int(v) for v in AGENT_COLOR)),
        ("hostile", tuple(int(v) for v in HOSTILE_COLOR)),
        ("passive", tuple(int(v) for v in PASSIVE_COLOR)),
    ]
    blocks = sorted(frame.state.nearby_blocks.items(), key=lambda kv: (-kv[1], kv[0]))
    keys += [(n, BLOCK_COLORS.get(n, UNKNOWN_COLOR)) for n, _ in blocks[:LEGEND_BLOCKS]]
    c.box((x, y, w, 32), BG)
    col, row = x + 4, y + 3
    for name, color in keys:
        label = name.replace("_", " ")
        span = 14 + c.width(label, 11) + 10
        if col + span > x + w:
            col, row = x + 4, row + 14
        c.box((col, row + 2, 10, 10), color, outline=LINE)
        c.text(col + 14, row, label, TEXT, 11)
        col += span


def _schematic(c: _Canvas, frame: Frame) -> None:
    """The recorded state drawn as a legend: where no world image could be made honestly."""
    from sim.craftworld.render import BLOCK_COLORS, UNKNOWN_COLOR

    x, y, w, _ = WORLD_BOX
    s = frame.state
    c.text(x + 8, y + 6, "schematic of the recorded state", ACCENT)
    for i, line in enumerate(c.wrap(frame.view_note or "no world image", w - 16, 11)[:3]):
        c.text(x + 8, y + 24 + 14 * i, line, DIM, 11)
    c.text(x + 8, y + 70, f"position {s.position}", TEXT)
    c.text(x + 8, y + 90, "blocks in sight", DIM)
    row = y + 108
    blocks = sorted(s.nearby_blocks.items(), key=lambda kv: -kv[1])
    for name, n in blocks[:12]:
        c.box((x + 8, row + 1, 12, 12), BLOCK_COLORS.get(name, UNKNOWN_COLOR), outline=LINE)
        c.text(x + 26, row, f"{name}  x{n}", TEXT)
        row += 18
    mobs = ", ".join(f"{k} x{n}" for k, n in s.nearby_entities.items())
    c.text(x + 8, row + 8, c.fit(f"mobs: {mobs or 'none'}", w - 16), DIM)


def _household(c: _Canvas, frame: Frame) -> None:
    """The household world: the room, what the agent holds, and the receptacles with their
    states and contents (objects say where they are with an `in:<receptacle>` state)."""
    x, y, w, h = WORLD_BOX
    s = frame.state
    here = s.location
    c.text(x + 10, y + 8, "room", DIM)
    c.text(x + 70, y + 6, str(here), ACCENT, 16)
    c.text(x + 10, y + 34, "holding", DIM)
    c.text(x + 70, y + 32, str(s.holding or "nothing"), TEXT, 14)
    c.text(x + 10, y + 62, "receptacles: state, contents", DIM)
    states: dict[str, list[str]] = dict(s.object_states)
    contents: dict[str, list[str]] = {}
    for name, st in states.items():
        inside = next((v[3:] for v in st if v.startswith("in:")), None)
        if inside is not None:
            extra = [v for v in st if not v.startswith("in:")]
            contents.setdefault(inside, []).append(
                name + (f" ({', '.join(extra)})" if extra else "")
            )
    receptacles = sorted(
        set(contents) | {n for n, st in states.items() if not any(v.startswith("in:") for v in st)},
        key=lambda r: (r != here, r),
    )
    row = y + 80
    for n, recep in enumerate(receptacles):
        if row > y + h - 34:
            c.text(x + 14, row, f"+{len(receptacles) - n} more", DIM)
            break
        own = ", ".join(states.get(recep, []))
        end = c.text(x + 14, row, c.fit(recep, 150), ACCENT if recep == here else TEXT)
        if own:
            c.text(end + 6, row, c.fit(f"[{own}]", 120), DIM)
        row += 15
        inside = ", ".join(contents.get(recep, [])) or "empty"
        for line in c.wrap(inside, w - 40, 11)[:2]:
            c.text(x + 30, row, line, DIM, 11)
            row += 13
        row += 3


def _agent(c: _Canvas, frame: Frame) -> None:
    x, y = WORLD_BOX[0], WORLD_BOX[1] + WORLD_BOX[3] + 6
    w = WORLD_BOX[2]
    s = frame.state
    if s.location is None:
        c.text(x, y, "health", DIM)
        c.bar(x + 48, y + 4, 110, s.health / 20, BAD)
        c.text(x + 200, y, "food", DIM)
        c.bar(x + 236, y + 4, 110, s.food / 20, WARN)
        y += 18
        pos = s.position
        c.text(x, y, c.fit(f"equipped {s.equipped or 'nothing'}   at {pos}", w), TEXT)
        y += 18
    if s.location is not None and not s.inventory:
        return  # the household world: what the agent holds is in the panel above
    inv = ", ".join(f"{n} {k}" for k, n in s.inventory.items()) or "empty"
    lines = c.wrap(f"inventory: {inv}", w)
    bottom = SCRUBBER[1] - 4
    for line in lines[: max(1, (bottom - y) // 15)]:
        c.text(x, y, line, TEXT)
        y += 15


def _plan(c: _Canvas, frame: Frame, shown: bool) -> None:
    x, y, w = RIGHT_X, 30, WIDTH - RIGHT_X - 8
    c.title(x, y, "PLAN" + ("" if shown else "  (hidden: l)"), w)
    if not shown:
        return
    y += 22
    if frame.plan_error:
        c.text(x, y, c.fit(f"plan could not be used: {frame.plan_error}", w), BAD)
        y += 16
    for text, role in plan_rows(frame, 6 if frame.plan_error else 7):
        if role in ("active", "next"):  # the step in hand, or the one a repair leads back to
            fill, outline = (ACTIVE, None) if role == "active" else (None, ACTIVE)
            c.box((x - 2, y - 1, w + 2, 16), fill, outline)
            triangle = [(x, y + 2), (x, y + 12), (x + 7, y + 7)]
            c.d.polygon(triangle, fill=ACCENT if role == "active" else None, outline=ACCENT)
        indent = 0 if role in ("note", "repair") else 12
        color = {"note": WARN, "repair": SKILL, "done": DIM, "more": DIM}.get(role, TEXT)
        c.text(x + indent, y, c.fit(text, w - indent - 2), color)
        y += 16


def _diagnosis(c: _Canvas, frame: Frame, shown: bool) -> None:
    x, y, w = RIGHT_X, 186, WIDTH - RIGHT_X - 8
    c.title(x, y, "LAST ATTEMPT AND ITS DIAGNOSIS" + ("" if shown else "  (hidden: d)"), w)
    if not shown:
        return
    y += 22
    d = frame.diagnosis
    ok = d.success
    cause = "BLOCKED" if frame.blocked else ("ok" if ok else d.cause.value)
    tail = c.text(x, y, c.fit(frame.subgoal, w - 170), TEXT)
    c.text(tail + 8, y, "->", DIM)
    c.chip(tail + 28, y, cause, OK if ok else BAD)
    y += 20
    if frame.message:
        c.text(x, y, c.fit(frame.message, w), DIM)
        y += 15
    evidence = "; ".join(d.evidence)
    if evidence:
        c.text(x, y, c.fit(f"evidence: {evidence}", w), TEXT)
        y += 15
    c.text(x, y, c.fit(f"change: {d.diff.text()}", w), TEXT)
    y += 19
    for label, value, color in (
        ("subgoal", d.subgoal_progress, SKILL),
        ("task", d.task_progress, OK),
        ("budget", d.budget_used, WARN),
    ):
        c.text(x, y, label, DIM, 11)
        c.bar(x + 52, y + 3, 110, float(value), color)
        note = f"{100 * float(value):.0f}%"
        if label == "task" and d.task_progress_delta:
            note += f" ({100 * d.task_progress_delta:+.0f})"
        c.text(x + 168, y, note, TEXT, 11)
        y += 14
    flags_x = x + 250
    fy = y - 42
    for flag in ("stagnation", "loop", "deadlock"):
        c.chip(flags_x, fy, flag, BAD, lit=bool(getattr(d, flag)))
        fy += 14
    c.text(
        x,
        y + 2,
        c.fit(
            f"moved {d.moved:.0f} · new cells {d.new_cells}"
            f" · actions {d.steps} · items {d.resource_delta:+d}",
            w,
        ),
        DIM,
        11,
    )


def _knowledge(c: _Canvas, frame: Frame, shown: bool) -> None:
    x, y, w = RIGHT_X, 356, WIDTH - RIGHT_X - 8
    items = frame.recalled
    c.title(x, y, f"RECALLED KNOWLEDGE ({len(items)})" + ("" if shown else "  (hidden: k)"), w)
    if not shown:
        return
    y += 22
    bottom = SCRUBBER[1] - 6
    rail = frame.guardrail
    if rail.blocked:
        c.box((x - 2, y - 2, w + 2, 32), (80, 30, 30))
        c.chip(x + 2, y, "BLOCKED", BAD)
        reason = rail.reason or f"guardrail {rail.id}"
        lines = c.wrap(reason, w - 80)
        c.text(x + 70, y, lines[0], TEXT)
        if len(lines) > 1:
            c.text(x + 70, y + 14, c.fit(" ".join(lines[1:]), w - 80), TEXT)
        y += 34
    if not items:
        c.text(x, y, "nothing recalled (no memory, or nothing relevant yet)", DIM)
        return
    kinds = {"skill": ("S", SKILL), "guardrail": ("G", WARN), "summary": ("H", DIM)}
    rows = max(1, (bottom - y) // 17)
    for n, item in enumerate(items):
        if n == rows - 1 and len(items) > rows:
            c.text(x, y, f"+{len(items) - n} more", DIM)
            break
        letter, color = kinds.get(item.kind, ("E", DIM))
        blocking = item.kind == "guardrail" and item.id == rail.id
        c.chip(x, y, letter, BAD if blocking else color)
        tag = f"#{item.id} ev {len(item.evidence)}"
        tag_w = c.width(tag, 11)
        room = w - 24 - tag_w - (64 if blocking else 8)
        c.text(x + 22, y, c.fit(item.text, room), BAD if blocking else TEXT)
        if blocking:
            c.chip(x + w - tag_w - 62, y, "BLOCKS", BAD)
        c.text(x + w - tag_w, y + 1, tag, DIM, 11)
        y += 17


def _scrubber(c: _Canvas, chrome: Chrome) -> None:
    x, y, w, h = SCRUBBER
    total = max(1, chrome.total)
    c.box((x, y, w, h), PANEL, outline=LINE)
    starts = [*chrome.starts, total]
    episode = max((i for i, s in enumerate(chrome.starts) if s <= chrome.cursor), default=0)
    a, b = starts[episode], starts[episode + 1] if episode + 1 < len(starts) else total
    c.box((x + w * a // total, y + 1, max(2, w * (b - a) // total), h - 2), ACTIVE)
    c.box((x + 1, y + h - 4, max(1, w * (chrome.cursor + 1) // total), 3), ACCENT)
    for s in chrome.starts[1:]:
        sx = x + w * s // total
        c.d.line((sx, y, sx, y + h - 1), fill=DIM)
    cx = x + w * chrome.cursor // total + max(1, w // total) // 2
    c.d.polygon([(cx - 5, y - 6), (cx + 5, y - 6), (cx, y)], fill=ACCENT)


def _footer(c: _Canvas, frame: Frame | None, chrome: Chrome) -> None:
    y = HEIGHT - 22
    episode = max((i for i, s in enumerate(chrome.starts) if s <= chrome.cursor), default=0)
    where = f"episode {episode + 1}/{len(chrome.starts)}   frame {chrome.cursor + 1}/{chrome.total}"
    x = c.text(8, y, where, DIM, 11)
    hint = "h help  space play/pause  n step  [ ] episode  p prompt  q quit"
    if chrome.mode == "video":
        hint = ""
    msg = chrome.message or (frame.view_note if frame is not None else "")
    if msg:
        c.text(x + 16, y, c.fit(msg, WIDTH - x - 40 - c.width(hint, 11), 11), WARN, 11)
    c.text(WIDTH - 8 - c.width(hint, 11), y, hint, DIM, 11)


def _overlay_box(c: _Canvas, rect: tuple[int, int, int, int]) -> None:
    x, y, w, h = rect
    shade = Image.new("RGB", (w, h), (10, 11, 14))
    region = c.img.crop((x, y, x + w, y + h))
    c.img.paste(Image.blend(region, shade, 0.94), (x, y))
    c.d.rectangle((x, y, x + w - 1, y + h - 1), outline=ACCENT)


def _help_overlay(c: _Canvas, chrome: Chrome) -> None:
    rect = (200, 60, 500, 40 + 18 * max(1, len(chrome.keymap)))
    _overlay_box(c, rect)
    x, y = rect[0] + 16, rect[1] + 10
    c.text(x, y, "KEYS", ACCENT, 13)
    y += 22
    for keys, what in chrome.keymap:
        c.text(x, y, keys, ACCENT)
        c.text(x + 150, y, what, TEXT)
        y += 18


def _prompt_overlay(c: _Canvas, frame: Frame) -> None:
    rect = (40, 34, WIDTH - 80, SCRUBBER[1] - 46)
    _overlay_box(c, rect)
    x, y, w, h = rect[0] + 14, rect[1] + 8, rect[2] - 28, rect[3]
    if frame.prompt is None and frame.reply is None:
        c.text(x, y, "LLM PROMPT AND REPLY", ACCENT, 13)
        c.text(
            x, y + 24, "No prompt recorded: this plan came from a planner that is not an LLM", DIM
        )
        c.text(x, y + 40, "(the symbolic oracle or a test fixture).", DIM)
        return
    reply_lines = c.wrap(frame.reply or "(none)", w, 11)
    prompt_lines = c.wrap(frame.prompt or "(none)", w, 11)
    rows = (h - 60) // 13
    keep_reply = min(len(reply_lines), max(4, rows // 3))
    keep_prompt = rows - keep_reply
    c.text(x, y, f"LLM PROMPT ({len(prompt_lines)} lines, last {keep_prompt} shown)", ACCENT)
    y += 18
    for line in prompt_lines[-keep_prompt:]:
        c.text(x, y, line, TEXT, 11)
        y += 13
    y += 6
    c.text(x, y, "REPLY", ACCENT)
    y += 18
    for line in reply_lines[:keep_reply]:
        c.text(x, y, line, OK, 11)
        y += 13
