"""Real Minecraft through mineflayer: a Node sidecar driven over JSON-lines RPC (minecraft/v1)."""
