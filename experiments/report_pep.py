"""The report's PEP section: the tightness of every derived bound, and a strict check for
``tau_v > 1`` against the PEP worst case (``experiments.pep``, ``experiments.checks.pep``).

``partialfed reproduce`` runs :func:`run_study` on :data:`QUICK` or :data:`FULL` (the sizes are
here, so the report can be read next to this file); every PEP is cached on disk, so a second
report solves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from partialfed.experiments.report_blocks import bullets, table, text

__all__ = ["PEPStudy", "QUICK", "FULL", "run_study", "blocks", "findings", "TITLE"]

TITLE = "PEP worst cases (exact, no free constant)"


@dataclass(frozen=True)
class PEPStudy:
    """Sizes of the PEP section.

    Attributes
    ----------
    n, T : int
        Devices and rounds of the tightness table.
    tau_v : int
        Personal steps of the rows with ``tau_v`` (``fedalt_tauv_*``).
    check : tuple
        ``(n, T, tau_v)`` of the strict check's FedAlt worst case, run by the simulator.
    """

    n: int
    T: int
    tau_v: int
    check: tuple


QUICK = PEPStudy(n=2, T=2, tau_v=2, check=(2, 2, 3))
"""Quick size: every PEP below about 6 s on one core (the simulator's kernel for the
interpolant compiles once, about 40 s cold)."""
FULL = PEPStudy(n=3, T=3, tau_v=3, check=(2, 3, 3))
"""Full size: FedAlt n = 3, T = 3, tau_v = 3 takes about 40 s and 1 GB (measured on a loaded
2-core machine); n = 3, T = 5, tau_v = 3 took over 6 GB before it was stopped (the u-v
orthogonality constraints grow as the product of the two leaf counts)."""


def run_study(study: PEPStudy, progress=None, folder=None) -> dict:
    """The tightness rows, the strict check's verdicts and every PEP's value and solve time
    (PEPs cached in ``folder``, default ``experiments.pep.cache_dir()``).

    Returns
    -------
    dict
        ``rows`` (``experiments.pep.TightnessRow`` as dicts), ``check`` (spec, measured, value,
        verdicts of the PEP and its mutants), ``error`` (PEPit, cvxpy or clarabel missing: a
        broken installation).
    """
    try:
        from partialfed.experiments import pep
        from partialfed.experiments.checks.pep import pep_mutation
        from partialfed.simulators import run
        from partialfed.theory.pep import PEPSpec
    except (
        ImportError
    ) as exc:  # pragma: no cover - a broken installation (PEPit, cvxpy, clarabel are dependencies)
        return {"error": str(exc)}
    rows = []
    for name, tv in pep.TABLE_BOUNDS:
        tv = study.tau_v if tv > 1 else 1
        r = pep.tightness(name, n=study.n, T=study.T, tau_v=tv, progress=progress, folder=folder)
        rows.append(r.__dict__.copy())
    n, T, tv = study.check
    spec = PEPSpec("fedalt", n=n, T=T, tau_u=1, tau_v=tv)
    result = pep.worst_case(spec, samples=True, progress=progress, folder=folder)
    problem = pep.instance(result)
    history = run(problem, pep.run_config(spec))
    verdicts = pep_mutation(spec, problem, history, folder=folder)
    check = {
        "spec": spec.key(),
        "value": result.value,
        "seconds": result.seconds,
        "measured": pep.measure(spec, history) if history.status == "ok" else float("nan"),
        "verdicts": verdicts,
    }
    return {"rows": rows, "check": check}


def _f(x: float) -> str:
    return f"{x:.5g}"


def blocks(data: dict) -> list[dict]:
    """The section's blocks."""
    if "error" in data:
        return [
            text(
                f"Not computed: {data['error']} (reinstall partialfed: PEPit, cvxpy and "
                "clarabel are its dependencies)."
            )
        ]
    out = [
        text(
            "A performance-estimation problem (PEP) is a semidefinite program whose value is the "
            "exact worst case of a method's measure over a function class "
            "(docs/references.md#pep-federated). Here: FedAlt and FedSim with full participation "
            "and exact gradients, every F_i L-smooth on the joint space (PEPit's interpolation "
            "conditions), given F^0 - F^T <= Delta_F0 = 1, measure = the bound's left-hand side. "
            "Code: `theory/pep.py`, `experiments/pep.py`."
        ),
        text(
            "**Tightness.** Each derived bound at L_u = L_v = L_uv = L_vu = L = 1 (the block "
            "constants of any 1-smooth function, so the PEP's class lies inside the bound's and "
            "bound/PEP >= 1), gamma_u = gamma_v = 1/2, tau_u = 1, m = n (partial-participation "
            "bounds at full participation)."
        ),
    ]
    rows = [
        [
            f"`{r['bound']}`", r["algorithm"], str(r["n"]), str(r["T"]), str(r["tau_v"]),
            _f(r["bound_value"]), _f(r["pep_value"]), f"{r['ratio']:.4f}", f"{r['seconds']:.1f}",
        ]
        for r in data["rows"]
    ]  # fmt: skip
    header = ["bound", "algorithm", "n", "T", "tau_v", "bound", "PEP", "bound/PEP", "solve s"]
    out.append(table(header, rows, name="pep-tightness"))
    c = data["check"]
    s = c["spec"]
    entries = [f"{k}: **{v}**" for k, v in c["verdicts"].items()]
    out.append(
        text(
            f"**Strict check, tau_v = {s['tau_v']} > 1** (no derived bound at the iterates): the "
            f"PEP of FedAlt, n = {s['n']}, T = {s['T']}, gamma = {s['gamma_u']}, measure "
            f"mean_t(Delta_u + Delta_v) at (u^t, V^t), has value {_f(c['value'])} (solved in "
            f"{c['seconds']:.1f} s). Its worst case, as an L-smooth interpolating problem run by "
            f"the simulator, measures {_f(c['measured'])}. Verdicts of the PEP bound and of its "
            "mutants on that run (each mutant must be violated):"
        )
    )
    out.append(bullets(entries))
    return out


def findings(data: dict) -> list[str]:
    """Disagreements: a ratio below 1, a PEP check that fails, a mutant not caught."""
    if not data or "error" in data:
        return []
    out = []
    for r in data["rows"]:
        if r["ratio"] < 1 - 1e-5:
            out.append(
                f"Derived bound `{r['bound']}` is below the PEP worst case (bound/PEP = "
                f"{r['ratio']:.6f}) at n = {r['n']}, T = {r['T']}, tau_v = {r['tau_v']}."
            )
    v = data["check"]["verdicts"]
    if v.get("PEP") != "holds":
        out.append(f"The PEP bound is {v.get('PEP')} on its own worst case.")
    missed = [k for k, x in v.items() if k != "PEP" and x != "violated"]
    if missed:
        out.append(f"PEP mutants not caught on the worst case: {', '.join(missed)}.")
    return out
