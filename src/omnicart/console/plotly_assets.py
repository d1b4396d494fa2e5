"""Plotly's JavaScript as the `plotly` package ships it, made to live under the console's
Content-Security-Policy (no inline style).

plotly.js injects two kinds of inline `<style>` when it loads or draws: its own rules
(skipped when an element `#plotly.js-style-global.no-inline-styles` exists: the console's
`<link>` to `plotly_css()`, those same rules read out of the shipped bundle, so they match
its version), and bundled stylesheets of map libraries the console never draws (skipped
when an element with their id exists: `style_ids()`, placeholders in the page's head).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path

PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
# The bundle's rules: {"X,X div":'direction:ltr;…', …}; X and Y stand for these selectors
# (plotly.js src/css/_base.scss and its build step).
_PREFIXES = {"X": ".js-plotly-plot .plotly", "Y": ".plotly-notifier"}
_RULE = re.compile(r'"((?:[^"\\]|\\.)+)":(?:\'((?:[^\'\\]|\\.)*)\'|"((?:[^"\\]|\\.)*)")([,}])')
_STYLE_ID = re.compile(
    r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)'
)


@cache
def _bundle() -> str:
    return PLOTLY_JS.read_text(encoding="utf-8")


@cache
def plotly_css() -> str:
    """plotly.js's own style rules, as a stylesheet (empty if the bundle has none we know)."""
    text = _bundle()
    start = text.find('"X,X div":')
    rules = []
    while start >= 0:
        found = _RULE.match(text, start)
        if found is None:
            break
        selector = found[1].replace("X", _PREFIXES["X"]).replace("Y", _PREFIXES["Y"])
        rules.append(f"{selector}{{{found[2] if found[2] is not None else found[3]}}}")
        start = -1 if found[4] == "}" else found.end()
    return "\n".join(rules) + "\n"


@cache
def style_ids() -> tuple[str, ...]:
    """Ids of the stylesheets the bundle injects on load unless an element has the id."""
    return tuple(dict.fromkeys(_STYLE_ID.findall(_bundle())))
