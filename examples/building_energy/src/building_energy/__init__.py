"""Building energy sweep: a Scythe experiment."""
