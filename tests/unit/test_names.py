"""The shapes of a store's names (repro.store.names): what may become part of a path."""

from __future__ import annotations

import pytest

from repro.store.names import is_digest, is_hex64, is_run_id, safe_relative


@pytest.mark.parametrize("text", ["20261128-082149-7bc0ac59", "20260101-000000-00000000"])
def test_run_ids_of_the_shape_repro_makes_pass(text: str) -> None:
    assert is_run_id(text)


@pytest.mark.parametrize(
    "text", ["../store", "20261128-082149-7bc0ac5", "20261128-082149-7bc0ac59/x", "20261128-082149-7BC0AC59", ""]
)
def test_anything_else_is_not_a_run_id(text: str) -> None:
    assert not is_run_id(text)


def test_keys_and_digests_are_lower_case_hex_of_64() -> None:
    assert is_hex64("a" * 64)
    assert not is_hex64("../" + "a" * 61)
    assert not is_hex64("A" * 64)
    assert is_digest("sha256:" + "0" * 64)
    assert not is_digest("sha256:" + "0" * 63 + "/")


@pytest.mark.parametrize("text", ["a", "a/b.txt", "m5out/cpt.1/m5.cpt", "x..y"])
def test_relative_paths_that_stay_put_pass(text: str) -> None:
    assert str(safe_relative(text)) == text


@pytest.mark.parametrize("text", ["", "/etc/shadow", "../x", "a/../../b", "a//b", "./a", "a/.", "a\x00b", "a\nb"])
def test_paths_that_leave_or_hide_are_refused(text: str) -> None:
    assert safe_relative(text) is None
