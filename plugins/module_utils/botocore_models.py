# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One cache of botocore's parsed service models per interpreter instead of one per session.

botocore keeps what its Loader parsed (endpoints.json, partitions, each service's model) in the
Loader instance, one per botocore Session, and amazon.aws makes a new Session for every task. In an
interpreter that runs many tasks (Mitogen's, see the strategy of this collection) every AWS task
therefore parses the same JSON again: 13 s of a no-op deploy-local (docs/benchmarks.md).

`share()` makes every Loader of the interpreter use one dictionary per (search paths, extras) for
the results of its cached methods. That is botocore's own cache, kept for the interpreter's life
instead of the session's: the data is shared between the clients of one session already, so it is
treated as read-only by botocore. A Loader with other search paths gets a dictionary of its own.
"""

from __future__ import annotations

_MARK = "_giftcrypto_shared_model_cache"
_SHARED: dict = {}


def share() -> bool:
    """Makes botocore's Loader share its parsed models; True when this call installed it."""
    from botocore import loaders

    if getattr(loaders.Loader, _MARK, False):
        return False
    original_init = loaders.Loader.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        key = (tuple(self.search_paths), tuple(self.extras_types), type(self.file_loader).__qualname__)
        self._cache = _SHARED.setdefault(key, {})

    loaders.Loader.__init__ = __init__
    setattr(loaders.Loader, _MARK, True)
    return True


def cached_entries() -> int:
    """How many parsed results the shared caches hold (for the module's result)."""
    return sum(len(cache) for cache in _SHARED.values())
