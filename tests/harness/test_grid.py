import pytest

from ksmith.grid import GridCase, GridError, PRESETS, resolve, shard_cases

METHODS = {"rome": ("edit", "unlearn"), "ft-m": ("edit",), "npo": ("unlearn",)}


def test_ids_are_readable_and_unique() -> None:
    cases = resolve("default").cases(METHODS)
    ids = [case.id for case in cases]
    assert "tiny-kg-rome-edit-leaf-k10-s0" in ids
    assert len(ids) == len(set(ids))


def test_a_method_is_paired_only_with_the_tasks_it_supports() -> None:
    cases = resolve("default").cases(METHODS)
    assert {c.task for c in cases if c.method == "ft-m"} == {"edit"}
    assert {c.task for c in cases if c.method == "npo"} == {"unlearn"}
    assert {c.task for c in cases if c.method == "rome"} == {"edit", "unlearn"}
    # 3 levels x 3 scales x (rome twice, ft-m once, npo once)
    assert len(cases) == 9 * 4


def test_options_override_the_preset() -> None:
    spec = resolve("smoke", methods="rome", scales="1,10", levels="root,leaf", seeds="0,1")
    assert spec.world_size == "small"
    cases = spec.cases(METHODS)
    assert {c.scale for c in cases} == {1, 10}
    assert {c.level for c in cases} == {"root", "leaf"}
    assert {c.seed for c in cases} == {0, 1}
    assert {c.method for c in cases} == {"rome"}


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("levels", "leaves", "root, intermediate, leaf"),
        ("scales", "1,ten", "integers"),
        ("scales", "0", ">= 1"),
        ("tasks", "forget", "edit, unlearn"),
        ("domains", "chemistry", "biology"),
        ("shard", "3/2", "1 <= i <= n"),
        ("shard", "1-2", "i/n"),
        ("mode", "parallel", "batch"),
        ("world_size", "huge", "small"),
    ],
)
def test_bad_values_are_named(field: str, value: str, fragment: str) -> None:
    with pytest.raises(GridError, match=fragment):
        resolve("default", **{field: value})


def test_unknown_preset_and_method() -> None:
    with pytest.raises(GridError, match="smoke, default, full"):
        resolve("tiny")
    with pytest.raises(GridError, match="rmoe"):
        resolve("default", methods="rmoe").cases(METHODS)


def test_shards_partition_the_grid_stably() -> None:
    cases = PRESETS["default"].cases(METHODS)
    shards = [shard_cases(cases, (i, 3)) for i in (1, 2, 3)]
    assert sorted(c for shard in shards for c in shard) == sorted(cases)
    assert sum(len(s) for s in shards) == len(cases)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # the same cells whatever order the cases arrive in (each machine collects on its own)
    assert shard_cases(list(reversed(cases)), (2, 3)) == shards[1]
    # every shard gets cheap and costly cells
    assert all({c.scale for c in shard} == {1, 10, 100} for shard in shards)


def test_grid_case_sorts_by_level_rank() -> None:
    spec = resolve("default", methods="ft-m", scales="1")
    assert [c.level for c in spec.cases(METHODS)] == ["root", "intermediate", "leaf"]
    assert GridCase("tiny-kg", "edit", "leaf", 1, "rome", 0).key()["scale"] == 1


def test_the_real_preset_runs_real_models_on_the_real_world(tmp_path) -> None:
    spec = resolve("real")
    assert spec.world == "real" and spec.uses_known_sets
    assert "smollm2-135m" in spec.models and spec.levels == ("intermediate", "leaf") and spec.scales == (1, 10)
    assert not resolve("default").uses_known_sets
    path = tmp_path / "w.json"
    path.write_text("{}")
    assert resolve("smoke", world=str(path)).world == str(path.resolve())
    with pytest.raises(GridError, match="--ksmith-world"):
        resolve("smoke", world="nowhere.json")
