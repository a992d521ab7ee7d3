"""Incidents: war rooms, summaries, status posts, postmortems."""
