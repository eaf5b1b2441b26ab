#!/usr/bin/python3
"""Reference vectors for package forecast, computed with statsmodels.

Usage (Debian's python3-statsmodels, so /usr/bin/python3):

    /usr/bin/python3 forecast/testdata/statsmodels_reference.py > statsmodels_reference.json
    /usr/bin/python3 forecast/testdata/statsmodels_reference.py --compare COMMITTED.json NEW.json

The first form writes the JSON that forecast/reference_test.go reads; the
second exits non-zero when NEW differs from COMMITTED beyond 1e-9 relative in
the fixed-parameter cases or beyond 1e-6 relative in the fitted SSE.

Everything is deterministic: the series come from numpy's seeded PCG64
generator, the fixed-parameter cases run statsmodels' recurrences with
optimized=False, and the fitted cases run statsmodels' default optimiser.

Two kinds of case:

"fixed": ExponentialSmoothing(y, ..., initialization_method="known",
    initial_level=, initial_trend=, initial_seasonal=).fit(smoothing_level=,
    smoothing_trend=, smoothing_seasonal=, damping_trend=, optimized=False).
    Recorded: the parameters and initial state, fittedvalues (the one-step
    predictions) and forecast(24).

    statsmodels 0.13.5 forecasts the horizons h that are multiples of the
    seasonal period m with the seasonal component of the last observation
    from *before* that observation's update (statsmodels issue #9538, fixed
    by pull request #10230). "forecast" is statsmodels' output as it is;
    "forecast_corrected" is the forecast of Hyndman et al. (2008, Table 2.1)
    computed from statsmodels' own end state (level, trend and the last m
    seasonal components of the fit), which differs from "forecast" only at
    those horizons (checked below).

"fitted": statsmodels' default fit, ExponentialSmoothing(y, ...).fit() with
    its default initialization_method="estimated" (the initial states are
    optimised together with the smoothing parameters). Recorded: its SSE,
    parameters and initial state.

Conventions of the JSON, which are those of package forecast:
    trend: "N", "A" or "Ad"; seasonality: "N", "A" or "M"; period m (0
    without a season).
    params.alpha = smoothing_level; params.beta = smoothing_trend (0 without
    a trend); params.phi = damping_trend for "Ad", 1 for "A", 0 for "N";
    params.gamma = smoothing_seasonal (0 without a season).
    init.level = initial_level; init.slope = initial_trend (0 without a
    trend); init.season = initial_seasonal, init.season[i] being the
    seasonal component of the i-th observation.
"""

import json
import math
import sys
import time
import warnings

import numpy as np
import scipy
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

HORIZON = 24
MODELS = [
    ("N", "N"), ("A", "N"), ("Ad", "N"),
    ("N", "A"), ("A", "A"), ("Ad", "A"),
    ("N", "M"), ("A", "M"), ("Ad", "M"),
]
# Smoothing parameters of the fixed cases, cycled over the cases so that each
# model type meets several; every gamma is below 1 - alpha.
PARAM_SETS = [
    dict(alpha=0.3, beta=0.1, phi=0.9, gamma=0.2),
    dict(alpha=0.7, beta=0.05, phi=0.98, gamma=0.1),
    dict(alpha=0.1, beta=0.4, phi=0.85, gamma=0.5),
    dict(alpha=0.95, beta=0.2, phi=0.95, gamma=0.04),
]

FIXED_REL = 1e-9  # --compare tolerance of the fixed-parameter numbers
SSE_REL = 1e-6    # --compare tolerance of the fitted SSE


