"""A run of a stream's framed events with consecutive sequence numbers: the
unit its queue holds, drops and resends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(slots=True)
class Chunk:
    # The events' SubscribeResponse.events entries; entry i is
    # data[offsets[i] : offsets[i + 1]], with offsets[0] == 0.
    data: bytes
    offsets: npt.NDArray[np.int64]
    first_seq: int

    @classmethod
    def cut(
        cls, blob: bytes, offsets: npt.NDArray[np.int64], a: int, b: int, first_seq: int
    ) -> Chunk:
        """Entries a to b (excluded) of a framed blob, which start at first_seq."""
        return cls(blob[offsets[a] : offsets[b]], offsets[a : b + 1] - offsets[a], first_seq + a)

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def size(self) -> int:
        return len(self.data)

    def after(self, seq: int) -> Chunk | None:
        """The events numbered after `seq`, or None if there are none."""
        if seq < self.first_seq:
            return self
        if seq >= self.last_seq:
            return None
        return Chunk.cut(
            self.data, self.offsets, seq - self.first_seq + 1, self.count, self.first_seq
        )
