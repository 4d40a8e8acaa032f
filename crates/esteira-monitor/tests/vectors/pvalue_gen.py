"""Reference vectors for crates/esteira-monitor/src/drift/pvalue.rs.

Run from the repository root with a Python that has scipy 1.17 and evidently 0.7.23
(`/work/venv-evidently/bin/python`, made with `pip install evidently==0.7.23 "pandas<3"`;
it carries scipy 1.17.1):

    python crates/esteira-monitor/tests/vectors/pvalue_gen.py

It writes `pvalue.json` beside itself. Every expected value is computed here by scipy or
Evidently, never by the Rust code.

Samples are either listed in full or described by a `generated` spec that the Rust tests
rebuild bit for bit: `n` values from the splitmix64 stream seeded with `seed`, each
`u = (next >> 11) * 2**-53`, then `v = u * scale + shift`, then `v = floor(v * levels)`
when `levels > 0` (ties). This keeps large cases (up to 1M values) out of the file.
"""

import json
import math
import pathlib
import warnings

import numpy as np
import pandas as pd
import scipy
from scipy import special, stats

from evidently.legacy.calculations.stattests.anderson_darling_stattest import _anderson_darling
from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
from evidently.legacy.calculations.stattests.z_stattest import (
    _z_stat_test,
    proportions_diff_z_stat_ind,
)
from evidently.legacy.core import ColumnType
import evidently

MASK64 = (1 << 64) - 1


def splitmix64(seed, n):
    state = seed & MASK64
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z = z ^ (z >> 31)
        out[i] = float(z >> 11) * 2.0**-53
    return out


def generated(seed, n, scale=1.0, shift=0.0, levels=0):
    spec = {"seed": seed, "n": n, "scale": scale, "shift": shift, "levels": levels}
    values = splitmix64(seed, n) * scale + shift
    if levels > 0:
        values = np.floor(values * levels)
    return spec, values


def sample(values):
    """A listed sample: its spec and its values."""
    values = np.asarray(values, dtype=np.float64)
    return {"values": values.tolist()}, values


def two_sample_case(name, method, reference, current):
    ref_spec, ref = reference
    cur_spec, cur = current
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "ks":
            res = stats.ks_2samp(ref, cur)
        elif method == "cvm":
            res = stats.cramervonmises_2samp(ref, cur)
        elif method == "anderson":
            res = stats.anderson_ksamp([ref, cur], variant="midrank")
        else:
            raise ValueError(method)
    case = {
        "name": name,
        "reference": ref_spec,
        "current": cur_spec,
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
    }
    if method == "anderson" and len(ref) <= 400:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evidently_p, _ = _anderson_darling(pd.Series(ref), pd.Series(cur), ColumnType.Numerical, 0.1)
        assert evidently_p == case["p_value"], (name, evidently_p, case["p_value"])
        case["evidently_p_value"] = float(evidently_p)
    return case


def integers(values):
    return sample([float(v) for v in values])


