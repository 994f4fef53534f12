"""One version number, read from one place (``repro.__version__``)."""

from __future__ import annotations

import pytest
import yaml

import repro
from repro.cli.main import main
from tests.conftest import CHECKOUT


def test_citation_names_the_version_repro_reports() -> None:
    citation = yaml.safe_load((CHECKOUT / "CITATION.cff").read_text())
    assert str(citation["version"]) == repro.__version__


def test_repro_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["--version"])
    assert ended.value.code == 0
    assert capsys.readouterr().out.strip() == f"repro {repro.__version__}"
