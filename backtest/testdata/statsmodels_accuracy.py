#!/usr/bin/python3
"""Reference accuracy of statsmodels' Holt-Winters on the traces in traces/.

Protocol (the same as backtest.EvaluateAccuracy in Go, which reads this file's
output, statsmodels_accuracy.json):
  - step 60 s, one day = 1440 points;
  - origins every 24 h over the last 6 days: o = n - k*1440 for k = 6..1;
  - history: the (up to) 7 days before the origin, y[max(0, o-10080):o];
  - horizon: 60 points, y[o:o+60];
  - MASE per origin = mean |error| / mean |y_t - y_{t-1440}| over the history
    (the in-sample seasonal naive with a period of one day); a trace's MASE is
    the mean over its origins.
The in-sample SSE and parameters of each statsmodels fit are recorded too, for
the check that Foresight's fit is as good in-sample.
Forecasters: statsmodels ExponentialSmoothing(trend="add", damped_trend=True,
seasonal="add", seasonal_periods=1440).fit() with its defaults, the last value
held, and the value one day earlier.

Run with Debian's python3-statsmodels (0.13.5 when this was written), one
trace a process so that several can run at once, then merge:
  for f in traces/*.csv.gz; do
    /usr/bin/python3 statsmodels_accuracy.py $f > /tmp/sm-$(basename $f).json
  done
  /usr/bin/python3 statsmodels_accuracy.py merge /tmp/sm-*.json > statsmodels_accuracy.json
A fit of 7 days at a 1-minute step took 3 to 8 minutes of CPU here (it
estimates all 1,440 initial seasonal states numerically), so the whole run
takes hours.
"""
import csv
import datetime
import gzip
import json
import os
import sys
import time
import warnings

import numpy as np
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

DAY = 1440
HISTORY = 7 * DAY
HORIZON = 60
ORIGINS = 6


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = list(csv.reader(f))[1:]
    return np.array([float(r[1]) for r in rows])


def main(paths):
    warnings.simplefilter("ignore")
    out = {"statsmodels_version": statsmodels.__version__, "traces": {}}
    for path in paths:
        y = load(path)
        n = len(y)
        per = {"statsmodels": [], "naive_last": [], "naive_seasonal": [], "fit_seconds": [], "sse": [], "params": []}
        for k in range(ORIGINS, 0, -1):
            o = n - k * DAY
            hist = y[max(0, o - HISTORY):o]
            actual = y[o:o + HORIZON]
            scale = np.mean(np.abs(hist[DAY:] - hist[:-DAY]))
            t0 = time.process_time()
            fit = ExponentialSmoothing(hist, trend="add", damped_trend=True,
                                       seasonal="add", seasonal_periods=DAY).fit()
            per["fit_seconds"].append(time.process_time() - t0)
            per["sse"].append(float(fit.sse))
            per["params"].append({k: float(fit.params[k]) for k in
                                  ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")})
            fc = fit.forecast(HORIZON)
            per["statsmodels"].append(float(np.mean(np.abs(fc - actual)) / scale))
            per["naive_last"].append(float(np.mean(np.abs(hist[-1] - actual)) / scale))
            per["naive_seasonal"].append(float(np.mean(np.abs(y[o - DAY:o - DAY + HORIZON] - actual)) / scale))
            print(os.path.basename(path), o, per["statsmodels"][-1], per["fit_seconds"][-1], file=sys.stderr, flush=True)
        out["traces"][os.path.basename(path)] = {
            "origins": [n - k * DAY for k in range(ORIGINS, 0, -1)],
            "mase": {key: float(np.mean(per[key])) for key in ("statsmodels", "naive_last", "naive_seasonal")},
            "mase_per_origin": {key: per[key] for key in ("statsmodels", "naive_last", "naive_seasonal")},
            "statsmodels_sse": per["sse"],
            "statsmodels_params": per["params"],
            "fit_seconds": per["fit_seconds"],
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


def merge(paths):
    out = {"traces": {}}
    for path in paths:
        with open(path) as f:
            part = json.load(f)
        out["statsmodels_version"] = part["statsmodels_version"]
        out["traces"].update(part["traces"])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    if sys.argv[1:2] == ["merge"]:
        merge(sys.argv[2:])
    else:
        main(sys.argv[1:])