def ks_cases():
    cases = [
        ("five vs seven, distinct", sample([0.61, -1.2, 0.33, 2.5, 1.1]), sample([0.1, 0.2, 3.1, -0.4, 0.9, 1.7, 2.2])),
        ("equal sizes 8 vs 8 (square method)", sample([1, 2, 3, 4, 5, 6, 7, 8.5]), sample([2.5, 3.5, 4.5, 9, 10, 11, 12, 13])),
        ("one vs one", sample([1.0]), sample([2.0])),
        ("both constant and equal", sample([3.0] * 6), sample([3.0] * 9)),
        ("identical samples", sample([0.5, 1.5, 2.5, 3.5]), sample([0.5, 1.5, 2.5, 3.5])),
        ("disjoint supports", sample([1, 2, 3, 4]), sample([10, 11, 12, 13, 14, 15])),
        ("ties on integers 30 vs 40", generated(11, 30, levels=6), generated(12, 40, scale=1.2, levels=6)),
        ("shifted 200 vs 300", generated(21, 200), generated(22, 300, shift=0.15)),
        ("unshifted 200 vs 300", generated(23, 200), generated(24, 300)),
        ("3000 vs 9000 shifted", generated(31, 3000), generated(32, 9000, shift=0.03)),
        ("5000 vs 7000 unshifted", generated(33, 5000), generated(34, 7000)),
        ("5000 vs 7000 shifted", generated(35, 5000), generated(36, 7000, shift=0.02)),
        ("10000 vs 10000 square method", generated(37, 10000), generated(38, 10000, shift=0.01)),
        ("10001 vs 50 asymptotic, n_eff 50", generated(41, 10001), generated(42, 50, shift=0.1)),
        ("15000 vs 3 asymptotic, n_eff 3", generated(43, 15000), generated(44, 3, scale=0.5)),
        ("12000 vs 500 asymptotic", generated(45, 12000), generated(46, 500, shift=0.02)),
        ("12000 vs 500 asymptotic, far", generated(47, 12000), generated(48, 500, shift=0.2)),
        ("20000 vs 30000 unshifted", generated(51, 20000), generated(52, 30000)),
        ("20000 vs 30000 shifted", generated(53, 20000), generated(54, 30000, shift=0.01)),
        ("20000 vs 30000 ties", generated(55, 20000, levels=40), generated(56, 30000, levels=40)),
        ("1M vs 1M shifted", generated(61, 1_000_000), generated(62, 1_000_000, shift=0.001)),
    ]
    # D = 1/n with equal sizes: the exact sum rounds above 1 for these n and scipy falls back
    # to the asymptotic tail with n_eff = round(n/2).
    for n in (5, 7, 13, 14):
        shifted = [float(i) for i in range(n)]
        shifted[-1] += 0.5
        cases.append((f"equal sizes {n} vs {n}, D = 1/n, exact rounds above 1",
                      integers(range(n)), sample(shifted)))
    seed = 1000
    for n1, n2, shift in [(1, 2, 0.0), (2, 1, 0.3), (3, 7, 0.2), (7, 3, 0.0), (10, 15, 0.4),
                          (15, 10, 0.1), (50, 51, 0.05), (99, 100, 0.2), (64, 48, 0.1),
                          (1, 10000, 0.0), (10000, 1, 0.0), (2000, 1999, 0.04),
                          (20000, 1, 0.0), (20000, 30, 0.1), (30, 20000, 0.3), (20000, 140, 0.05),
                          (20000, 141, 0.05), (20000, 141, 0.2), (15000, 800, 0.01)]:
        seed += 2
        cases.append((f"sweep {n1} vs {n2} shift {shift}", generated(seed, n1), generated(seed + 1, n2, shift=shift)))
    return [two_sample_case(name, "ks", ref, cur) for name, ref, cur in cases]


def cvm_cases():
    cases = [
        ("two vs two", sample([1.0, 2.0]), sample([1.5, 3.0])),
        ("five vs seven, distinct", sample([0.61, -1.2, 0.33, 2.5, 1.1]), sample([0.1, 0.2, 3.1, -0.4, 0.9, 1.7, 2.2])),
        ("both constant and equal", sample([2.0] * 4), sample([2.0] * 5)),
        ("ties 10 vs 12", generated(71, 10, levels=4), generated(72, 12, levels=4)),
        ("20 vs 20 shifted", generated(73, 20), generated(74, 20, shift=0.3)),
        ("20 vs 3", generated(75, 20), generated(76, 3, shift=0.2)),
        ("21 vs 20 asymptotic", generated(77, 21), generated(78, 20, shift=0.1)),
        ("50 vs 80 asymptotic ties", generated(79, 50, levels=8), generated(80, 80, levels=8)),
        ("5000 vs 7000 unshifted", generated(81, 5000), generated(82, 7000)),
        ("5000 vs 7000 shifted", generated(83, 5000), generated(84, 7000, shift=0.02)),
        ("20000 vs 30000 shifted", generated(85, 20000), generated(86, 30000, shift=0.005)),
    ]
    seed = 2000
    for n1, n2, levels in [(2, 20, 0), (20, 2, 0), (13, 17, 0), (13, 17, 3), (9, 9, 0), (19, 20, 6)]:
        seed += 2
        cases.append((f"sweep {n1} vs {n2} levels {levels}", generated(seed, n1, levels=levels),
                      generated(seed + 1, n2, shift=0.1, levels=levels)))
    return [two_sample_case(name, "cvm", ref, cur) for name, ref, cur in cases]


