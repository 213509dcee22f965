"""The `cohort` section of the workflow's config schema against the keys and defaults the rules read."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow"
SCHEMA = yaml.safe_load((WORKFLOW / "schemas" / "config.schema.yaml").read_text())["properties"]["cohort"]
RULES = (WORKFLOW / "rules" / "cohort.smk").read_text()
FUNCTIONS = (WORKFLOW / "rules" / "common.smk").read_text()


def _defaults_in_rules() -> dict[str, object]:
    block = FUNCTIONS[FUNCTIONS.index("COHORT_DEFAULTS = {"):]
    block = block[: block.index("}\n") + 1].split("=", 1)[1]
    return ast.literal_eval(block.strip())


def test_schema_and_rules_agree_on_keys_and_defaults() -> None:
    defaults = _defaults_in_rules()
    properties = SCHEMA["properties"]
    assert set(properties) == {"activate", *defaults}
    for key, value in defaults.items():
        assert properties[key]["default"] == value, key
    # every key the rules read is documented in the rule file's header
    for key in properties:
        assert re.search(rf"^#\s+{key}:", RULES, re.M), key


@pytest.mark.parametrize("section", [
    {"activate": True, "regions": ["chr1:1-100"], "group_size": 2, "jobs": 4, "coverage": True},
    {"activate": True, "datasets_file": "x.tsv", "regions_file": "panel.bed", "allow_failures": True,
     "plot": "heatmap"},
    {"activate": False},
])
def test_valid_sections(section: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(section)


@pytest.mark.parametrize("section", [
    {"activate": True, "group_size": 0},
    {"activate": True, "jobs": 1000},
    {"activate": True, "plot": "pie"},
    {"activate": True, "regoins": ["chr1"]},
    {"regions": ["chr1"]},
])
def test_invalid_sections(section: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(section)
