"""Keystroke to paint in the editor, in headless Chromium, for large documents.

Starts one daphne worker (`manage.py serve`, via `tests/servers.py`) on a
fresh SQLite database, stores two documents of about `--size` characters:

- *markdown*: ordinary Markdown (headings, paragraphs, lists, quotes, code);
- *paragraph*: one paragraph, words and inline marks without a blank line;

opens each in the editor with the preview off and on, puts the cursor in the
middle of the text and types `--keys` characters, one every `--pace-ms`. For
each key the page measures from the keydown event's timestamp (when the input
reached the page) to the first task after the next frame (after the paint), so
the figure holds whatever the keystroke waited for: the editor's update, the
Markdown parser, the preview, work already running when the key came. Prints
p50, p95 and max per case, and checks that the text holds what was typed.

    .venv/bin/python bench/keystroke.py [--size 1000000] [--keys 60] [--pace-ms 120]

It serves `staticfiles/` as it is: run `make setup` first.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'data' / 'bench-keystroke.sqlite3'}"
WORDS = (
    "the a of and to in is for on with that by this be are from at as it an or new was which we can all "
    "document editor server client update merge cursor paragraph heading keystroke latency parse render "
    "preview worker room presence share owner viewer link title export change version"
).split()

# The page measures each keydown to the task after the frame that follows it.
# (A function, not an expression: the page's Content-Security-Policy forbids eval.)
PROBE = """() => {
  window.keystrokes = [];
  window.addEventListener("keydown", (event) => {
    const start = event.timeStamp;
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => window.keystrokes.push(performance.now() - start);
      channel.port2.postMessage(null);
    });
  }, true);
}"""

# Resolves once the page is idle: no parse, render or layout left over from loading.
QUIET = """() => new Promise((resolve) => {
  const check = (deadline) => (deadline.timeRemaining() >= 45 ? resolve() : requestIdleCallback(check));
  requestIdleCallback(check);
})"""

# The cursor goes to the end of the line holding the middle of the text, in view.
MIDDLE = """() => {
  const view = window.collab.view;
  const line = view.state.doc.lineAt(Math.floor(view.state.doc.length / 2));
  view.focus();
  view.dispatch({ selection: { anchor: line.to }, scrollIntoView: true });
  return line.to;
}"""


def sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(max(words, 4))]
    marks = rng.random()
    if marks < 0.15:
        chosen[1] = f"**{chosen[1]}**"
    elif marks < 0.3:
        chosen[2] = f"*{chosen[2]}*"
    elif marks < 0.4:
        chosen[1] = f"`{chosen[1]}()`"
    elif marks < 0.5:
        chosen[3] = f"[{chosen[3]}](https://example.com/{chosen[3]})"
    return " ".join(chosen).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng, rng.randint(6, 16)) for _ in range(sentences))


def ordinary_markdown(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    length = 0
    section = 0
    while length < size:
        section += 1
        block = [f"## Section {section}: {sentence(rng, 4)[:-1]}", paragraph(rng, rng.randint(2, 6))]
        block.append("\n".join(f"- {sentence(rng, rng.randint(3, 9))}" for _ in range(rng.randint(2, 5))))
        block.append(paragraph(rng, rng.randint(1, 4)))
        if section % 3 == 0:
            block.append("> " + paragraph(rng, 2))
        if section % 4 == 0:
            block.append("```python\n" + "\n".join(f"x{i} = compute({i})" for i in range(rng.randint(2, 6))) + "\n```")
        text = "\n\n".join(block)
        parts.append(text)
        length += len(text) + 2
    return "\n\n".join(parts)[:size]


def one_paragraph(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        text = sentence(rng, rng.randint(6, 16))
        parts.append(text)
        length += len(text) + 1
    return " ".join(parts)[:size]


def make_documents(texts: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A user, a session cookie and a stored document per text."""
    from django.contrib.auth import get_user_model

    from tests.browser import make_document
    from tests.conftest import session_cookie

    user, _ = get_user_model().objects.get_or_create(username="bench")
    ids = {
        name: str(make_document(user, title=f"keystroke bench: {name}", text=text).id) for name, text in texts.items()
    }
    return session_cookie(user), ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure(browser, base_url: str, cookie: str, document_id: str, *, preview: bool, keys: int, pace: float):
    """Keystroke-to-paint latencies (ms) of `keys` characters typed into the document."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": base_url}])
    context.add_init_script(f"localStorage.setItem('collab.preview', '{str(preview).lower()}')")
    page = context.new_page()
    try:
        page.goto(f"{base_url}/docs/{document_id}/")
        page.wait_for_function(
            "() => document.body.dataset.connection === 'connected' && document.body.dataset.synced === 'true'",
            timeout=120_000,
        )
        before = page.evaluate("() => window.collab.text().length")
        page.evaluate(PROBE)
        position = page.evaluate(MIDDLE)
        page.evaluate(QUIET)  # let the first parse and the preview settle
        page.evaluate("() => { window.keystrokes.length = 0; }")
        typed = "".join(random.Random(7).choice("abcdefghij klmnop") for _ in range(keys))
        for char in typed:
            started = time.monotonic()
            page.keyboard.press("Space" if char == " " else char)
            time.sleep(max(0.0, pace - (time.monotonic() - started)))
        page.wait_for_function("n => window.keystrokes.length >= n", arg=keys, timeout=60_000)
        latencies = page.evaluate("() => window.keystrokes")
        text = page.evaluate("() => window.collab.text()")
        correct = len(text) == before + keys and text[position : position + keys] == typed
        return latencies[:keys], correct
    finally:
        context.close()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="characters per document (default 1,000,000)")
    parser.add_argument("--keys", type=int, default=60, help="characters typed per case (default 60)")
    parser.add_argument("--pace-ms", type=float, default=120, help="milliseconds between keys (default 120)")
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE_URL,
        help="a database the bench may drop and create; its name must contain 'bench' (default: SQLite in data/)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_django(reset_database(args.database))
    from tests.browser import chromium
    from tests.servers import Server

    rng = random.Random(27)
    texts = {"markdown": ordinary_markdown(args.size, rng), "paragraph": one_paragraph(args.size, rng)}
    cookie, ids = make_documents(texts)
    print(f"keystroke to paint, {args.keys} keys at one per {args.pace_ms:g} ms, documents of {args.size:,} characters")
    print(f"{'document':<10} {'preview':<8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  text")
    with Server(log_name="bench-keystroke") as server, chromium() as browser:
        for name in texts:
            for preview in (False, True):
                latencies, correct = measure(
                    browser, server.url, cookie, ids[name], preview=preview, keys=args.keys, pace=args.pace_ms / 1000
                )
                print(
                    f"{name:<10} {'on' if preview else 'off':<8} {percentile(latencies, 0.5):>8.1f}"
                    f" {percentile(latencies, 0.95):>8.1f} {max(latencies):>8.1f}  {'ok' if correct else 'WRONG'}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
