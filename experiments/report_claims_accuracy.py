"""The report's claim (a) with test accuracy, on the classification family ``teacher``.

docs/references.md#pillutla2022-claims, docs/references.md#synthetic-teacher. The runs are
those of ``paper_claims.claims_study`` on a ``teacher`` cell: each algorithm at the step with
the lowest mean final personalised (training) loss, its final test accuracy
(``personal_accuracy`` at round T) on the held-out samples at that step, the benefit over
FedAvg ``A_alg - A_FedAvg`` and the fraction of the full-personalisation benefit reached, for
accuracy and loss, with paired-seed intervals; the Bayes accuracy ``1 - flip`` bounds every
accuracy.
"""

from __future__ import annotations

import math

import numpy as np

from partialfed.experiments.paper_claims import FULL, ClaimsResult
from partialfed.experiments.report_blocks import bullets, figure, heading, table, text

__all__ = ["accuracy_blocks", "accuracy_findings", "TITLE"]

TITLE = "Claim (a) with test accuracy: a classification family"


def _g(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _iv(m) -> str:
    return f"{m[0]:.4g} [{_g(m[1])}, {_g(m[2])}]"


def _pct(m) -> str:
    return f"{100 * m[0]:.1f}% [{100 * m[1]:.1f}, {100 * m[2]:.1f}]"


def headline(res: ClaimsResult) -> dict:
    """FedAlt's fraction of the full-personalisation benefit at ``study.at``, for accuracy and
    loss, with the full-personalisation algorithm of each (accuracy NaN and its algorithm
    ``None`` where ``res.accuracy_missing()`` says why it is not reported)."""
    hd = res.headline_d_v()
    ok = res.accuracy_missing() is None
    return {
        "d_v": hd,
        "fraction": hd / res.study.total,
        "accuracy": res.reached(hd, "fedalt", quantity="accuracy") if ok else (math.nan,) * 3,
        "full_accuracy": res.full(hd, "accuracy") if ok else None,
        "loss": res.reached(hd, "fedalt"),
        "full_loss": res.full(hd),
    }


def accuracy_blocks(res: ClaimsResult, runs: str = "") -> list[dict]:
    """The subsection: the setting, the headline numbers, the per-algorithm table, the
    fraction table and the figure."""
    st = res.study
    d = st.total
    knobs = dict(st.cell.knobs)
    bayes = 1.0 - float(knobs["flip"])
    h = headline(res)
    missing = res.accuracy_missing()
    blocks = [
        heading(TITLE, "claims-accuracy"),
        text(
            f"Claim (a) on `teacher` (docs/references.md#synthetic-teacher): {st.cell.problem().n} "
            f"devices whose teachers differ on the last {knobs['planted']} of d = {d} "
            f"coordinates, {knobs['samples']} training and {knobs['test_samples']} held-out "
            f"test samples per device, labels flipped with probability {knobs['flip']:g} (Bayes "
            f"accuracy {bayes:g}), d_v swept at fixed d, {len(st.seeds)} seeds shared by all "
            f"algorithms, each at the step eta from {list(st.etas)} with the lowest mean final "
            "personalised training loss (the same selection as above); the accuracy is the "
            "final personalised test accuracy at that step (`personal_accuracy` at round T: "
            "the iterate for FedAlt and FedSim, FedAvg's global model, one adaptation step for "
            "Per-FedAvg, Ditto's personal models). Benefit over FedAvg: A_alg - A_FedAvg per "
            "seed (paired); full personalisation: the best of "
            + ", ".join(a for a in FULL if a in st.algorithms)
            + " at each d_v (highest accuracy, or lowest loss for the loss fraction). "
            + runs
        ),
        bullets(_headline_bullets(res, h, bayes, missing)),
        table(
            ["d_v/d", "algorithm", "best eta", "test accuracy (95%)", "benefit over FedAvg (95%)"],
            [
                [
                    f"{k[0]}/{d}",
                    k[1],
                    f"{b.eta:g}"
                    + "".join(f", {n}={v:g}" for n, v in b.extra.items())
                    + (" (edge)" if b.edge else ""),
                    _accuracy_cell(b),
                    "-"
                    if k[1] == "fedavg" or missing
                    else _iv(res.benefit(*k, quantity="accuracy")),
                ]
                for k, b in sorted(res.best.items())
            ],
            name="claims-accuracy",
        ),
        table(
            [
                "d_v/d",
                "FedAlt: accuracy fraction (95%)",
                "FedSim: accuracy fraction (95%)",
                "FedAlt: loss fraction (95%)",
            ],
            [
                [f"{d_v}/{d}"]
                + [
                    "-"
                    if missing
                    else "{:.3f} [{:.3f}, {:.3f}]".format(*res.reached(d_v, a, quantity="accuracy"))
                    for a in ("fedalt", "fedsim")
                ]
                + ["{:.3f} [{:.3f}, {:.3f}]".format(*res.reached(d_v, "fedalt"))]
                for d_v in st.d_vs
            ],
            name="claims-accuracy-fraction",
        ),
        figure("claims-accuracy"),
    ]
    return blocks


def _accuracy_cell(b) -> str:
    """A best step's mean test accuracy and interval, or on how many seeds it is non-finite."""
    acc = np.asarray(b.accuracy, dtype=float)
    bad = int(np.count_nonzero(~np.isfinite(acc)))
    if acc.size == 0 or bad:
        return f"not reported: non-finite on {bad} of {acc.size} seeds"
    d = b.as_dict()
    return _iv(tuple(d[x] for x in ("accuracy", "accuracy_low", "accuracy_high")))


def _headline_bullets(res: ClaimsResult, h: dict, bayes: float, missing: str | None) -> list:
    """The headline numbers, or why the accuracy is not reported (with the loss fraction)."""
    if missing is not None:
        return [
            f"**Test accuracy not reported: {missing}.** At {100 * h['fraction']:.0f}% "
            f"personal parameters FedAlt reaches {_pct(h['loss'])} of the loss benefit "
            f"({h['full_loss']}); 95% paired bootstrap."
        ]
    best_acc = max(float(np.mean(b.accuracy)) for b in res.best.values())
    knobs = dict(res.study.cell.knobs)
    return [
        f"**At {100 * h['fraction']:.0f}% personal parameters FedAlt reaches "
        f"{_pct(h['accuracy'])} of the full-personalisation accuracy benefit** "
        f"({h['full_accuracy']} the best full personalisation) and {_pct(h['loss'])} of "
        f"the loss benefit ({h['full_loss']}); 95% paired bootstrap. A fraction above "
        "100% means FedAlt is more accurate than every fully personalised algorithm.",
        f"Bayes bound: the highest mean accuracy measured is {best_acc:.4f}, against "
        f"the Bayes accuracy {bayes:g} ({res.study.cell.problem().n * knobs['test_samples']} "
        "test samples per run).",
    ]


def accuracy_findings(res: ClaimsResult) -> list[str]:
    """The headline sentence of the classification family (or why its accuracy is missing)."""
    h = headline(res)
    missing = res.accuracy_missing()
    if missing is not None:
        return [
            f"Claim (a) with test accuracy (teacher): test accuracy not reported: {missing}. "
            f"With {100 * h['fraction']:.0f}% personal parameters FedAlt reaches "
            f"{_pct(h['loss'])} of the loss benefit ({h['full_loss']})."
        ]
    return [
        f"Claim (a) with test accuracy (teacher, Bayes accuracy "
        f"{1 - float(dict(res.study.cell.knobs)['flip']):g}): with {100 * h['fraction']:.0f}% "
        f"personal parameters FedAlt reaches {_pct(h['accuracy'])} of the "
        f"full-personalisation accuracy benefit ({h['full_accuracy']} the best full "
        f"personalisation) and {_pct(h['loss'])} of the loss benefit ({h['full_loss']})."
    ]
