"""tests/bounds.py itself: linear work passes; quadratic work fails, even as the best of three."""

from __future__ import annotations

import pytest

from tests.bounds import assert_linear


def test_linear_work_passes_and_quadratic_work_fails() -> None:
    text = "a" * 10_000  # 50 million steps: a second here, far past the 0.25 s it is allowed
    assert_linear(lambda: text.count("a"), len(text))

    def quadratic() -> None:
        pairs = 0
        for i in range(len(text)):
            for _ in range(i):
                pairs += 1

    with pytest.raises(AssertionError, match="allowed"):
        assert_linear(quadratic, len(text))
