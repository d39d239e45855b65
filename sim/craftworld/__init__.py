"""CraftWorld: the embedded Minecraft-faithful world (Java 1.16.5 rules, terrain, simulation)."""
