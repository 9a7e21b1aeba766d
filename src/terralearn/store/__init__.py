"""The chip store: chips cut from images and labels, with an index, splits and statistics."""

from terralearn.store.chips import iter_chips
from terralearn.store.prepare import PrepareConfig, prepare
from terralearn.store.reader import ChipStore, is_store, open_store

__all__ = ["ChipStore", "PrepareConfig", "is_store", "iter_chips", "open_store", "prepare"]
