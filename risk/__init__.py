"""Rules that raise alerts on customers (later issues)."""