def make_series():
    """Returns {name: dict(period, step_seconds, y)}, all values positive."""
    rng = np.random.default_rng(20240601)
    out = {}

    # Ten years of monthly values: a linear trend, a season proportional to
    # the level, Gaussian noise.
    t = np.arange(120)
    ph = 2 * np.pi * t / 12
    y = (100 + 0.4 * t) * (1 + 0.2 * np.sin(ph) + 0.08 * np.cos(2 * ph)) + rng.normal(0, 3, t.size)
    out["monthly120"] = dict(period=12, step_seconds=30 * 86400, y=y)

    # Ten days of hourly values: a daily cycle with a business-hours bump,
    # a slow trend, AR(1) noise.
    t = np.arange(240)
    ph = 2 * np.pi * (t % 24) / 24
    noise = np.zeros(t.size)
    e = rng.normal(0, 2, t.size)
    for i in range(1, t.size):
        noise[i] = 0.6 * noise[i - 1] + e[i]
    y = 50 + 0.05 * t + 12 * np.sin(ph - np.pi / 2) + 6 * ((t % 24 >= 9) & (t % 24 < 17)) + noise
    out["hourly240"] = dict(period=24, step_seconds=3600, y=y)

    # Eight years of monthly values with a level shift of +20 at t = 60 and
    # heavier noise.
    t = np.arange(96)
    ph = 2 * np.pi * t / 12
    y = 80 + 0.2 * t + 20 * (t >= 60) + 10 * np.sin(ph) + 4 * np.sin(3 * ph) + rng.normal(0, 5, t.size)
    out["shift96"] = dict(period=12, step_seconds=30 * 86400, y=y)

    # Twenty days of hourly values (a few hundred points): a daily cycle
    # whose amplitude follows the level, a weekly modulation, AR(1) noise.
    t = np.arange(480)
    ph = 2 * np.pi * (t % 24) / 24
    noise = np.zeros(t.size)
    e = rng.normal(0, 3, t.size)
    for i in range(1, t.size):
        noise[i] = 0.7 * noise[i - 1] + e[i]
    week = 1 + 0.1 * np.sin(2 * np.pi * t / 168)
    y = (120 + 0.1 * t) * week * (1 + 0.3 * np.sin(ph - 2) + 0.1 * np.sin(2 * ph)) + noise
    out["hourly480"] = dict(period=24, step_seconds=3600, y=y)

    # A week of one-minute request rates aggregated to five minutes (2016
    # points, m = 288): a daily cycle with a second harmonic, a slow
    # growth, Gaussian minute noise and a few one-minute spikes.
    mins = np.arange(7 * 1440)
    day = mins / 1440
    rate = 200 * (1 + 0.5 * np.sin(2 * np.pi * (day - 0.3)) + 0.15 * np.sin(4 * np.pi * day)) * (1 + 0.01 * day)
    rate = rate + rng.normal(0, 15, mins.size)
    spikes = rng.random(mins.size) < 0.002
    rate[spikes] *= 3
    y = rate.reshape(-1, 5).mean(axis=1)
    out["fivemin2016"] = dict(period=288, step_seconds=300, y=y)

    for name, s in out.items():
        assert np.all(np.isfinite(s["y"])) and np.all(s["y"] > 0), name
    return out


def sm_model(y, trend, seasonal, m, **kw):
    return ExponentialSmoothing(
        y,
        trend={"N": None, "A": "add", "Ad": "add"}[trend],
        damped_trend=trend == "Ad",
        seasonal={"N": None, "A": "add", "M": "mul"}[seasonal],
        seasonal_periods=m if seasonal != "N" else None,
        **kw,
    )


def known_init(y, trend, seasonal, m, k):
    """A deterministic initial state from the first two cycles (or the first
    points), shifted by an amount that depends on the case index k so that
    the recurrences have something to correct."""
    if seasonal == "N":
        level = float(np.mean(y[:4])) + (k % 3 - 1) * 2.0
        slope = float(np.mean(y[4:8]) - np.mean(y[:4])) / 4 if trend != "N" else 0.0
        return dict(level=level, slope=slope, season=[])
    c1, c2 = y[:m], y[m:2 * m]
    level = float(np.mean(c1)) + (k % 3 - 1) * 2.0
    slope = float(np.mean(c2) - np.mean(c1)) / m if trend != "N" else 0.0
    if seasonal == "A":
        season = c1 - np.mean(c1)
    else:
        season = c1 / np.mean(c1)
    return dict(level=level, slope=slope, season=[float(v) for v in season])


def our_params(trend, seasonal, alpha, beta, phi, gamma):
    return dict(
        alpha=float(alpha),
        beta=float(beta) if trend != "N" else 0.0,
        phi={"N": 0.0, "A": 1.0, "Ad": float(phi) if phi is not None else math.nan}[trend],
        gamma=float(gamma) if seasonal != "N" else 0.0,
    )


def corrected_forecast(res, trend, seasonal, m, phi, h):
    """The h-step forecasts of Hyndman et al. (2008, Table 2.1) from the end
    state of the statsmodels fit res: (l_T + phi_h b_T) combined with the
    latest seasonal component of the target's phase."""
    level = float(res.level[-1])
    slope = float(res.trend[-1]) if trend != "N" else 0.0
    season = np.asarray(res.season)[-m:] if seasonal != "N" else None
    out = []
    for i in range(1, h + 1):
        if trend == "N":
            base = level
        elif trend == "A":
            base = level + i * slope
        else:
            base = level + sum(phi ** j for j in range(1, i + 1)) * slope
        if seasonal == "A":
            out.append(base + season[(i - 1) % m])
        elif seasonal == "M":
            out.append(base * season[(i - 1) % m])
        else:
            out.append(base)
    return out


