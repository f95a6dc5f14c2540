"""The Python API raises what the command line prints, as exceptions of one tree."""

from __future__ import annotations

import pytest

import search
from search.cli import main
from search.errors import ConfigError, SearchError, StorageError, UsageError


def test_validate_and_load_space_take_overrides_as_a_dict_or_strings(tiny_space):
    facts = search.validate(tiny_space, {"data.horizon": 2})
    assert facts["family"] == "lstm" and set(facts["searched"]) == {"layer_sizes", "lookback", "lr"}
    assert facts["rows"] == 400 and facts["season"] == 25
    assert search.load_space(tiny_space, {"model.layer_sizes": "64,32"}).model["layer_sizes"] == "64,32"
    assert search.load_space(tiny_space, ["model.layer_sizes='64,32'"]).model["layer_sizes"] == "64,32"


def test_a_bad_space_raises_the_lines_the_command_prints(tiny_space, capsys):
    with pytest.raises(ConfigError) as info:
        search.validate(tiny_space, {"data.lookback": 0, "train.lr": "fast"})
    assert isinstance(info.value, SearchError) and len(info.value.problems) == 2
    assert main(["validate", str(tiny_space), "--set", "data.lookback=0", "--set", "train.lr=fast"]) == 2
    printed = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines()]
    assert printed == info.value.problems


def test_run_checks_its_arguments_before_the_storage(tiny_space, tmp_path):
    db = tmp_path / "s.db"
    with pytest.raises(UsageError, match="--trials 0: must be at least 1"):
        search.run(tiny_space, trials=0, storage=f"sqlite:///{db}")
    with pytest.raises(UsageError, match="max_failures 0: must be at least 1"):
        search.run(tiny_space, trials=1, storage=f"sqlite:///{db}", max_failures=0)
    with pytest.raises(ConfigError):
        search.run(tiny_space, trials=1, storage=f"sqlite:///{db}", overrides={"data.horizon": -1})
    assert not db.exists()  # nothing created by a rejected run
    with pytest.raises(StorageError, match="--storage .*not a database URL"):
        search.run(tiny_space, trials=1, storage="nonsense://x")


@pytest.mark.parametrize("kwargs, message", [
    ({"trials": 1.5}, "--trials 1.5: must be a whole number (an int) of at least 1, not float"),
    ({"trials": True}, "--trials True: must be a whole number"),
    ({"trials": "2"}, "--trials '2': must be a whole number"),
    ({"trials": 1, "workers": 0}, "workers 0: must be at least 1"),
    ({"trials": 1, "max_failures": 2.0}, "max_failures 2.0: must be a whole number"),
    ({"trials": 1, "overrides": {"train.epochs": object()}}, "overrides['train.epochs']: object value"),
    ({"trials": 1, "overrides": "train.epochs=2"}, "overrides: give a mapping"),
    ({"trials": 1, "study": ""}, "--study '': the study name is empty"),
    ({"trials": 1, "study": "../../x"}, "--study '../../x': a study name is letters, digits"),
])
def test_run_refuses_arguments_of_the_wrong_type_before_the_storage(tiny_space, tmp_path, kwargs, message):
    db = tmp_path / "s.db"
    with pytest.raises(UsageError) as info:
        search.run(tiny_space, storage=f"sqlite:///{db}", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not db.exists()
