"""Render the report's view model (``experiments.report_view``) with Jinja2: ``report.md`` and a
self-contained ``report.html``.

Both files come from templates shipped with the package (``experiments/report_assets/``).
The HTML embeds every figure as a base64 ``data:`` URI and its style sheet inline, so it opens
anywhere without network or JavaScript; Jinja2's autoescape is on for it, and inline Markdown is
rendered by markdown-it with raw HTML disabled, so no value (a label, a knob, a citation) can
inject markup.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

__all__ = ["data_uri", "render", "render_blocks"]

_TEMPLATES = {"md": "report.md.j2", "html": "report.html.j2"}


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _inline(md: str):
    from markupsafe import Markup

    return Markup(_markdown().renderInline(str(md)))


def _block(md: str):
    from markupsafe import Markup

    return Markup(_markdown().render(str(md)))


def _cell(md: str) -> str:
    """A table cell of Markdown: one line, ``|`` escaped."""
    return " ".join(str(md).split()).replace("|", "\\|")


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("partialfed.experiments", "report_assets"),
        autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(inline=_inline, block=_block, cell=_cell)
    return env


def render(view: dict, kind: str) -> str:
    """The report of ``view`` as ``kind`` (``"md"`` or ``"html"``)."""
    if kind not in _TEMPLATES:
        raise ValueError(f"The 'kind' parameter of render must be 'md' or 'html'. Got {kind!r}.")
    env = _env()
    css = env.loader.get_source(env, "report.css")[0] if kind == "html" else ""
    return env.get_template(_TEMPLATES[kind]).render(css=css, **view)


def render_blocks(blocks: list, kind: str = "md", figures: dict | None = None) -> str:
    """One list of blocks alone (a section's body), as Markdown or HTML."""
    if kind not in _TEMPLATES:
        raise ValueError(
            f"The 'kind' parameter of render_blocks must be 'md' or 'html'. Got {kind!r}."
        )
    macros = _env().get_template(f"_blocks.{kind}.j2").module
    return str(macros.blocks(blocks, figures or {}))


def data_uri(path: str | Path, mime: str = "image/png") -> str:
    """The file at ``path`` as a ``data:`` URI."""
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