def close(a, b, rel):
    if a == b:
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= rel * max(abs(a), abs(b))


def fixed_cases(series):
    cases = []
    k = 0
    for sname in ("monthly120", "hourly240", "shift96"):
        s = series[sname]
        y, m = s["y"], s["period"]
        for trend, seasonal in MODELS:
            p = PARAM_SETS[k % len(PARAM_SETS)]
            init = known_init(y, trend, seasonal, m, k)
            kw = dict(initialization_method="known", initial_level=init["level"])
            if trend != "N":
                kw["initial_trend"] = init["slope"]
            if seasonal != "N":
                kw["initial_seasonal"] = init["season"]
            fit_kw = dict(smoothing_level=p["alpha"], optimized=False)
            if trend != "N":
                fit_kw["smoothing_trend"] = p["beta"]
            if trend == "Ad":
                fit_kw["damping_trend"] = p["phi"]
            if seasonal != "N":
                fit_kw["smoothing_seasonal"] = p["gamma"]
            res = sm_model(y, trend, seasonal, m, **kw).fit(**fit_kw)
            mm = m if seasonal != "N" else 0
            fc = [float(v) for v in res.forecast(HORIZON)]
            fixed = corrected_forecast(res, trend, seasonal, m, p["phi"], HORIZON)
            for h in range(1, HORIZON + 1):
                if mm == 0 or h % mm != 0:
                    # Our reading of statsmodels' end state must reproduce
                    # its forecasts wherever issue #9538 does not bite.
                    assert close(fc[h - 1], fixed[h - 1], 1e-12), (sname, trend, seasonal, h, fc[h - 1], fixed[h - 1])
            # The parameters statsmodels reports are the ones we gave it.
            assert res.params["smoothing_level"] == p["alpha"]
            cases.append(dict(
                name=f"{sname}/({trend},{seasonal})",
                series=sname,
                trend=trend,
                seasonality=seasonal,
                period=mm,
                params=our_params(trend, seasonal, p["alpha"], p["beta"], p["phi"], p["gamma"]),
                init=init,
                fitted=[float(v) for v in res.fittedvalues],
                forecast=fc,
                forecast_corrected=fixed,
            ))
            k += 1
    return cases


# The default-fit cases: (series, trend, seasonality).
FITTED = [
    ("monthly120", "N", "A"),
    ("monthly120", "A", "A"),
    ("monthly120", "Ad", "M"),
    ("hourly480", "N", "N"),
    ("hourly480", "Ad", "N"),
    ("hourly480", "N", "A"),
    ("hourly480", "A", "A"),
    ("hourly480", "Ad", "A"),
    ("hourly480", "A", "M"),
    ("fivemin2016", "N", "A"),
    ("fivemin2016", "A", "A"),
    ("fivemin2016", "N", "M"),
]


def fitted_cases(series):
    cases = []
    for sname, trend, seasonal in FITTED:
        s = series[sname]
        y, m = s["y"], s["period"]
        t0 = time.monotonic()
        with warnings.catch_warnings():
            # Convergence warnings go to stderr, never into the JSON.
            warnings.simplefilter("always")
            res = sm_model(y, trend, seasonal, m).fit()
        mm = m if seasonal != "N" else 0
        pr = res.params
        init = dict(
            level=float(pr["initial_level"]),
            slope=float(pr["initial_trend"]) if trend != "N" else 0.0,
            season=[float(v) for v in pr["initial_seasons"]] if seasonal != "N" else [],
        )
        params = our_params(trend, seasonal, pr["smoothing_level"], pr["smoothing_trend"],
                            pr["damping_trend"], pr["smoothing_seasonal"])
        # Recompute the SSE from the fitted values as a check on fit.sse.
        sse = float(res.sse)
        resid = y - np.asarray(res.fittedvalues)
        assert close(sse, float(resid @ resid), 1e-9), (sname, trend, seasonal)
        print(f"fitted {sname} ({trend},{seasonal}): sse={sse:.6g} in {time.monotonic() - t0:.2f}s",
              file=sys.stderr)
        cases.append(dict(
            name=f"{sname}/({trend},{seasonal})",
            series=sname,
            trend=trend,
            seasonality=seasonal,
            period=mm,
            sse=sse,
            params=params,
            init=init,
        ))
    return cases


