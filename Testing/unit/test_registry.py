"""The registry: pure data, the single source of the front ends' choices and defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scorekit import registry
from scorekit.cli import build_parser
from scorekit.errors import ScoreKitError


@pytest.mark.parametrize(("table", "kind"), [(registry.METHODS, "method"),
                                             (registry.PRIORS, "prior"),
                                             (registry.ENGINES, "engine")])
def test_every_registered_entry_names_importable_code(table, kind):
    for name in table:
        assert callable(registry.load(table, name, kind)), name


def test_an_unknown_name_is_refused_listing_the_known_ones():
    with pytest.raises(ScoreKitError, match="unknown prior 'nope'; one of edge, local"):
        registry.load(registry.PRIORS, "nope", "prior")


def test_reading_the_registry_imports_no_third_party_package():
    code = ("import sys, scorekit.registry; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'numpy', 'monai', 'scipy', 'SimpleITK'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def _choices(verb: str, option: str, action: str | None = None) -> list:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    if action:
        sub = next(a for a in sub._actions if a.dest == "action").choices[action]
    found = next(a for a in sub._actions if option in a.option_strings)
    return found.choices, found.default


def test_the_command_line_offers_what_the_registry_holds():
    assert _choices("train", "--method") == (list(registry.METHODS), registry.DEFAULT_METHOD)
    assert _choices("train", "--prior") == (list(registry.PRIORS), registry.DEFAULT_PRIOR)
    assert _choices("train", "--ablation")[0] == registry.ABLATIONS
    assert _choices("train", "--steps")[1] == registry.TRAINING_STEPS
    assert _choices("train", "--lr")[1] == registry.LEARNING_RATE
    assert _choices("segment", "--engine")[0] == list(registry.ENGINES)
    assert _choices("segment", "--structures")[1] == ",".join(registry.DEFAULT_STRUCTURES)
    assert _choices("benchmark", "--suite")[0] == registry.SUITES
    assert _choices("weakstat", "--steps", "train")[1] == registry.WEAKSTAT_STEPS


@pytest.mark.parametrize(("name", "expected"), [("CT 1 (arterial)", "CT_1__arterial_"),
                                                ("__x", "x"), ("", "case"), ("ü", "case")])
def test_case_ids_made_from_names_are_valid(name, expected):
    made = registry.case_id_from_name(name)
    assert made == expected and registry.CASE_ID.match(made)
