"""Whitespace: product categories that similar clients buy and this client does not, with their expected value.

Method (peer-based cross-sell, "whitespace analysis" of account management):

1. **Peers.** A client's peers are the other clients of the same industry and size class when there are at least
   ``neighbours`` (k, default 10) of them (``basis = "industry+size"``). Otherwise they are the k clients with
   the most similar purchase mix (``basis = "nearest neighbours"``): cosine similarity of category revenue shares
   (scikit-learn ``NearestNeighbors``, exact brute force). When that search would compare more than
   ``max_exact_pairs`` (200 million) client pairs, e.g. 100,000 clients without industry data, the neighbours
   are searched among a reproducible reference panel of clients (chosen by a hash of client_id) so the analysis
   stays within seconds; ``warnings`` says so. A client with no purchases and no industry+size group has no peers
   (``basis = "none"``).
2. **Whitespace.** A category is whitespace for a client when the client does not buy it (net revenue <= 0) and
   at least ``min_peer_share`` (default 0.3) of its peers do (``peer_share``).
3. **Expected value** = the median revenue in that category among the peers who buy it x the client's size
   relative to its peers (its total revenue / the median total revenue of its peers): a client twice the size
   of its typical peer is expected to buy twice the typical amount. Without a size to compare (the client or
   its peers have no revenue) the factor is 1.
4. **Headroom.** Per client, ``whitespace_value`` is the sum over its whitespace categories;
   ``whitespace_within_headroom`` caps it at the headroom from the assessments (potential - revenue), so the
   cross-sell estimate never exceeds what the client could still buy.

Everything is vectorised: industry+size peers through group counts, nearest neighbours through sparse matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from salesfolio.analytics.config import AnalysisConfig, WhitespaceConfig
from salesfolio.analytics.scoring import CLIENT_ID, check_features, column_values, labels
from salesfolio.contract import CLIENTS, PRODUCTS

CATEGORY = PRODUCTS.column("category").name
INDUSTRY = CLIENTS.column("industry").name
SIZE_CLASS = CLIENTS.column("size_class").name

BASIS_GROUP = "industry+size"
BASIS_NEIGHBOURS = "nearest neighbours"
BASIS_NONE = "none"
TOP_CATEGORIES = 3
DENSE_CATEGORIES = 256
DENSE_CELLS = 20_000_000
MAX_EXACT_PAIRS = 200_000_000


@dataclass(frozen=True)
class WhitespaceResult:
    """What :func:`whitespace` returns.

    Attributes
    ----------
    long
        One row per (client, whitespace category): ``client_id, category, peer_share, peer_median_revenue,
        size_factor, expected_value, basis``; clients in feature-frame order, categories by expected value.
    clients
        One row per client of the feature frame: ``client_id, basis, n_peers, whitespace_categories,
        whitespace_value, top_categories`` (up to three, by expected value), ``headroom`` and
        ``whitespace_within_headroom``.
    warnings
        Sentences about clients without peers or category rows that matched no client.
    """

    long: pd.DataFrame
    clients: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def whitespace_value(self) -> pd.Series:
        """Whitespace value per client indexed by client_id (the scorer's ``extra["whitespace_value"]``)."""
        return pd.Series(
            self.clients["whitespace_value"].to_numpy(),
            index=pd.Index(self.clients[CLIENT_ID]),
            name="whitespace_value",
        )


def _revenue_matrix(
    category_revenue: pd.DataFrame, features: pd.DataFrame
) -> tuple[sparse.csr_matrix, pd.api.extensions.ExtensionArray, int]:
    """Clients x categories matrix of positive net revenue, the category names, and unmatched client count."""
    ids = pa.array(pd.array(features[CLIENT_ID], dtype="str")).cast(pa.string())
    row_ids = pa.array(pd.array(category_revenue[CLIENT_ID], dtype="str")).cast(pa.string())
    position = pc.fill_null(pc.index_in(row_ids, value_set=ids), -1).to_numpy()
    unmatched = int(pc.count_distinct(row_ids.filter(pa.array(position < 0))).as_py())
    keep = (position >= 0) & category_revenue[CATEGORY].notna().to_numpy()
    codes, categories = pd.factorize(pd.array(category_revenue[CATEGORY], dtype="str")[keep], sort=True)
    amounts = pd.to_numeric(category_revenue["revenue"], errors="coerce").to_numpy(dtype="float64", na_value=0.0)
    summed = sparse.csr_matrix(
        (np.nan_to_num(amounts[keep]), (position[keep], codes)), shape=(len(features), len(categories))
    )
    summed.sum_duplicates()
    revenue = sparse.csr_matrix(summed.multiply(summed > 0))
    revenue.eliminate_zeros()
    return revenue, pd.array(categories, dtype="str"), unmatched


def _peer_groups(features: pd.DataFrame) -> np.ndarray:
    """Group number of each client's industry x size class; -1 where either is missing."""
    codes = []
    for column in (INDUSTRY, SIZE_CLASS):
        if column not in features.columns:
            return np.full(len(features), -1, dtype="int64")
        codes.append(pd.factorize(features[column])[0])
    industry, size = codes
    known = (industry >= 0) & (size >= 0)
    combined = industry.astype("int64") * (int(size.max()) + 1 if len(size) else 1) + size
    group = np.full(len(features), -1, dtype="int64")
    group[known] = np.unique(combined[known], return_inverse=True)[1]
    return group


def _median_without_self(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """For each element, the median of the other elements of its group (NaN when it is alone).

    Vectorised: sort by (group, value); removing the element at sorted position p from a group of m leaves
    m - 1 values whose median sits at positions (m - 2) // 2 and (m - 1) // 2, shifted by one past p.
    """
    n = len(values)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    order = np.lexsort((values, groups))
    g_sorted = groups[order]
    v_sorted = values[order]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_start = np.repeat(starts, sizes)
    group_size = np.repeat(sizes, sizes)
    p = np.arange(n) - group_start
    remaining = group_size - 1
    ok = remaining > 0
    lo = (remaining - 1) // 2
    hi = remaining // 2
    lo_pos = group_start + lo + (lo >= p)
    hi_pos = group_start + hi + (hi >= p)
    lo_pos = np.where(ok, lo_pos, 0)
    hi_pos = np.where(ok, hi_pos, 0)
    med = np.where(ok, (v_sorted[lo_pos] + v_sorted[hi_pos]) / 2.0, np.nan)
    out[order] = med
    return out


def _size_factor(own: np.ndarray, peer_median: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((own > 0) & (peer_median > 0), own / peer_median, 1.0)


def _group_candidates(
    revenue: sparse.csr_matrix, totals: np.ndarray, group: np.ndarray, eligible: np.ndarray, share: float
) -> pd.DataFrame:
    # Buyers per (group, category), counted once per client; peers of a non-buyer are the other N - 1 members.
    n_groups = int(group.max()) + 1 if len(group) else 0
    coo = revenue.tocoo()
    in_group = group[coo.row] >= 0
    rows, cats, vals = coo.row[in_group], coo.col[in_group], coo.data[in_group]
    buyers = pd.DataFrame({"g": group[rows], "c": cats, "revenue": vals})
    stats = buyers.groupby(["g", "c"], sort=False)["revenue"].agg(["size", "median"]).reset_index()
    group_size = np.bincount(group[group >= 0], minlength=n_groups)
    stats["peers"] = group_size[stats["g"].to_numpy()] - 1
    stats["peer_share"] = stats["size"] / stats["peers"].where(stats["peers"] > 0)
    popular = stats[stats["peer_share"] >= share - 1e-12]
    members = pd.DataFrame({"i": np.flatnonzero(eligible)})
    members["g"] = group[members["i"].to_numpy()]
    pairs = members.merge(popular[["g", "c", "peer_share", "median"]], on="g", how="inner")
    if pairs.empty:
        return pd.DataFrame(columns=["i", "c", "peer_share", "peer_median_revenue", "size_factor"])
    bought = revenue[pairs["i"].to_numpy(), pairs["c"].to_numpy()]
    pairs = pairs[np.asarray(bought).ravel() <= 0]
    peer_total = _median_without_self(totals[eligible], group[eligible])
    factor = pd.Series(_size_factor(totals[eligible], peer_total), index=np.flatnonzero(eligible))
    pairs = pairs.assign(size_factor=factor.reindex(pairs["i"].to_numpy()).to_numpy())
    return pairs.rename(columns={"median": "peer_median_revenue"})[
        ["i", "c", "peer_share", "peer_median_revenue", "size_factor"]
    ]


def _unit_rows(revenue: sparse.csr_matrix) -> sparse.csr_matrix | np.ndarray:
    # Cosine similarity of purchase mixes = dot product of rows scaled to unit length (shares or revenues give
    # the same cosine), so a Euclidean search on unit rows finds the same neighbours. Dense float32 while the
    # category count is small (fast BLAS), sparse otherwise.
    unit = normalize(revenue, norm="l2", axis=1)
    if revenue.shape[1] <= DENSE_CATEGORIES:
        dense: np.ndarray = unit.toarray().astype("float32")
        return dense
    return unit.tocsr()


def _nearest_peers(
    revenue: sparse.csr_matrix,
    query: np.ndarray,
    index: np.ndarray,
    k: int,
    client_ids: pd.Series,
    max_pairs: int,
) -> tuple[np.ndarray, int]:
    """The k nearest clients to each query row by purchase mix, excluding the client itself.

    Exact brute-force search (scikit-learn ``NearestNeighbors``) while queries x candidates stays within
    ``max_pairs``; beyond that the candidates are a reference panel of ``max_pairs // queries`` clients chosen
    by a hash of client_id (reproducible, independent of row order). Returns the peers (one row per query) and
    the number of candidate clients searched.
    """
    if len(query) == 0:
        return np.empty((0, 0), dtype="int64"), len(index)
    if len(query) * len(index) > max_pairs:
        size = max(k + 1, max_pairs // len(query))
        panel_key = pd.util.hash_array(client_ids.to_numpy(dtype=object)[index])
        index = np.sort(index[np.argsort(panel_key, kind="stable")[:size]])
    k_eff = min(k, len(index) - 1)
    if k_eff < 1:
        return np.empty((len(query), 0), dtype="int64"), len(index)
    mix = _unit_rows(revenue)
    model = NearestNeighbors(n_neighbors=k_eff + 1, algorithm="brute").fit(mix[index])
    found = index[model.kneighbors(mix[query], return_distance=False)]
    is_self = found == query[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    result: np.ndarray = found[keep].reshape(len(query), k_eff)
    return result, len(index)


def _neighbour_candidates(
    revenue: sparse.csr_matrix, totals: np.ndarray, peers: np.ndarray, query: np.ndarray, share: float
) -> pd.DataFrame:
    q, k = peers.shape
    if q == 0 or k == 0:
        return pd.DataFrame(columns=["i", "c", "peer_share", "peer_median_revenue", "size_factor"])
    bought = (revenue > 0).astype("float64").tocsr()
    pick = sparse.csr_matrix((np.ones(q * k), (np.repeat(np.arange(q), k), peers.ravel())), shape=(q, revenue.shape[0]))
    counts = (pick @ bought).tocoo()
    peer_share = counts.data / k
    popular = peer_share >= share - 1e-12
    qi, cats, peer_share = counts.row[popular], counts.col[popular], peer_share[popular]
    client = query[qi]
    # Cell look-ups: a dense copy is much faster than sparse indexing while it stays small.
    small = revenue.shape[0] * revenue.shape[1] <= DENSE_CELLS
    table = revenue.toarray() if small else revenue

    def cells(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(table[rows, cols]).ravel()

    new = cells(client, cats) <= 0
    qi, cats, peer_share, client = qi[new], cats[new], peer_share[new], client[new]
    peer_rev = cells(peers[qi].ravel(), np.repeat(cats, k)).reshape(len(qi), k)
    peer_rev = np.where(peer_rev > 0, peer_rev, np.nan)
    median = np.nanmedian(peer_rev, axis=1) if len(qi) else np.empty(0)
    factor = _size_factor(totals[query], np.median(totals[peers], axis=1))
    return pd.DataFrame(
        {"i": client, "c": cats, "peer_share": peer_share, "peer_median_revenue": median, "size_factor": factor[qi]}
    )


def whitespace(
    category_revenue: pd.DataFrame,
    features: pd.DataFrame,
    config: AnalysisConfig | WhitespaceConfig,
    *,
    max_exact_pairs: int = MAX_EXACT_PAIRS,
) -> WhitespaceResult:
    """Whitespace per client: categories its peers buy and it does not (see the module docstring for the method).

    Parameters
    ----------
    category_revenue
        ``client_id, category, revenue``: net revenue per client and product category over the analysis window
        (typically the last 12 months); several rows per pair are added up.
    features
        The per-client feature frame: ``client_id`` and, where known, ``industry``, ``size_class`` and
        ``headroom``. Only its clients are analysed.
    config
        The analysis configuration (its ``whitespace`` section: ``neighbours`` = 10, ``min_peer_share`` = 0.3) or
        a :class:`WhitespaceConfig`.
    max_exact_pairs
        Largest exact nearest-neighbour search, in query x candidate pairs (default 200 million, about a second
        on one core); larger searches use a reference panel and say so in ``warnings``.
    """
    check_features(features)
    cfg = config.whitespace if isinstance(config, AnalysisConfig) else config
    for col in (CLIENT_ID, CATEGORY, "revenue"):
        if col not in category_revenue.columns:
            raise ValueError(f"category_revenue has no {col!r} column")
    warnings: list[str] = []
    n = len(features)
    revenue, categories, unmatched = _revenue_matrix(category_revenue, features)
    if unmatched:
        warnings.append(f"category_revenue has rows for {unmatched} clients not in the feature frame; ignored")
    totals = np.asarray(revenue.sum(axis=1)).ravel()
    group = _peer_groups(features)
    group_size = np.bincount(group[group >= 0], minlength=int(group.max()) + 1 if n else 0)
    by_group = group >= 0
    by_group[by_group] = group_size[group[by_group]] - 1 >= cfg.neighbours

    buys_any = totals > 0
    query = np.flatnonzero(~by_group & buys_any)
    index = np.flatnonzero(buys_any)
    peers, searched = _nearest_peers(revenue, query, index, cfg.neighbours, features[CLIENT_ID], max_exact_pairs)
    if searched < len(index):
        warnings.append(
            f"nearest neighbours of {len(query)} clients were searched among a reference panel of {searched} of "
            f"{len(index)} clients (an exact search would compare {len(query) * len(index):,} pairs)"
        )
    parts = {
        BASIS_GROUP: _group_candidates(revenue, totals, group, by_group, cfg.min_peer_share),
        BASIS_NEIGHBOURS: _neighbour_candidates(revenue, totals, peers, query, cfg.min_peer_share),
    }
    basis_code = np.repeat([0, 1], [len(p) for p in parts.values()])
    pairs = pd.concat(list(parts.values()), ignore_index=True)
    i = pairs["i"].to_numpy(dtype="int64")
    c = pairs["c"].to_numpy(dtype="int64")
    expected = pairs["peer_median_revenue"].to_numpy(dtype="float64") * pairs["size_factor"].to_numpy(dtype="float64")
    order = np.lexsort((c, -expected, i))
    i, c = i[order], c[order]
    long = pd.DataFrame(
        {
            CLIENT_ID: features[CLIENT_ID].array.take(i),
            CATEGORY: categories.take(c),
            "peer_share": pairs["peer_share"].to_numpy(dtype="float64")[order],
            "peer_median_revenue": pairs["peer_median_revenue"].to_numpy(dtype="float64")[order],
            "size_factor": pairs["size_factor"].to_numpy(dtype="float64")[order],
            "expected_value": expected[order],
            "basis": labels([basis_code[order] == 0], [BASIS_GROUP], BASIS_NEIGHBOURS),
        }
    )

    n_peers = np.zeros(n, dtype="int64")
    n_peers[by_group] = group_size[group[by_group]] - 1
    by_neighbours = np.zeros(n, dtype=bool)
    if peers.shape[1]:
        by_neighbours[query] = True
        n_peers[query] = peers.shape[1]
    no_peers = int((~by_group & ~by_neighbours).sum())
    if no_peers:
        warnings.append(
            f"{no_peers} clients have no peers (no purchases and fewer than {cfg.neighbours} other clients of the "
            "same industry and size class): no whitespace for them"
        )
    value = np.bincount(i, weights=long["expected_value"].to_numpy(), minlength=n)
    count = np.bincount(i, minlength=n)
    headroom = column_values(features, "headroom")
    clients = pd.DataFrame(
        {
            CLIENT_ID: features[CLIENT_ID].array,
            "basis": labels([by_group, by_neighbours], [BASIS_GROUP, BASIS_NEIGHBOURS], BASIS_NONE),
            "n_peers": n_peers,
            "whitespace_categories": count,
            "whitespace_value": value,
            "top_categories": _top_categories(i, long[CATEGORY].array, n),
            "headroom": headroom,
            "whitespace_within_headroom": np.where(np.isnan(headroom), np.nan, np.minimum(value, headroom)),
        }
    )
    return WhitespaceResult(long, clients, warnings)


def _top_categories(
    client: np.ndarray, category: pd.api.extensions.ExtensionArray, n: int
) -> pd.api.extensions.ExtensionArray:
    # ``client`` is sorted and each client's categories are by expected value: keep the first three per client
    # and join them as an Arrow list array (no loop over clients).
    if len(client) == 0:
        return pd.array([""] * n, dtype="str")
    first = np.flatnonzero(np.r_[True, client[1:] != client[:-1]])
    rank = np.arange(len(client)) - np.repeat(first, np.diff(np.r_[first, len(client)]))
    top = rank < TOP_CATEGORIES
    offsets = np.r_[0, np.cumsum(np.bincount(client[top], minlength=n))].astype("int32")
    names = pa.array(category).cast(pa.string()).take(pa.array(np.flatnonzero(top)))
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), ", ")
    return pd.Series(joined, dtype="str").array
