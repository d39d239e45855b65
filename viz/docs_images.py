"""Make the README's pictures: `python -m viz.docs_images [--out docs/img]`.

Plays a short run of the shipped Stone suite with the fallible planner (the symbolic oracle
with seeded misbeliefs, a test fixture, not an LLM) and the full method, then writes:

    replay.png       the replay view (`steve replay`) at the first attempt a guardrail blocked,
                     in the shortest episode that has one (a successful one if there is)
    replay_help.png  the same with the help overlay (the keymap)
    episode.gif      that episode exported (`steve export-video`)
    watch.png        the live view (`steve watch`) at a fresh agent's first failed attempt
                     after its third
    underground.png  the 3D view of an agent in the nearest cave below the Stone suite's
                     first world (seed 0), cut away at its head
    firstperson.png  what the per-tick env's agent sees (`pixels=`), facing each way in turn

The same by hand (RUN is the run directory the first command prints; EPISODE:STEP as chosen):

    steve run stone --planner fallible --option misbeliefs.seed=1 \\
        --tasks craft_stone_pickaxe,craft_stone_sword,craft_furnace --seeds 0,1
    steve replay RUN --at EPISODE:STEP --screenshot replay.png
    steve export-video RUN --episode EPISODE --out episode.gif
    steve watch stone --planner fallible --option misbeliefs.seed=1 \\
        --tasks craft_stone_pickaxe --seeds 0 --screenshot watch.png --at STEP

Takes a few seconds to half a minute.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from viz.replay import RunReplay

MISBELIEFS = {"misbeliefs": {"seed": 1}}


def save_small_png(img: NDArray[np.uint8], path: Path) -> Path:
    """A PNG with a 256-colour palette and no dithering: a fraction of the RGB file's size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def make(out: Path) -> list[Path]:
    from agent.runner import RunConfig, run_suite
    from scenarios.loader import resolve_suite
    from viz.live import LiveSession
    from viz.video import export_episode
    from viz.viewer import Viewer

    stone = str(resolve_suite("stone"))
    written = []
    with tempfile.TemporaryDirectory(prefix="steve-docs-") as tmp:
        cfg = RunConfig(
            suite=stone,
            planner="fallible",
            tasks=["craft_stone_pickaxe", "craft_stone_sword", "craft_furnace"],
            seeds=[0, 1],
            out=tmp,
            name="docs",
            extra=MISBELIEFS,
        )
        run_dir = run_suite(cfg).run_dir
        replay = RunReplay(run_dir)
        try:
            episode, step = _pick(replay)
            print(f"replay at {episode}:{step}")
            viewer = Viewer(replay, playing=False)
            viewer.goto(replay.index_of(episode, step))
            written.append(save_small_png(viewer.render(), out / "replay.png"))
            viewer.handle("h")
            written.append(save_small_png(viewer.render(), out / "replay_help.png"))
        finally:
            replay.close()
        written.append(export_episode(run_dir, episode, out / "episode.gif", fps=2))

    live_cfg = RunConfig(
        suite=stone, planner="fallible", tasks=["craft_stone_pickaxe"], seeds=[0], extra=MISBELIEFS
    )
    session = LiveSession(live_cfg).start()
    try:
        viewer = Viewer(session, playing=False)
        for i in range(30):  # on to the first failure after a few attempts: a diagnosis to see
            session.request(i)
            session.wait_for(i + 1, timeout=300)
            if len(session) <= i:
                break
            viewer.goto(i)
            if i >= 3 and not session.frame(i).diagnosis.success:
                break
        print(f"watch at step {viewer.cursor}")  # one episode: the cursor is its step
        written.append(save_small_png(viewer.render(), out / "watch.png"))
    finally:
        session.close()
    written.append(save_small_png(_underground(), out / "underground.png"))
    written.append(save_small_png(_first_person(), out / "firstperson.png"))
    return written


def _underground() -> NDArray[np.uint8]:
    """The 3D view from a cave under the spawn point of seed 0: of the 400 cells nearest it
    that are air two high over a floor with rock 6 above the head, the one with most air
    around it."""
    from sim.craftworld.iso import render_iso
    from sim.craftworld.palette import BLOCK_ID, SOLID_LUT
    from sim.craftworld.world import CraftWorld
    from sim.schema import Goal, Task

    world = CraftWorld()
    world.reset(Task(id="t", instruction="Obtain stone.", goal=Goal(item="stone")), 0)
    x, y, z = world.pos
    r = 24
    box = world.terrain.region((x - r, 4, z - r), (x + r + 1, y, z + r + 1))
    air = box == BLOCK_ID["air"]
    solid = SOLID_LUT[box]
    cave = air[:, 1:-8, :] & air[:, 2:-7, :] & solid[:, :-9, :] & solid[:, 8:-1, :]
    cells = np.argwhere(cave)
    if not len(cells):
        raise RuntimeError("no cave below the spawn point of seed 0")
    cells = cells[np.argsort(((cells[:, [0, 2]] - r) ** 2).sum(axis=1))[:400]]

    def room(c: NDArray[np.int64]) -> int:  # air around the feet and head: a cave, not a pore
        i, k, j = (int(v) for v in c)
        return int(air[max(0, i - 4) : i + 5, k + 1 : k + 3, max(0, j - 4) : j + 5].sum())

    near = max(cells, key=room)
    feet = (int(near[0]) + x - r, int(near[1]) + 5, int(near[2]) + z - r)
    return render_iso(world.terrain, feet)


def _first_person() -> NDArray[np.uint8]:
    """Four 128x128 first-person observations of the per-tick env, one per facing."""
    from sim.craftworld.envs import CraftWorldEnv

    env = CraftWorldEnv(pixels=128)
    env.reset(seed=0)
    views = []
    for _ in range(4):
        views.append(env.first_person().copy())
        env.step(env.actions.index("turn_right"))
    gap = np.full((128, 4, 3), 22, dtype=np.uint8)
    return np.concatenate([v for view in views for v in (view, gap)][:-1], axis=1)


def _pick(replay: RunReplay) -> tuple[str, int]:
    """The episode to show and the attempt in it: the first blocked attempt of the shortest
    episode with one (succeeded ones first), else the first failed attempt anywhere."""
    best: tuple[tuple[bool, int], str, int] | None = None
    for e, count in zip(replay.episodes, replay.counts, strict=True):
        lines = replay.lines(e)
        blocked = [i for i, line in enumerate(lines) if line.guardrail.blocked]
        if blocked:
            ok = bool(replay.results.get(e, {}).get("success"))
            key = (not ok, count)
            if best is None or key < best[0]:
                best = (key, e, blocked[0])
    if best is not None:
        return best[1], best[2]
    for e in replay.episodes:
        for i, line in enumerate(replay.lines(e)):
            if not line.diagnosis.success:
                return e, i
    return replay.episodes[0], 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    for path in make(args.out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