def anderson_cases():
    cases = [
        ("two vs two (N = 4)", sample([1.0, 2.0]), sample([3.0, 4.0])),
        ("ties with one distinct value per side", sample([1.0, 2.0]), sample([2.0, 2.0])),
        ("five vs seven, distinct", sample([0.61, -1.2, 0.33, 2.5, 1.1]), sample([0.1, 0.2, 3.1, -0.4, 0.9, 1.7, 2.2])),
        ("ties 30 vs 40", generated(91, 30, levels=5), generated(92, 40, scale=1.3, levels=5)),
        ("interpolated 100 vs 150", generated(93, 100), generated(94, 150, shift=0.1)),
        ("interpolated 200 vs 300", generated(95, 200), generated(96, 300, shift=0.08)),
        ("floored 200 vs 300", generated(97, 200), generated(98, 300, shift=0.5)),
        ("capped 200 vs 300", generated(99, 200), generated(100, 300)),
        ("5000 vs 7000 shifted", generated(101, 5000), generated(102, 7000, shift=0.006)),
        ("5000 vs 7000 unshifted", generated(103, 5000), generated(104, 7000)),
        ("20000 vs 30000 shifted", generated(105, 20000), generated(106, 30000, shift=0.0035)),
    ]
    return [two_sample_case(name, "anderson", ref, cur) for name, ref, cur in cases]


def labels_from_counts(counts):
    return pd.Series([f"c{i:03d}" for i, count in enumerate(counts) for _ in range(count)])


def chi_square_case(name, reference, current):
    ref_series, cur_series = labels_from_counts(reference), labels_from_counts(current)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently_p, _ = _chi_stat_test(ref_series, cur_series, ColumnType.Categorical, 0.05)
        kept = [(r, c) for r, c in zip(reference, current) if r > 0 or c > 0]
        k_norm = len(cur_series) / len(ref_series)
        res = stats.chisquare([c for _, c in kept], [r * k_norm for r, _ in kept])
    # Evidently orders the categories by a set of labels (hash order), so its sum of terms,
    # hence its last bits, vary from run to run; scipy's value on the same definition agrees.
    assert math.isclose(res.pvalue, evidently_p, rel_tol=1e-12, abs_tol=0.0), (name, res.pvalue, evidently_p)
    return {
        "name": name,
        "reference": reference,
        "current": current,
        # JSON has no infinity: an infinite statistic is written as the string "inf".
        "statistic": "inf" if math.isinf(res.statistic) else float(res.statistic),
        "p_value": float(evidently_p),
    }


def chi_square_cases():
    rng = np.random.default_rng(7)
    many_ref = rng.multinomial(200_000, np.full(150, 1 / 150)).tolist()
    many_cur = rng.multinomial(150_000, np.full(150, 1 / 150)).tolist()
    return [
        chi_square_case("two categories", [30, 70], [45, 55]),
        chi_square_case("three categories, same shares", [10, 20, 30], [20, 40, 60]),
        chi_square_case("four categories shifted", [400, 300, 200, 100], [250, 250, 250, 250]),
        chi_square_case("category absent from both is dropped", [40, 0, 60], [55, 0, 45]),
        chi_square_case("category new in current", [50, 50, 0], [40, 40, 5]),
        chi_square_case("tiny p-value", [5000, 5000], [4000, 6000]),
        chi_square_case("150 categories, both drawn from equal shares", many_ref, many_cur),
        chi_square_case("150 categories, drift", many_ref, [c + (i % 7) * 30 for i, c in enumerate(many_cur)]),
    ]


