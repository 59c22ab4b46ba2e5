"""A name chosen by a create is taken until its record is added: two creates in flight at once
never end with one name (the create awaits between choosing and adding; test_load made 50 at once
and two drew the same generated name)."""

from __future__ import annotations

from pathlib import Path

from wharf.engine.containers import ContainerStore, random_name


def test_a_name_being_created_is_taken_until_the_create_ends(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path / "engine.db"))
    try:
        with store.reserving("busy_name", "a" * 64):
            assert "busy_name" in store.names()
            assert store.reserved == {"busy_name": "a" * 64}
        assert "busy_name" not in store.names() and store.reserved == {}
        try:
            with store.reserving("failed_name", "b" * 64):
                raise RuntimeError("the create failed")
        except RuntimeError:
            pass
        assert store.reserved == {}
    finally:
        store.close()


def test_a_generated_name_avoids_the_taken_ones() -> None:
    taken = {random_name(set()) for _ in range(50)}
    assert all(random_name(taken) not in taken for _ in range(200))
