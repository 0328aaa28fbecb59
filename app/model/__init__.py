"""Plain data and its validation. Imports nothing else of ours (the ground floor)."""
