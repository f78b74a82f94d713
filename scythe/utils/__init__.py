"""scythe-engine compatibility helpers."""
