"""Synthetic experience tuples that look like CraftWorld's, for the store benchmark.

States hold ~24 inventory items drawn from ~200 with a skewed popularity that shifts as an
episode progresses (early items give way to later ones), tool tiers, equipment, stations and
flags: about 30 facts each from a vocabulary of ~240. Episodes start near spawn and walk the
world cell by cell; tags are verb, target, cause and task family; evidence lines carry ticks
and positions, as real diagnoses do. Vectors have the structure of sentence embeddings: a
direction per verb, target, cause and goal plus a low-rank situation term, normalised.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np

from knowledge.codec import tuple_text
from knowledge.schema import Diagnosis, ExperienceTuple, StateDiff
from knowledge.signature import signature
from sim.schema import FailureCause, Subgoal, WorldState

MATERIALS = [
    "oak",
    "birch",
    "spruce",
    "jungle",
    "acacia",
    "dark_oak",
    "stone",
    "iron",
    "gold",
    "diamond",
    "coal",
    "redstone",
    "lapis",
    "copper",
    "sand",
    "clay",
    "wool",
    "leather",
]
FORMS = [
    "log",
    "planks",
    "slab",
    "stairs",
    "fence",
    "door",
    "block",
    "ingot",
    "ore",
    "nugget",
    "dust",
    "boots",
]
TOOLS = [
    f"{m}_{t}"
    for m in ("wooden", "stone", "iron", "diamond")
    for t in ("pickaxe", "sword", "axe", "shovel")
]
EXTRA = [
    "stick",
    "crafting_table",
    "furnace",
    "torch",
    "coal",
    "cobblestone",
    "dirt",
    "gravel",
    "flint",
    "apple",
    "bread",
    "wheat",
    "seeds",
    "bone",
    "string",
    "feather",
    "arrow",
    "bow",
    "bucket",
    "water_bucket",
    "sapling",
    "chest",
    "bed",
    "book",
    "paper",
    "sugar_cane",
]
ITEMS = EXTRA + TOOLS + [f"{m}_{f}" for m in MATERIALS for f in FORMS][:160]
TIERS = ["wood", "stone", "iron", "diamond"]
FLAGS = [
    "near:crafting_table",
    "near:furnace",
    "has_fuel",
    "night",
    "y<16",
    "health_low",
    "food_low",
]
FACTS = (
    [f"has:{i}" for i in ITEMS]
    + [f"{k}>={t}" for k in ("pickaxe", "sword", "axe") for t in TIERS]
    + [f"equipped:{t}" for t in TOOLS]
    + FLAGS
)
BLOCKS = [
    "stone",
    "dirt",
    "grass_block",
    "sand",
    "gravel",
    "water",
    "oak_log",
    "birch_log",
    "iron_ore",
    "coal_ore",
    "gold_ore",
    "diamond_ore",
    "redstone_ore",
    "lava",
    "clay",
]
MOBS = ["cow", "pig", "sheep", "chicken", "zombie", "skeleton", "spider", "creeper"]
VERBS = {
    "mine": BLOCKS,
    "craft": ITEMS[:90],
    "smelt": ["iron_ingot", "gold_ingot", "glass", "charcoal", "stone", "cooked_beef"],
    "place": ["crafting_table", "furnace", "torch", "chest", "bed"],
    "equip": TOOLS,
    "attack": MOBS,
    "eat": ["apple", "bread", "cooked_beef", "carrot"],
    "explore": ["forest", "plains", "desert", "mountains", "cave"],
    "move_to": BLOCKS[:8],
    "wait": ["day"],
}
VERB_NAMES = list(VERBS)
VERB_P = [30, 25, 8, 6, 6, 5, 3, 10, 5, 2]
CAUSES = {
    "mine": [FailureCause.WRONG_TOOL, FailureCause.TARGET_NOT_FOUND, FailureCause.NAV_STUCK],
    "craft": [FailureCause.MISSING_ITEM, FailureCause.RECIPE_FAIL, FailureCause.GUI_FAIL],
    "smelt": [FailureCause.SMELT_FAIL, FailureCause.MISSING_ITEM],
    "attack": [FailureCause.MOB_KILLED, FailureCause.DAMAGE],
}
DEFAULT_CAUSES = [FailureCause.TIMEOUT, FailureCause.TARGET_UNREACHABLE, FailureCause.DEADLOCK]
GOALS = [
    "wooden_pickaxe",
    "stone_pickaxe",
    "iron_pickaxe",
    "furnace",
    "iron_ingot",
    "torch",
    "diamond",
    "bread",
    "bed",
    "bucket",
]
FAMILIES = ["wooden", "stone", "iron", "gold", "diamond", "redstone", "armor", "food"]
CAUSE_LIST = [c.value for c in FailureCause]
LOW_RANK = 16
SITUATION = 1.5  # weight of the situation term against the verb/target/cause/goal terms


@dataclass
class Batch:
    tuples: list[ExperienceTuple]
    texts_vecs: dict[str, np.ndarray]  # filled by `vectors`
    facts: np.ndarray  # (n, words) uint64 fact bits, index = position in FACTS
    cells: np.ndarray  # (n, 2) int


class Generator:
    def __init__(self, seed: int = 0, dim: int = 384, per_episode: int = 30) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim, self.per_episode = dim, per_episode
        self.fact_index = {f: i for i, f in enumerate(FACTS)}
        r = np.random.default_rng(seed + 1)

        def unit(n: int) -> np.ndarray:
            v = r.standard_normal((n, dim)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        self.e_verb = dict(zip(VERBS, unit(len(VERBS)), strict=True))
        targets = sorted({t for ts in VERBS.values() for t in ts})
        self.e_target = dict(zip(targets, unit(len(targets)), strict=True))
        self.e_cause = dict(zip(CAUSE_LIST, unit(len(CAUSE_LIST)), strict=True))
        self.e_goal = dict(zip(GOALS, unit(len(GOALS)), strict=True))
        self.low_rank = unit(LOW_RANK).T  # the situation term lives in a small subspace
        pop = 1.0 / np.arange(1, len(ITEMS) + 1) ** 0.7
        self.log_pop = np.log(pop / pop.sum())
        self.ramp = np.linspace(0, 3, len(ITEMS))
        self.r = random.Random(seed)
        self.episode = 0
        self.step = self.per_episode
        self.cell = np.zeros(2, dtype=int)
        self.stage = 0.0
        self.goal, self.family = GOALS[0], FAMILIES[0]

    def _new_episode(self) -> None:
        self.episode += 1
        self.step = 0
        self.cell = np.array([self.r.randint(-3, 3), self.r.randint(-3, 3)])
        self.stage = 0.0
        self.goal = self.r.choice(GOALS)
        self.family = self.r.choice(FAMILIES)

    def batch(self, n: int) -> Batch:
        tuples, bits, cells = [], np.zeros((n, (len(FACTS) + 63) // 64), np.uint64), []
        for i in range(n):
            if self.step >= self.per_episode:
                self._new_episode()
            tup = self._one()
            for f in tup.facts:
                j = self.fact_index[f]
                bits[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
            cells.append(self.cell.copy())
            tuples.append(tup)
            self.step += 1
        return Batch(tuples, {}, bits, np.array(cells))

    def _inventory(self) -> dict[str, int]:
        shift = self.stage * self.ramp  # later items as the episode goes on
        keys = self.log_pop + shift - np.log(-np.log(self.rng.random(len(ITEMS))))
        size = self.r.randint(18, 27)
        chosen = np.argpartition(-keys, size)[:size]
        return {ITEMS[j]: self.r.randint(1, 32) for j in sorted(chosen.tolist())}

    def _facts(self, inv: dict[str, int], equipped: str | None, night: bool, y: int) -> list[str]:
        facts = {f"has:{k}" for k in inv}
        for kind in ("pickaxe", "sword", "axe"):
            best = max((TOOLS.index(t) // 4 + 1 for t in inv if t.endswith(kind)), default=0)
            facts.update(f"{kind}>={TIERS[t]}" for t in range(best))
        if equipped:
            facts.add(f"equipped:{equipped}")
        r = self.r
        for flag, p in (
            ("near:crafting_table", 0.3),
            ("near:furnace", 0.15),
            ("health_low", 0.05),
            ("food_low", 0.05),
        ):
            if r.random() < p:
                facts.add(flag)
        if "coal" in inv or "oak_log" in inv:
            facts.add("has_fuel")
        if night:
            facts.add("night")
        if y < 16:
            facts.add("y<16")
        return sorted(facts)

    def _one(self) -> ExperienceTuple:
        r = self.r
        if r.random() < 0.6:
            self.cell = self.cell + np.array([r.randint(-1, 1), r.randint(-1, 1)])
        self.stage = min(1.0, self.stage + 1.0 / self.per_episode)
        x = int(self.cell[0]) * 16 + r.randrange(16)
        z = int(self.cell[1]) * 16 + r.randrange(16)
        y = r.randint(5, 90)
        inv = self._inventory()
        tools = [t for t in inv if t in TOOLS]
        equipped = r.choice(tools) if tools and r.random() < 0.7 else None
        tick = self.step * 400 + r.randrange(400)
        night = (tick % 24000) >= 13000 or r.random() < 0.1
        facts = self._facts(inv, equipped, night, y)
        verb = r.choices(VERB_NAMES, weights=VERB_P)[0]
        target = r.choice(VERBS[verb])
        ok = r.random() < 0.6
        cause = FailureCause.NONE
        details: dict[str, str | int | float] = {}
        if not ok:
            cause = r.choice(CAUSES.get(verb, DEFAULT_CAUSES))
            if cause is FailureCause.WRONG_TOOL:
                details = {"context": "equipped:wooden_pickaxe"}
        ticks = r.randint(5, 800)
        evidence = [
            f"{verb} {target}: {'done' if ok else cause.value.lower()} after {ticks} ticks "
            f"near ({x}, {z})"
        ]
        gained = {target: r.randint(1, 3)} if ok and verb in ("mine", "craft", "smelt") else {}
        pre = WorldState(
            world="craftworld/v1",
            tick=tick,
            inventory=inv,
            equipped=equipped,
            position=(x, y, z),
            time_of_day=tick % 24000,
            nearby_blocks={b: r.randint(1, 80) for b in r.sample(BLOCKS, 6)},
            nearby_entities={m: 1 for m in r.sample(MOBS, 2)},
        )
        post_inv = dict(inv)
        for k, v in gained.items():
            post_inv[k] = post_inv.get(k, 0) + v
        post = pre.model_copy(
            update={
                "tick": tick + ticks,
                "inventory": post_inv,
                "time_of_day": (tick + ticks) % 24000,
            }
        )
        diag = Diagnosis(
            success=ok,
            cause=cause,
            evidence=evidence,
            details=details,
            diff=StateDiff(gained=gained, ticks=ticks),
            subgoal_progress=1.0 if ok else r.random(),
            task_progress=self.stage,
            budget_used=tick / 36000,
            steps=r.randint(1, 60),
        )
        return ExperienceTuple(
            run_id=f"run{self.episode // 300}",
            episode_id=f"ep{self.episode}",
            task_id=f"{self.family}/{self.goal}",
            task_goal=self.goal,
            task_family=self.family,
            step=self.step,
            pre_state=pre,
            action=Subgoal(verb=verb, target=target),
            diagnosis=diag,
            post_state=post,
            facts=facts,
            signature=signature(facts),  # as the loop hands them in
            tags=[verb, target, cause.value, self.family],
        )

    def vectors(self, tuples: list[ExperienceTuple]) -> np.ndarray:
        """One vector per tuple, a function of its text alone (as a model's would be), with
        the structure of sentence embeddings."""
        out = np.stack(
            [
                self.e_verb[t.action.verb]
                + self.e_target[t.action.target]
                + 0.7 * self.e_cause[t.diagnosis.cause.value]
                + 0.5 * self.e_goal[t.task_goal]
                for t in tuples
            ]
        )
        digests = b"".join(
            hashlib.blake2b(tuple_text(t).encode(), digest_size=LOW_RANK).digest() for t in tuples
        )
        z = np.frombuffer(digests, dtype=np.int8).reshape(len(tuples), LOW_RANK) / 128.0
        out += SITUATION * (z.astype(np.float32) @ self.low_rank.T)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class LookupEmbedder:
    """Hands the store vectors made ahead of time (the benchmark times the store, not a
    model): `remember` texts and vectors, then `embed` looks them up."""

    def __init__(self, dim: int = 384) -> None:
        self.name, self.dim = f"synthetic:{dim}", dim
        self.table: dict[str, np.ndarray] = {}

    def remember(self, texts: list[str], vecs: np.ndarray) -> None:
        self.table.update(zip(texts, vecs, strict=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim))
