// The live preview: the Markdown rendered by `marked`, then sanitised by
// DOMPurify, so that nothing in a document can run script in the page.
import { marked } from "marked";
import DOMPurify from "dompurify";

const STORAGE_KEY = "collab.preview";
const THROTTLE_MS = 120; // while typing, a quick render runs at most this often
const QUICK_MS = 30; // a render this fast may run while someone types

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Links open in a new tab, without giving it a handle on this page.
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

export function renderMarkdown(text) {
  const html = marked.parse(text, { async: false, gfm: true, breaks: false });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ["style", "form"] });
}

function storedPreference() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return value === null ? null : value === "true";
  } catch {
    return null;
  }
}

/** The split view: editor | preview, toggled by #preview-toggle (aria-pressed). */
export function setupPreview({ ytext, app, pane, output, toggle }) {
  if (!pane || !output || !toggle) return null;
  let shown = false;
  let timer = null;
  let rendered = null;
  let cost = 0; // ms the last render took
  let pendingSince = null; // when the text first changed after the last render

  const render = () => {
    clearTimeout(timer);
    timer = null;
    pendingSince = null;
    if (!shown) return;
    const text = ytext.toString();
    if (text === rendered) return;
    const started = performance.now();
    rendered = text;
    output.innerHTML = renderMarkdown(text);
    output.classList.toggle("is-empty", text.trim() === "");
    cost = performance.now() - started;
  };
  // A render blocks the page, keystrokes included: a slow one (a large document)
  // waits for a pause in the changes, the longer the slower it is, and for at
  // most ten such pauses while the changes go on.
  const schedule = () => {
    if (!shown) return;
    const now = performance.now();
    pendingSince ??= now;
    if (cost <= QUICK_MS) {
      if (timer === null) timer = setTimeout(render, THROTTLE_MS);
      return;
    }
    const pause = Math.min(5000, Math.max(500, 4 * cost));
    clearTimeout(timer);
    timer = setTimeout(render, Math.max(0, Math.min(pause, pendingSince + 10 * pause - now)));
  };

  const show = (on, { remember = true } = {}) => {
    shown = on;
    pane.hidden = !on;
    app.classList.toggle("with-preview", on);
    toggle.setAttribute("aria-pressed", String(on));
    if (remember) {
      try {
        localStorage.setItem(STORAGE_KEY, String(on));
      } catch {
        // private mode: the choice is not remembered
      }
    }
    if (on) render();
  };

  ytext.observe(schedule);
  toggle.addEventListener("click", () => show(!shown));
  const preferred = storedPreference();
  show(preferred === null ? window.matchMedia("(min-width: 1000px)").matches : preferred, { remember: false });
  return { show, render, get shown() { return shown; } };
}
