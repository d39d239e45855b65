"""The rules of Minecraft 1.16.5 shared by every Minecraft-like world (CraftWorld, the real
Minecraft bridge): items, recipes, smelting, tools and tiers, drops, condition facts, and the
checks the verbs make, read from minecraft-data plus the YAML tables beside this module.
Worlds, planners and adapters depend on it; it depends on no world."""
