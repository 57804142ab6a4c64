"""Shared fixtures for the simulator tests: the repository root on sys.path, so
`local.simulators` imports however pytest was started."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
