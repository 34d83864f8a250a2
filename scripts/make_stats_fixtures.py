"""Reference values for the human-evaluation statistics (engine::human_eval::stats),
computed by well-known implementations on fixed data: statsmodels' Wilson
interval, Fleiss' kappa and Cohen's kappa, the krippendorff package's
nominal alpha (missing ratings allowed), and choix's Bradley-Terry strengths. Writes
engine/tests/fixtures/human_eval_stats.json, which the engine's tests compare with.

Usage: .venv-ref/bin/python scripts/make_stats_fixtures.py   (scripts/make_reference_venv.sh once)
"""
import json, os, random

import choix
import krippendorff
import numpy as np
import statsmodels
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

rng = random.Random(7)
out = {"made_by": f"statsmodels {statsmodels.__version__}, krippendorff {getattr(krippendorff, '__version__', '0.9.0')}",
       "wilson": [], "fleiss": [], "cohen": [], "krippendorff_nominal": [], "bradley_terry": [], "pearson": []}
out["made_by"] += f", choix {choix.__version__ if hasattr(choix, '__version__') else '0.4.1'}"

# Wilson 95% intervals, including the edges (0 and n successes, n = 1).
for k, n in [(92, 100), (61, 100), (0, 10), (10, 10), (1, 1), (47, 50), (3, 7)]:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    out["wilson"].append({"successes": k, "n": n, "low": lo, "high": hi})

# Fleiss' kappa: subjects x categories counts, the same number of raters per subject.
tables = []
for cats, raters, subjects in [(2, 5, 20), (3, 4, 15), (2, 2, 30)]:
    t = []
    for _ in range(subjects):
        row = [0] * cats
        lean = rng.randrange(cats)
        for _ in range(raters):
            row[lean if rng.random() < 0.7 else rng.randrange(cats)] += 1
        t.append(row)
    tables.append(t)
for t in tables:
    out["fleiss"].append({"table": t, "kappa": fleiss_kappa(np.array(t), method="fleiss")})

# Cohen's kappa of two raters (a judge against a person).
for cats, n in [(2, 40), (3, 25)]:
    a = [rng.randrange(cats) for _ in range(n)]
    b = [x if rng.random() < 0.75 else rng.randrange(cats) for x in a]
    table = np.zeros((cats, cats))
    for x, y in zip(a, b):
        table[x, y] += 1
    out["cohen"].append({"a": a, "b": b, "kappa": float(cohens_kappa(table).kappa)})

# Krippendorff's alpha, nominal, raters x units with missing ratings (None).
for raters, units, missing in [(5, 20, 0.0), (3, 12, 0.25), (4, 30, 0.1)]:
    truth = [rng.randrange(2) for _ in range(units)]
    data = [[(t if rng.random() < 0.8 else 1 - t) if rng.random() >= missing else None for t in truth] for _ in range(raters)]
    arr = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    out["krippendorff_nominal"].append({"ratings": data, "alpha": krippendorff.alpha(reliability_data=arr, level_of_measurement="nominal")})

# Pearson's correlation (a judge's 1-5 scores against a person's).
import scipy
from scipy.stats import pearsonr
out["made_by"] += f", scipy {scipy.__version__}"
for n in [5, 30]:
    a = [rng.randint(1, 5) for _ in range(n)]
    b = [min(5, max(1, x + rng.choice([-1, 0, 0, 1]))) for x in a]
    out["pearson"].append({"a": a, "b": b, "r": float(pearsonr(a, b)[0])})

# Bradley-Terry (choix.mm_pairwise, its MAP with prior alpha). The engine takes
# duels with the first model's score (1, 0.5 for a tie, 0); choix takes
# (winner, loser) pairs, so each duel becomes two pairs (a win twice, a tie
# once each way) and the prior doubles with them.
for models, duels_n, prior in [(2, 30, 0.1), (3, 40, 0.1), (4, 60, 0.0), (4, 25, 0.1)]:
    skill = [rng.gauss(0, 1) for _ in range(models)]
    duels = []
    for _ in range(duels_n):
        i, j = rng.sample(range(models), 2)
        p = 1 / (1 + np.exp(skill[j] - skill[i]))
        u = rng.random()
        duels.append([i, j, 0.5 if abs(u - p) < 0.1 else (1.0 if u < p else 0.0)])
    pairs = []
    for i, j, s in duels:
        pairs += [(i, j)] * 2 if s == 1.0 else [(j, i)] * 2 if s == 0.0 else [(i, j), (j, i)]
    params = choix.mm_pairwise(models, pairs, alpha=2 * prior, tol=1e-12)
    out["bradley_terry"].append({"models": models, "duels": duels, "prior": prior, "params": list(params)})

path = os.path.join(os.path.dirname(__file__), "..", "engine", "tests", "fixtures", "human_eval_stats.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
