"""retained_memory: freed blocks are reused instead of being faulted back in (glibc)."""

from __future__ import annotations

import resource

import pytest
import torch

from terralearn import _memory as memory

pytestmark = pytest.mark.skipif(memory._libc() is None, reason="needs glibc")

PAGES = 64 * 2**20 // 4096  # one 64 MB tensor


@pytest.fixture
def enabled(monkeypatch):
    """As the CLI has it (retained memory is opt-in for library calls)."""
    monkeypatch.setattr(memory, "_enabled", None)
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    memory.enable_for_cli()


def _faults_of_allocations(times: int = 4) -> int:
    """Minor page faults of allocating, filling and freeing a 64 MB tensor ``times`` times
    (after one allocation that may fault in any case), as a forward pass does."""
    torch.ones(64 * 2**20, dtype=torch.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        a = torch.ones(64 * 2**20, dtype=torch.uint8)
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_memory_is_reused_inside_only(enabled):
    # glibc's default: every tensor faults anew
    assert min(_faults_of_allocations() for _ in range(2)) >= 3 * PAGES
    with memory.retained_memory() as applied:
        assert applied
        # the heap may need a few rounds to hold the block (small objects move its top)
        assert min(_faults_of_allocations() for _ in range(4)) < PAGES // 4
    assert memory._depth == 0


def test_nested_uses_keep_the_settings_until_the_outermost_exits(enabled):
    with memory.retained_memory():
        with memory.retained_memory() as inner:
            assert inner
        assert min(_faults_of_allocations() for _ in range(4)) < PAGES // 4
    assert memory._depth == 0


def test_library_calls_leave_malloc_alone_unless_enabled(monkeypatch):
    monkeypatch.setattr(memory, "_enabled", None)
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    with memory.retained_memory() as applied:
        assert not applied
        assert min(_faults_of_allocations() for _ in range(2)) >= 3 * PAGES
    monkeypatch.setenv(memory.ENV_VAR, "1")  # a program's own opt-in
    with memory.retained_memory() as applied:
        assert applied
    monkeypatch.setenv(memory.ENV_VAR, "0")  # the user's opt-out, also for the CLI
    memory.enable_for_cli()
    with memory.retained_memory() as applied:
        assert not applied
    assert memory._depth == 0
