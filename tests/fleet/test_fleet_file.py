"""fleet.toml: waves worked out from names, labels, counts and shares; bad files refused by line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from expandctl.errors import ConfigError
from expandctl.loader.fleet import load_fleet


def _targets(count: int, labels: dict[int, str] | None = None) -> str:
    labels = labels or {}
    return "".join(
        f'[[targets]]\nname = "t{i:02d}"\nurl = "postgresql://app@db{i}/app"\n'
        + (f'labels = ["{labels[i]}"]\n' if i in labels else "")
        for i in range(count)
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_waves_take_canary_then_labels_then_shares_then_the_rest(tmp_path: Path) -> None:
    text = _targets(20, {3: "eu", 7: "eu", 12: "eu"}) + textwrap.dedent(
        """
        [[waves]]
        name = "canary"
        targets = ["t05"]
        parallelism = 1

        [[waves]]
        name = "eu"
        labels = ["eu"]
        on_failure = "continue"

        [[waves]]
        name = "quarter"
        percent = 25

        [[waves]]
        name = "two"
        count = 2

        [[waves]]
        name = "rest"
        """
    )
    fleet = load_fleet(_write(tmp_path, "parallelism = 3\n" + text))
    waves = {w.name: w for w in fleet.waves}
    assert waves["canary"].targets == ("t05",) and waves["canary"].parallelism == 1
    assert waves["eu"].targets == ("t03", "t07", "t12") and waves["eu"].on_failure == "continue"
    assert waves["quarter"].targets == ("t00", "t01", "t02", "t04", "t06")  # 25% of 20
    assert waves["two"].targets == ("t08", "t09") and waves["two"].parallelism == 3
    assert len(waves["rest"].targets) == 9 and waves["rest"].on_failure == "stop"
    assert sorted(n for w in fleet.waves for n in w.targets) == sorted(fleet.names)


def test_no_waves_is_one_wave_of_everything(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, _targets(3)))
    assert [(w.name, w.targets, w.parallelism) for w in fleet.waves] == [
        ("all", ("t00", "t01", "t02"), 4)
    ]


BAD = [
    (
        _targets(2) + '[[targets]]\nname = "t02"\nurl = "postgresql://app:pw@db/app"\n',
        7,
        "url holds a password; keep it out of the file",
    ),
    (_targets(1) + '[[targets]]\nname = "t00"\nurl_env = "X"\n', 5, "'t00' is used twice"),
    (_targets(1) + '[[targets]]\nname = "x"\n', 4, "give exactly one of url and url_env"),
    (_targets(1) + '[[targets]]\nname = "x"\nurl = "db.internal"\n', 4, "must start with"),
    (
        _targets(1) + '[[targets]]\nname = "x"\nurl = "postgresql://app@db0/app"\n',
        6,
        "same database",
    ),
    (_targets(1) + "paralelism = 3\n", 4, "unknown key 'targets.0.paralelism'"),
    (_targets(2) + '[[waves]]\nname = "c"\ntargets = ["nope"]\n', 9, "unknown target 'nope'"),
    (
        _targets(2) + '[[waves]]\nname = "c"\ntargets = ["t00"]\n[[waves]]\nname = "d"\n'
        'targets = ["t00"]\n',
        12,
        "'t00' is already in wave 'c'",
    ),
    (
        _targets(2) + '[[waves]]\nname = "c"\nlabels = ["eu"]\n',
        9,
        "no target has any of the labels",
    ),
    (_targets(2) + '[[waves]]\nname = "c"\ncount = 1\n', 7, "targets t01 are in no wave"),
    (_targets(2) + '[[waves]]\nname = "c"\npercent = 150\n', 9, "less than or equal to 100"),
    (_targets(2) + '[[waves]]\nname = "c"\ncount = 1\npercent = 5\n', 7, "count or percent"),
    (_targets(2) + '[[waves]]\nname = "c"\non_failure = "retry"\n', 9, "'stop' or 'continue'"),
    ("", None, "missing required key 'targets'"),
    ("targets = [", 1, "invalid TOML"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[m for _, _, m in BAD])
def test_a_bad_fleet_file_is_one_line_with_its_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_fleet(path)
    assert message in caught.value.message
    assert caught.value.line == line and caught.value.path == path
    assert "\n" not in str(caught.value)


def test_a_missing_fleet_file_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fleet file .*nope.toml does not exist \(pass --fleet"):
        load_fleet(tmp_path / "nope.toml")