def dump(v, indent=0):
    """JSON with objects indented and lists of numbers on one line."""
    pad = " " * indent
    if isinstance(v, dict):
        items = [f'{pad} {json.dumps(k)}: {dump(x, indent + 1).lstrip()}' for k, x in v.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return pad + "[\n" + ",\n".join(dump(x, indent + 1) for x in v) + "\n" + pad + "]"
    return pad + json.dumps(v, allow_nan=False)


def generate():
    series = make_series()
    doc = dict(
        generator="forecast/testdata/statsmodels_reference.py",
        statsmodels=statsmodels.__version__,
        numpy=np.__version__,
        scipy=scipy.__version__,
        horizon=HORIZON,
        series={name: dict(period=s["period"], step_seconds=s["step_seconds"],
                           y=[float(v) for v in s["y"]])
                for name, s in series.items()},
        fixed=fixed_cases(series),
        fitted=fitted_cases(series),
    )
    sys.stdout.write(dump(doc) + "\n")


def compare(old_path, new_path):
    with open(old_path) as f:
        old = json.load(f)
    with open(new_path) as f:
        new = json.load(f)
    problems = []
    notes = []

    for key in ("statsmodels", "numpy", "scipy"):
        if old.get(key) != new.get(key):
            notes.append(f"{key} {old.get(key)} -> {new.get(key)}")

    def values(path, a, b, rel):
        if isinstance(a, list) or isinstance(b, list):
            if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
                problems.append(f"{path}: length {len(a) if isinstance(a, list) else '-'} -> "
                                f"{len(b) if isinstance(b, list) else '-'}")
                return
            worst = max((abs(x - y) / max(abs(x), abs(y)) for x, y in zip(a, b) if x != y), default=0.0)
            bad = [i for i, (x, y) in enumerate(zip(a, b)) if not close(x, y, rel)]
            if bad:
                problems.append(f"{path}: {len(bad)} of {len(a)} values differ, first at [{bad[0]}]: "
                                f"{a[bad[0]]!r} -> {b[bad[0]]!r} (max rel {worst:.3g})")
            return
        if not close(a, b, rel):
            problems.append(f"{path}: {a!r} -> {b!r}")

    if old.get("horizon") != new.get("horizon"):
        problems.append(f"horizon {old.get('horizon')} -> {new.get('horizon')}")
    for name in sorted(set(old["series"]) | set(new["series"])):
        a, b = old["series"].get(name), new["series"].get(name)
        if a is None or b is None:
            problems.append(f"series {name}: only in {'new' if a is None else 'committed'}")
            continue
        if a["period"] != b["period"] or a["step_seconds"] != b["step_seconds"]:
            problems.append(f"series {name}: period or step changed")
        values(f"series {name} y", a["y"], b["y"], FIXED_REL)

    def by_name(doc, kind):
        return {c["name"]: c for c in doc[kind]}

    for kind in ("fixed", "fitted"):
        oc, nc = by_name(old, kind), by_name(new, kind)
        for name in sorted(set(oc) | set(nc)):
            a, b = oc.get(name), nc.get(name)
            if a is None or b is None:
                problems.append(f"{kind} {name}: only in {'new' if a is None else 'committed'}")
                continue
            for key in ("series", "trend", "seasonality", "period"):
                if a[key] != b[key]:
                    problems.append(f"{kind} {name} {key}: {a[key]!r} -> {b[key]!r}")
            if kind == "fixed":
                for key in ("alpha", "beta", "phi", "gamma"):
                    values(f"fixed {name} params.{key}", a["params"][key], b["params"][key], FIXED_REL)
                for key in ("level", "slope", "season"):
                    values(f"fixed {name} init.{key}", a["init"][key], b["init"][key], FIXED_REL)
                for key in ("fitted", "forecast", "forecast_corrected"):
                    values(f"fixed {name} {key}", a[key], b[key], FIXED_REL)
            else:
                values(f"fitted {name} sse", a["sse"], b["sse"], SSE_REL)
                # The optimum's location is less stable than its value
                # across optimiser versions: report, do not fail.
                for key in ("alpha", "beta", "phi", "gamma"):
                    if not close(a["params"][key], b["params"][key], 1e-4):
                        notes.append(f"fitted {name} params.{key}: {a['params'][key]!r} -> {b['params'][key]!r}")

    for n in notes:
        print("note:", n, file=sys.stderr)
    for p in problems:
        print("MISMATCH:", p, file=sys.stderr)
    if problems:
        print(f"{new_path} differs from {old_path} in {len(problems)} places", file=sys.stderr)
        return 1
    print(f"{new_path} matches {old_path} ({len(new['fixed'])} fixed, {len(new['fitted'])} fitted cases)",
          file=sys.stderr)
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--compare":
        return compare(argv[2], argv[3])
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    generate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
