"""Fencing of stale poller leaders: raw batches of an older leader generation than one already seen for the
same object key are refused (counted, not dead-lettered: the current leader publishes that object itself).

Why per object key and not per stream: raw messages are keyed by object key, so every chunk of one object
is in one partition, in the order the leaders produced them. A chunk of generation g after one of a newer
generation for the same key was produced after the new leader began that object: a stalled old leader
publishing late. Messages of other keys carry no such order (a lagging partition may still hold an old
leader's legitimate work, published and checkpointed before the hand-over), so an older generation there is
no sign of staleness and refusing it would lose data. A new leader's generation is always higher than its
predecessors' (the poller bumps a counter in the checkpoint topic when it takes leadership), so its
republish is never refused. Messages without a generation (producers before issue 12) always pass.

Memory is bounded: the oldest keys are forgotten first; forgetting only lets a stale duplicate through,
which the writer's source-version rule still keeps from overwriting newer data.
"""

from __future__ import annotations

from collections import OrderedDict

from meterflow_contracts import SourcePosition

MAX_KEYS = 100_000


class GenerationFence:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._newest: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max_keys = max_keys

    def admits(self, source: SourcePosition) -> bool:
        """Whether a raw batch from ``source`` may be normalized; remembers its generation when it may."""
        generation = source.generation
        if generation is None:
            return True
        key = (source.bucket, source.key)
        newest = self._newest.get(key)
        if newest is not None and generation < newest:
            return False
        self._newest[key] = generation
        self._newest.move_to_end(key)
        if len(self._newest) > self._max_keys:
            self._newest.popitem(last=False)
        return True
