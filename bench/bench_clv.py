"""Benchmark: BG/NBD maximum-likelihood fit of salesfolio against PyMC-Marketing's MAP fit, in one run.

    .venv/bin/python bench/bench_clv.py [--clients N] [--seed S] [--repeats K] [--no-pymc]

Generates BG/NBD-distributed histories (Fader, Hardie & Lee 2005) for N clients with NumPy (seeded), then times
- salesfolio ``BetaGeoModel.fit`` on continuous recency/T (no two histories alike: the worst case for grouping),
- the same on whole days (as ``rfm_summary`` produces them, so identical histories are grouped),
- PyMC-Marketing ``BetaGeoModel.fit(method="map")`` with its default priors and with flat priors, when
  ``pymc_marketing`` imports (its first fit, which compiles C code, is timed apart).
Prints wall seconds (median of ``--repeats``), CPU seconds, the fitted parameters against the true ones, and the
ratios. Ratios measured in one run are what hold; absolute seconds move with the machine.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from salesfolio.analytics.clv import BetaGeoModel

TRUE_PARAMS = {"r": 0.75, "alpha": 60.0, "a": 0.8, "b": 2.5}
"""Purchase rate: mean r / alpha = one purchase per 80 days; dropout probability mean a / (a + b) = 0.24."""


def simulate(n: int, seed: int, params: dict[str, float] = TRUE_PARAMS) -> pd.DataFrame:
    """Draw BG/NBD histories: T uniform on 30..1095 days, rate ~ Gamma(r, alpha), dropout p ~ Beta(a, b).

    While alive, repeat purchases are a Poisson process on (0, T]; after each repeat purchase the client drops out
    with probability p. So x = min(N, J) with N ~ Poisson(rate T) and J ~ Geometric(p), and t_x is the x-th of N
    uniform arrival times on (0, T], i.e. T times a Beta(x, N - x + 1) variable.
    """
    rng = np.random.default_rng(seed)
    t_obs = rng.uniform(30.0, 1095.0, n)
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    arrivals = rng.poisson(rate * t_obs)
    until_dropout = rng.geometric(dropout)
    x = np.minimum(arrivals, until_dropout)
    t_x = np.zeros(n)
    repeat = x > 0
    t_x[repeat] = t_obs[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": x.astype(float), "recency": t_x, "T": t_obs})


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Return (median wall seconds, median CPU seconds, last result) over ``repeats`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def show(label: str, wall: float, cpu: float, params: dict[str, float]) -> None:
    fitted = "  ".join(f"{k}={params[k]:.4g} ({100 * (params[k] / TRUE_PARAMS[k] - 1):+.1f} %)" for k in TRUE_PARAMS)
    print(f"{label:<46} wall {wall:7.2f} s  cpu {cpu:7.2f} s  {fitted}")


def bench_pymc(data: pd.DataFrame, repeats: int) -> dict[str, tuple[float, float]]:
    """Time PyMC-Marketing MAP fits; return label -> median (wall, CPU) seconds (empty when not installed)."""
    start = time.perf_counter()
    try:
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel as PymcBetaGeoModel
    except ImportError:
        print("pymc-marketing: not installed (pip install pymc-marketing to compare)")
        return {}
    import pymc_marketing

    print(f"pymc-marketing {pymc_marketing.__version__}: import {time.perf_counter() - start:.1f} s")
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    results = {}
    for label, config in (("default priors", None), ("flat priors", flat)):

        def fit(config: dict[str, Any] | None = config) -> dict[str, float]:
            model = PymcBetaGeoModel(model_config=config) if config else PymcBetaGeoModel()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(data=data, method="map", progressbar=False)
            posterior = model.idata.posterior
            return {k: float(posterior[k].values.mean()) for k in TRUE_PARAMS}

        first_wall, first_cpu, params = timed(fit, 1)
        show(f"pymc-marketing MAP, {label}, first fit", first_wall, first_cpu, params)
        wall, cpu, params = timed(fit, repeats)
        show(f"pymc-marketing MAP, {label}, median of {repeats}", wall, cpu, params)
        results[label] = (wall, cpu)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pymc", action="store_true", help="skip PyMC-Marketing even if installed")
    args = parser.parse_args()

    data = simulate(args.clients, args.seed)
    days = data.assign(recency=np.ceil(data["recency"]), T=np.ceil(data["T"]))
    print(
        f"{args.clients:,} clients (seed {args.seed}); {int((data['frequency'] > 0).sum()):,} with repeat purchases; "
        f"true parameters {TRUE_PARAMS}"
    )
    ours = {}
    for label, frame in (("continuous recency/T", data), ("whole days", days)):
        wall, cpu, model = timed(
            lambda frame=frame: BetaGeoModel().fit(frame["frequency"], frame["recency"], frame["T"]), args.repeats
        )
        show(f"salesfolio MLE, {label}, median of {args.repeats}", wall, cpu, model.params_)
        print(f"{'':<46} converged={model.converged_}, {model.n_histories_:,} distinct histories")
        ours[label] = (wall, cpu)

    if args.no_pymc:
        print("pymc-marketing: skipped (--no-pymc)")
        return
    theirs = bench_pymc(data[["customer_id", "frequency", "recency", "T"]], args.repeats)
    our_wall, our_cpu = ours["continuous recency/T"]
    for label, (wall, cpu) in theirs.items():
        print(
            f"ratio pymc-marketing MAP ({label}) / salesfolio (continuous): "
            f"wall {wall / our_wall:.1f}x, cpu {cpu / our_cpu:.1f}x"
        )


if __name__ == "__main__":
    main()
