"""One-time work done at server start instead of during the first comparison."""

from __future__ import annotations

import logging

from django.template.loader import get_template

from inference import tokens
from inference.backends import http
from playground.rendering import render_markdown

logger = logging.getLogger(__name__)

TEMPLATES = [
    "playground/compare.html",
    "playground/_run.html",
    "playground/_turn.html",
    "playground/_summary.html",
    "playground/_board_head.html",
    "playground/_estimate.html",
    "playground/history.html",
    "playground/shared.html",
]
SAMPLE = "# Warm-up\n\n*Markdown*, a [link](https://example.com), code:\n\n```python\nx = 1\n```\n"


def warm_up() -> None:
    try:
        tokens.warm_up()
        render_markdown(SAMPLE)
        for name in TEMPLATES:
            get_template(name)
        http.ssl_context()
    except Exception:  # a warm-up must never stop the server
        logger.exception("Warm-up failed")
