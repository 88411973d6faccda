"""noxfile.py imported once per test process: each import registers its sessions with nox again,
which nox warns about (a FutureWarning today, an error in a later nox)."""

from __future__ import annotations

import functools
import importlib.util
import pathlib
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]


@functools.cache
def load() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("giftcrypto_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
