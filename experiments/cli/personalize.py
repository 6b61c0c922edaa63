"""The ``personalize`` verb of ``partialfed``: which coordinates to personalize, on the planted
family (``experiments.personalize``).

Every ``--set KEY=VALUE`` goes, by its name, to one of the three library functions:
``planted_family`` (the family's knobs), ``recover`` (Split LBI and the vote) or
``compare_blocks`` (the FedAlt runs). Lists are allowed for ``support`` and ``seeds`` only.
"""

from __future__ import annotations

import argparse
import inspect
import math

from partialfed.experiments.cli._common import UsageError, add_set, print_json, single_values

__all__ = ["PERSONALIZE_EXAMPLE", "add_personalize", "personalize", "STAGES"]

PERSONALIZE_EXAMPLE = """examples:
  partialfed personalize
  partialfed personalize --set size=auto
  partialfed personalize --set jitter=0.3 --set planted=5 --set draws=12 --json"""

#: The library function each ``--set`` key goes to, by stage (imported by the handler).
STAGES = ("family", "recover", "compare")
_LISTS = ("support", "seeds")
_NOT_SET = ("shared", "recovered", "family")  # arrays or objects, not command-line values


def add_personalize(p: argparse.ArgumentParser) -> None:
    add_set(
        p,
        "a knob of planted_family (n, d, planted, support, scale, gamma_G, w1, decay, jitter, "
        "seed), of recover (kappa, alpha, nu, iters, record_every, quorum) or of compare_blocks "
        "(draws, seeds, T, gamma_u, gamma_v, tau_u, tau_v, m, draw_seed, size: an int or auto, "
        "the block chosen from the path without knowing the planted size)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _keywords(fn) -> list[str]:
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _NOT_SET]


def _route(pairs, functions: dict) -> dict:
    """``stage -> {key: value}`` from the ``--set`` texts (the last value of a key wins)."""
    from partialfed._constraints import check_names
    from partialfed.experiments.config import parse_assignment

    single_values(pairs, "personalize", lists_ok=_LISTS)
    owner = {key: stage for stage, fn in functions.items() for key in _keywords(fn)}
    out = {stage: {} for stage in functions}
    for text in pairs:
        key, value = parse_assignment(text)
        try:
            check_names([key], owner, "partialfed personalize --set", noun="key")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        out[owner[key]][key] = value
    return out


def _nan_to_none(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def personalize(args: argparse.Namespace) -> int:
    """``partialfed personalize``: recover the planted block and compare FedAlt with it, with the
    true block and with random blocks (``experiments.personalize``); exit 0 once reported."""
    import numpy as np

    from partialfed.experiments.personalize import recover, stable_block, stretches
    from partialfed.experiments.personalize_compare import compare_blocks
    from partialfed.experiments.personalize_family import planted_family

    functions = dict(zip(STAGES, (planted_family, recover, compare_blocks), strict=True))
    given = _route(args.set, functions)
    family = planted_family(**given["family"])
    rec = recover(family, **given["recover"])
    cmp = compare_blocks(family, rec, **given["compare"])
    exact = np.flatnonzero((rec.voted == rec.truth).all(axis=1))
    outside = np.flatnonzero((rec.voted & ~rec.truth).any(axis=1))
    span = [
        float(rec.time[exact[0]]) if exact.size else None,
        float(rec.time[outside[0]]) if outside.size else None,
    ]
    precision, recall = rec.at_planted_size()
    block = cmp.blocks["recovered"]
    auto = stable_block(rec) if stretches(rec) else None  # None: only empty or full sets
    auto_out = None
    if auto is not None:
        auto_out = dict(
            block=auto.block.tolist(),
            size=int(auto.block.size),
            start=auto.start,
            end=auto.end,
            censored=auto.censored,
            decided=auto.decided,
            log_length=auto.length,
            margin=_nan_to_none(auto.margin),
        )
    if args.json:
        print_json(
            {
                "family": dict(family.knobs),
                "support": family.support.tolist(),
                "order": rec.order.tolist(),
                "block": block.tolist(),
                "auto": auto_out,
                "precision": precision,
                "recall": recall,
                "exactly_S_from_to": span,
                "path": {
                    "time": rec.time.tolist(),
                    "voted": rec.voted.sum(axis=1).tolist(),
                    "precision": [_nan_to_none(float(x)) for x in rec.precision],
                    "recall": rec.recall.tolist(),
                },
                "gap": {k: dict(mean=g.mean, lo=g.lo, hi=g.hi) for k, g in cmp.gap.items()},
                "optimum": cmp.optimum,
                "share": _nan_to_none(cmp.share),
                "beats_random": cmp.beats_random(),
                "fedalt": cmp.config,
            }
        )
        return 0
    g_rec, g_rand = cmp.gap["recovered"], cmp.gap["random"]
    until = "the end of the path" if span[1] is None else f"t = {span[1]:.4g}"
    lines = [
        f"planted set S: {family.support.tolist()}  (n={family.n}, d={family.d}, "
        f"jitter={family.knobs['jitter']:g})",
        f"voting order: {rec.order.tolist()}",
        f"block at the planted size: {rec.block().tolist()}  precision {precision:.3f}, recall "
        f"{recall:.3f}",
        "block chosen without the planted size (longest stable voted set in log path time): "
        + (
            "none (no voted set other than the empty and the full one)"
            if auto is None
            else f"{auto.block.tolist()} (size {auto.block.size}), t = {auto.start:.4g} to "
            f"{auto.end:.4g}{' (path end)' if auto.censored else ''}, "
            f"margin {auto.margin:.3g} over the next longest"
            + ("" if auto.decided else " (undecided: the censored last stretch may outlast it)")
        ),
        f"compared block (size {block.size}): {block.tolist()}",
        "voted set exactly S: "
        + ("never" if span[0] is None else f"from path time t = {span[0]:.4g} until {until}"),
        f"FedAlt final loss minus the true block's (95% interval): recovered {g_rec.mean:.4g} "
        f"[{g_rec.lo:.4g}, {g_rec.hi:.4g}]; random ({cmp.config['draws']} draws) "
        f"{g_rand.mean:.4g} [{g_rand.lo:.4g}, {g_rand.hi:.4g}]",
        "exact optima: " + ", ".join(f"{k} {v:.4g}" for k, v in cmp.optimum.items()),
        f"recovered block beats random blocks: {'yes' if cmp.beats_random() else 'no'} "
        f"(share of their excess removed: {cmp.share:.3f})",
    ]
    print("\n".join(lines))
    return 0
