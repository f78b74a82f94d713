"""Building energy: a Scythe experiment."""
