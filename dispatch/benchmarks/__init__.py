"""``siap112 bench``: figures measured side by side with the machine's own limits."""
