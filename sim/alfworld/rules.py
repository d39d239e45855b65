"""The household rules of generated scenes, read from `rules.yaml`: rooms, receptacles, objects,
what each object can undergo (cleaned, heated, cooled, toggled) and what fits where."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import yaml

RULES_PATH = Path(__file__).with_name("rules.yaml")
ROOMS = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")
# the receptacle whose PDDL id is `<Basin>_bar_N_bar_<Type>` (what ALFWorld's demangler expects)
BASINS = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}
# types the PDDL domain refers to by name, declared in every problem whether used or not
DOMAIN_TYPES = {
    "otype": ("KnifeType", "ButterKnifeType"),
    "rtype": ("SinkBasinType", "MicrowaveType", "FridgeType"),
}


@dataclass(frozen=True)
class Room:
    """A room type: how many receptacles of each type a floor plan has, and its objects."""

    name: str
    receptacles: dict[str, tuple[int, int]]
    objects: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    rooms: dict[str, Room]
    openable: frozenset[str]
    fits: dict[str, frozenset[str]]
    props: dict[str, frozenset[str]]
    fixed: frozenset[str]

    @staticmethod
    @cache
    def load(path: Path = RULES_PATH) -> Rules:
        raw = yaml.safe_load(path.read_text())
        rooms = {
            name: Room(
                name,
                {k: (int(v[0]), int(v[1])) for k, v in spec["receptacles"].items()},
                tuple(spec["objects"]),
            )
            for name, spec in raw["rooms"].items()
        }
        recs = raw["receptacles"]
        rules = Rules(
            rooms=rooms,
            openable=frozenset(k for k, v in recs.items() if v.get("openable")),
            fits={k: frozenset(v.get("fits", ())) for k, v in recs.items()},
            props={k: frozenset(v or ()) for k, v in raw["objects"].items()},
            fixed=frozenset(raw.get("fixed", ())),
        )
        rules.check()
        return rules

    def check(self) -> None:
        """Every name a room uses is defined (a typo in the YAML fails at load)."""
        for room in self.rooms.values():
            for kind, names, known in (
                ("receptacle", room.receptacles, self.fits),
                ("object", room.objects, self.props),
            ):
                unknown = sorted(set(names) - set(known))
                if unknown:
                    raise ValueError(f"{RULES_PATH}: room {room.name}: unknown {kind}s {unknown}")

    def can_hold(self, receptacle: str, obj: str) -> bool:
        return obj in self.fits.get(receptacle, frozenset())

    def has(self, obj: str, prop: str) -> bool:
        return prop in self.props.get(obj, frozenset())

    def pickupable(self, obj: str) -> bool:
        return obj not in self.fixed

    @property
    def object_types(self) -> tuple[str, ...]:
        return tuple(sorted(self.props))

    @property
    def receptacle_types(self) -> tuple[str, ...]:
        return tuple(sorted(self.fits))

    def canonical(self, name: str) -> str | None:
        """The catalogue's spelling of a type written in any case (`sinkbasin` -> `SinkBasin`)."""
        return self._lower.get(name.lower())

    @cached_property
    def _lower(self) -> dict[str, str]:
        return {n.lower(): n for n in (*self.props, *self.fits)}
