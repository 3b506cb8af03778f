"""A large document in the browser: typing in a paragraph of a megabyte stays correct.

How fast it is (keystroke to paint) is measured by bench/keystroke.py, not here.
"""

from __future__ import annotations

import random

import pytest

from tests.browser import chromium, make_document, open_editor, wait_export, wait_saved, wait_text
from tests.conftest import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

LOAD_TIMEOUT = 60_000  # ms: a megabyte to send, decode and lay out on a loaded machine
WORDS = "the of and to in is for on with that by this document editor server merge cursor update".split()
MARKED = "**strongly worded**"  # near the end of the paragraph: still highlighted


def one_paragraph(size: int) -> str:
    """About `size` characters of sentences on one line, no blank line anywhere."""
    rng = random.Random(17)
    sentences, length = [], 0
    while length < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))).capitalize() + "."
        sentences.append(sentence)
        length += len(sentence) + 1
    sentences.insert(len(sentences) - 20, MARKED)
    return " ".join(sentences)


def test_typing_in_a_paragraph_of_a_megabyte_stays_correct_and_reaches_the_others(server, owner, editor):
    text = one_paragraph(1_000_000)
    document = make_document(owner, title="One long paragraph", text=text, share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        for page in (page_a, page_b):
            wait_text(page, text, timeout=LOAD_TIMEOUT)

        # Type in the middle of the paragraph, then at its end.
        middle = text.index(" ", len(text) // 2)
        page_a.evaluate(
            "(at) => { const view = window.collab.view; view.focus();"
            " view.dispatch({ selection: { anchor: at }, scrollIntoView: true }); }",
            middle,
        )
        page_a.keyboard.type(" typed in the middle")
        page_a.keyboard.press("Control+End")
        page_a.keyboard.type(" And at the end.")
        expected = text[:middle] + " typed in the middle" + text[middle:] + " And at the end."

        wait_text(page_a, expected, timeout=LOAD_TIMEOUT)
        wait_text(page_b, expected, timeout=LOAD_TIMEOUT)
        wait_saved(page_a, timeout=LOAD_TIMEOUT)
        assert wait_export(server.url, cookie_a, document, expected, timeout=LOAD_TIMEOUT / 1000) == expected

        # The paragraph is still highlighted as Markdown near its end, where the typing happened.
        page_a.wait_for_function(
            """(words) => [...document.getElementById("editor").shadowRoot.querySelectorAll(".cm-content span")]
                .some((span) => span.textContent === words && getComputedStyle(span).fontWeight === "700")""",
            arg=MARKED.strip("*"),
            timeout=LOAD_TIMEOUT,
        )