def z_case(name, reference, current):
    def binary(counts):
        return pd.Series(["a"] * counts[0] + ["b"] * counts[1])

    ref_series, cur_series = binary(reference), binary(current)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently_p, _ = _z_stat_test(ref_series, cur_series, ColumnType.Categorical, 0.05)
    constant_same = (min(reference) == 0 and min(current) == 0
                     and (reference[0] > 0) == (current[0] > 0))
    if constant_same:
        statistic = 0.0
    else:
        statistic = float(proportions_diff_z_stat_ind(
            ref_series.apply(lambda x: 0 if x == "a" else 1),
            cur_series.apply(lambda x: 0 if x == "a" else 1),
        ))
    return {
        "name": name,
        "reference": reference,
        "current": current,
        "statistic": statistic,
        "p_value": float(evidently_p),
        "precise_p_value": float(special.erfc(abs(statistic) / math.sqrt(2))),
    }


def z_cases():
    return [
        z_case("balanced, no drift", [500, 500], [480, 520]),
        z_case("moderate drift", [700, 300], [600, 400]),
        z_case("small samples", [3, 7], [6, 4]),
        z_case("large drift", [9000, 1000], [8000, 2000]),
        z_case("reference holds one category", [100, 0], [90, 10]),
        z_case("both hold the same single category", [0, 40], [0, 25]),
        z_case("each holds a different single category", [40, 0], [0, 25]),
    ]


def kstwo_cases():
    """kstwo.sf(x, n) over every branch of scipy's _kolmogn."""
    cases = []
    for n in [1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 5000, 100_000, 100_001, 500_000, 2_000_000]:
        xs = {0.4 / n, 0.8 / n, 1.0 / n, 1.5 / n}
        for target in [0.1, 0.3, 0.7, 0.75, 1.0, 2.0, 2.19, 2.21, 3.5, 4.5, 10.0, 50.0, 300.0, 369.0, 371.0]:
            xs.add(math.sqrt(target / n))
        xs.update([0.3, 0.5, 0.6, 0.9, 1.0 - 1.5 / n, 1.0 - 0.5 / n])
        xs.update([(1.4 / n) ** (2 / 3) * f for f in (0.5, 0.9, 1.1)])
        for x in sorted(xs):
            if 0.0 < x < 1.0:
                cases.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    # Every n the two-sample tests reach with a small effective size, across the Durbin
    # matrix (n x^2 <= 0.754693) and Pomeranz (<= 4) ranges and the Smirnov sum beyond.
    for n in range(1, 141):
        for target in [0.2, 0.5, 0.76, 1.2, 2.0, 3.0, 3.99, 6.0]:
            x = math.sqrt(target / n)
            if 0.0 < x < 1.0:
                cases.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    return cases


def special_cases():
    chi2 = []
    for df in [1, 2, 3, 5, 10, 19, 20, 21, 29, 149, 1000, 20000, 100001]:
        for ratio in [0.01, 0.2, 0.8, 0.97, 1.0, 1.02, 1.3, 2.0, 4.0]:
            x = df * ratio
            chi2.append({"x": x, "df": df, "sf": float(special.chdtrc(df, x))})
    erfc = [{"x": x, "value": float(special.erfc(x))}
            for x in [0.0, 1e-8, 0.1, 0.49, 0.5, 1.0, 1.9, 2.0, 2.1, 3.0, 4.5, 6.0, 10.0, 20.0, 26.0]]
    bessel = [{"q": q, "scaled": float(special.kve(0.25, q))}
              for q in [1e-4, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0, 1000.0]]
    return {"chi_square_sf": chi2, "erfc": erfc, "bessel_k_quarter_scaled": bessel}


def main():
    out = {
        "generated_by": "crates/esteira-monitor/tests/vectors/pvalue_gen.py",
        "scipy": scipy.__version__,
        "evidently": evidently.__version__,
        "ks": ks_cases(),
        "cramer_von_mises": cvm_cases(),
        "anderson_darling": anderson_cases(),
        "chi_square": chi_square_cases(),
        "z_test": z_cases(),
        "kstwo_sf": kstwo_cases(),
        **special_cases(),
    }
    path = pathlib.Path(__file__).with_name("pvalue.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    counts = {k: len(v) for k, v in out.items() if isinstance(v, list)}
    print(f"wrote {path}: {counts}")


if __name__ == "__main__":
    main()
