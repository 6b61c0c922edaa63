"""The figure of the paper's claim (a): benefit over FedAvg against the personal fraction.

In the style of the paper's bar charts of final accuracy per personalised part (slides 56-57,
docs/references.md#pillutla2022-experiments), as lines: for each partially personalised
algorithm the paired benefit ``L_FedAvg - L_alg`` of the final personalised loss, with its 95%
interval, at each personal fraction ``d_v / (d_u + d_v)``; the full-personalisation algorithms
(split-free) as horizontal bands at their mean benefit over the fractions. With
``quantity="accuracy"`` (a family with a test set, ``teacher``) the benefit is that of the
final test accuracy, ``A_alg - A_FedAvg``, and a dashed line marks the most any classifier can
gain, the Bayes accuracy ``1 - flip`` minus FedAvg's mean accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from partialfed.experiments.plots.style import _SPARE, color_of, line_style, style_context

if TYPE_CHECKING:
    from partialfed.experiments.paper_claims import ClaimsResult

__all__ = ["claims_figure"]

PARTIAL = ("fedalt", "fedsim")


def claims_figure(res: ClaimsResult, quantity: str = "loss"):
    """Benefit over FedAvg of each algorithm of ``res`` against the personal fraction
    (``quantity``: ``"loss"`` or ``"accuracy"``)."""
    from partialfed.experiments.paper_claims import FULL

    st = res.study
    x = np.array([d / st.total for d in st.d_vs])
    with style_context():
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        for i, alg in enumerate(a for a in st.algorithms if a in PARTIAL):
            b = np.array([res.benefit(d, alg, quantity) for d in st.d_vs])
            sty = line_style(alg, i)
            sty.pop("markevery", None)
            err = np.abs(b[:, [1, 2]].T - b[:, 0])
            ax.errorbar(x, b[:, 0], yerr=np.nan_to_num(err), label=alg, capsize=3, **sty)
        used = set()
        styles = (":", "-.", (0, (1, 1)), (0, (3, 1, 1, 1)))
        for k, alg in enumerate(a for a in st.algorithms if a in FULL):
            b = np.array([res.benefit(d, alg, quantity) for d in st.d_vs])
            color = color_of(alg)
            if color in used:  # two unknown names may share a spare colour
                color = next(c for c in _SPARE if c not in used)
            used.add(color)
            ax.axhline(
                float(np.mean(b[:, 0])),
                color=color,
                linestyle=styles[k % len(styles)],
                linewidth=1.4,
                label=f"{alg} (all personal)",
            )
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        flip = dict(st.cell.knobs).get("flip")
        if quantity == "accuracy" and flip is not None:
            base = np.mean([np.mean(res.best[(d, "fedavg")].accuracy) for d in st.d_vs])
            ax.axhline(
                1.0 - flip - base,
                color="0.3",
                linestyle="--",
                linewidth=1.0,
                label="Bayes accuracy - FedAvg",
            )
        ax.set_xlabel(r"personal fraction $d_v / (d_u + d_v)$")
        what = "final test accuracy" if quantity == "accuracy" else "final personalised loss"
        ax.set_ylabel(f"benefit over FedAvg\n({what})")
        ax.set_title(
            f"{st.label or 'logcosh, planted'}: {len(st.seeds)} seeds, best step each",
            fontsize=9,
        )
        ax.legend(loc="lower right", fontsize=8, ncol=2)
        fig.tight_layout()
    return fig
