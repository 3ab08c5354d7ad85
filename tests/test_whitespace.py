"""Whitespace: peers by industry and size or by purchase mix, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesfolio.analytics.config import AnalysisConfig, WhitespaceConfig
from salesfolio.analytics.whitespace import _median_without_self, whitespace

CFG = WhitespaceConfig(neighbours=3, min_peer_share=0.5)


@pytest.fixture
def features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "industry": ["x", "x", "x", "x", None, None, "y", None],
            "size_class": ["s", "s", "s", "s", "s", "s", "s", "s"],
            "headroom": [100.0, np.nan, 5.0, 0.0, 1.0, 1.0, 1.0, np.nan],
        }
    )


@pytest.fixture
def category_revenue() -> pd.DataFrame:
    rows = [
        ("a", "c1", 10.0), ("a", "c2", 5.0),
        ("b", "c1", 20.0), ("b", "c3", 8.0),
        ("c", "c1", 30.0), ("c", "c3", 2.0),
        ("d", "c2", 4.0), ("d", "c2", 3.0), ("d", "c3", 3.0),  # two rows for (d, c2) add up to 7
        ("e", "c1", 4.0), ("e", "c2", 4.0),
        ("f", "c1", 6.0), ("f", "c3", 1.0), ("f", "c2", 5.0), ("f", "c2", -5.0),  # c2 returned: not bought
        ("g", "c9", 9.0), ("g", "c1", 1.0),
        ("zz", "c1", 3.0),  # not a client of the feature frame
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["client_id", "category", "revenue"])


def test_whitespace_by_hand(features: pd.DataFrame, category_revenue: pd.DataFrame) -> None:
    res = whitespace(category_revenue, features, CFG)
    long = res.long
    # a-d: industry x / size s, 3 peers each (= k). Buyers in the group: c1 a b c, c2 a d, c3 b c d.
    #   a lacks c3: 3/3 peers; median c3 of b, c, d = 3; size 15 / median(28, 32, 10) = 15/28.
    #   b lacks c2: 2/3; median c2 of a, d = 6; size 28 / median(15, 32, 10) = 28/15.  c alike: 32/15.
    #   d lacks c1: 3/3; median c1 of a, b, c = 20; size 10 / median(15, 28, 32) = 10/28.
    # e, f (no industry) and g (alone in industry y): the 3 most similar purchase mixes (cosine):
    #   e (4, 4, 0, 0) -> a 0.949, c 0.706, f 0.697: c3 bought by c, f = 2/3; median(2, 1) = 1.5; 8 / 15.
    #   f (6, 0, 1, 0) -> c 0.995, b 0.976, a 0.882: c2 bought by a only (1/3): no whitespace.
    #   g (1, 0, 0, 9) -> c 0.1102, f 0.1089, b 0.1025: c3 3/3; median(2, 1, 8) = 2; 10 / median(32, 7, 28).
    assert long["client_id"].tolist() == ["a", "b", "c", "d", "e", "g"]
    assert long["category"].tolist() == ["c3", "c2", "c2", "c1", "c3", "c3"]
    assert long["peer_share"].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 1.0, 2 / 3, 1.0])
    assert long["peer_median_revenue"].tolist() == [3.0, 6.0, 6.0, 20.0, 1.5, 2.0]
    assert long["size_factor"].tolist() == pytest.approx([15 / 28, 28 / 15, 32 / 15, 10 / 28, 8 / 15, 10 / 28])
    assert long["expected_value"].tolist() == pytest.approx(
        [3 * 15 / 28, 6 * 28 / 15, 6 * 32 / 15, 20 * 10 / 28, 1.5 * 8 / 15, 2 * 10 / 28]
    )
    assert long["basis"].tolist() == ["industry+size"] * 4 + ["nearest neighbours"] * 2

    clients = res.clients.set_index("client_id")
    assert clients["basis"].tolist() == ["industry+size"] * 4 + ["nearest neighbours"] * 3 + ["none"]
    assert clients["n_peers"].tolist() == [3, 3, 3, 3, 3, 3, 3, 0]
    assert clients["whitespace_categories"].tolist() == [1, 1, 1, 1, 1, 0, 1, 0]
    assert clients.loc["f", "whitespace_value"] == 0.0
    assert clients["top_categories"].tolist() == ["c3", "c2", "c2", "c1", "c3", "", "c3", ""]
    # Capped by headroom where the assessments give one.
    assert clients["whitespace_within_headroom"].fillna(-1).tolist() == pytest.approx(
        [3 * 15 / 28, -1, 5.0, 0.0, 0.8, 0.0, 2 * 10 / 28, -1]
    )
    assert res.whitespace_value.to_dict()["c"] == pytest.approx(12.8)
    assert res.warnings == [
        "category_revenue has rows for 1 clients not in the feature frame; ignored",
        "1 clients have no peers (no purchases and fewer than 3 other clients of the same industry and size "
        "class): no whitespace for them",
    ]


def test_non_buyers_count_as_peers_and_keep_the_median_unscaled() -> None:
    features = pd.DataFrame({"client_id": ["p1", "p2", "p3", "q"], "industry": ["x"] * 4, "size_class": ["m"] * 4})
    revenue = pd.DataFrame(
        [("p1", "A", 10.0), ("p2", "A", 20.0), ("p3", "A", 30.0), ("p3", "B", 5.0)],
        columns=["client_id", "category", "revenue"],
    )
    res = whitespace(revenue, features, AnalysisConfig.model_validate({"whitespace": CFG.model_dump()}))
    # q (a prospect) has no revenue to scale by: the peers' median of A (20) as it is. For p1, p2, B is bought by
    # 1 of 3 peers (p3; q counts as a peer who does not buy): below 0.5.
    assert res.long[["client_id", "category", "expected_value"]].to_dict("list") == {
        "client_id": ["q"],
        "category": ["A"],
        "expected_value": [20.0],
    }
    assert res.clients["top_categories"].tolist() == ["", "", "", "A"]


def test_a_reference_panel_bounds_large_neighbour_searches(
    features: pd.DataFrame, category_revenue: pd.DataFrame
) -> None:
    res = whitespace(category_revenue, features, CFG, max_exact_pairs=12)
    # Queries e, f, g x 7 clients with purchases = 21 pairs > 12: a panel of max(k + 1, 12 // 3) = 4 clients.
    assert res.warnings[1] == (
        "nearest neighbours of 3 clients were searched among a reference panel of 4 of 7 clients "
        "(an exact search would compare 21 pairs)"
    )
    clients = res.clients.set_index("client_id")
    assert clients.loc[["e", "f", "g"], "n_peers"].tolist() == [3, 3, 3]
    # The industry+size clients do not depend on the neighbour search.
    exact = whitespace(category_revenue, features, CFG)
    group_rows = res.long[res.long["basis"] == "industry+size"].reset_index(drop=True)
    assert group_rows.equals(exact.long[exact.long["basis"] == "industry+size"].reset_index(drop=True))


def test_median_without_self() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 5.0, 7.0, 9.0])
    groups = np.array([0, 0, 0, 0, 0, 1, 2, 2])
    # Group 0 without 1: (2, 3, 4, 10) -> 3.5; without 3: (1, 2, 4, 10) -> 3; alone in group 1: NaN.
    out = _median_without_self(values, groups)
    assert out[:5].tolist() == [3.5, 3.5, 3.0, 2.5, 2.5]
    assert np.isnan(out[5])
    assert out[6:].tolist() == [9.0, 7.0]


def test_input_errors_and_empty_input(features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"^category_revenue has no 'revenue' column$"):
        whitespace(pd.DataFrame({"client_id": ["a"], "category": ["c1"]}), features, CFG)
    empty = pd.DataFrame({"client_id": pd.Series([], dtype="str"), "category": [], "revenue": []})
    res = whitespace(empty, features, CFG)
    assert len(res.long) == 0
    assert res.clients["whitespace_value"].tolist() == [0.0] * 8
    # Industry+size peers exist without purchases; neighbours by purchase mix do not.
    assert res.clients["basis"].tolist() == ["industry+size"] * 4 + ["none"] * 4
