"""The ALFWorld household world: generated scenes and real game folders, played by the real
ALFWorld (TextWorld) engine. Needs the `alfworld` extra; see `sim.alfworld.world`."""
