"""One file per hub record kind: its declaration (hub/entity.py) and its rules."""
