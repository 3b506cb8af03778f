// The History pages: local times, and a diff whose every change names who wrote it.
//
// The server renders the diff from the two texts. This replaces it with the one
// Yjs computes from the document's archive (every item ever written, deleted ones
// too) and the two versions' snapshots: each run then knows the client id that
// wrote it, and the server says whose each id is (collab.pages.history.version_changes).
// Whatever fails, the server's diff stays.
import * as Y from "yjs";

const TEXT_NAME = "content";

function bytes(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function localTimes() {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of document.querySelectorAll("time[data-local]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.title = moment.toISOString();
      time.textContent = format.format(moment);
    }
  }
}

// Runs of {insert: text, attributes: {ychange: {type, client}}} from the newer
// snapshot against the older one.
export function attributedRuns(changes) {
  const doc = new Y.Doc({ gc: false });
  Y.applyUpdate(doc, bytes(changes.archive));
  const version = Y.decodeSnapshot(bytes(changes.snapshot));
  const other = changes.previous ? Y.decodeSnapshot(bytes(changes.previous)) : Y.emptySnapshot;
  const [newer, older] = changes.compare === "current" ? [other, version] : [version, other];
  return doc.getText(TEXT_NAME).toDelta(newer, older, (type, id) => ({ type, client: id.client }));
}

// The text on each side of a diff element: without its insertions, without its deletions.
function sides(container) {
  let before = "";
  let after = "";
  for (const node of container.childNodes) {
    const text = node.textContent;
    const tag = node.nodeName;
    if (tag !== "INS") before += text;
    if (tag !== "DEL") after += text;
  }
  return [before, after];
}

function render(runs, authors) {
  const fragment = document.createDocumentFragment();
  for (const run of runs) {
    if (typeof run.insert !== "string") continue;
    const change = run.attributes && run.attributes.ychange;
    if (!change) {
      fragment.append(run.insert);
      continue;
    }
    const element = document.createElement(change.type === "removed" ? "del" : "ins");
    element.textContent = run.insert;
    element.dataset.client = String(change.client);
    const author = authors[String(change.client)];
    if (author) {
      element.title = change.type === "removed" ? `${author.name} (removed text they wrote)` : author.name;
      element.style.setProperty("--author", author.color);
    } else {
      element.title = "Someone unknown";
    }
    fragment.append(element);
  }
  return fragment;
}

async function attribute(container) {
  const response = await fetch(container.dataset.changesUrl, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`changes: HTTP ${response.status}`);
  const changes = await response.json();
  const fragment = render(attributedRuns(changes), changes.authors);
  // Only a diff between the same two texts replaces the server's.
  const probe = document.createElement("pre");
  probe.append(fragment.cloneNode(true));
  const [before, after] = sides(probe);
  const [expectedBefore, expectedAfter] = sides(container);
  if (before !== expectedBefore || after !== expectedAfter) throw new Error("the attributed diff does not match the texts");
  container.replaceChildren(fragment);
}

function start() {
  localTimes();
  const diff = document.getElementById("diff");
  if (!diff || !diff.dataset.changesUrl) return;
  attribute(diff).then(
    () => { document.body.dataset.attributed = "true"; },
    (error) => {
      document.body.dataset.attributed = "failed";
      console.warn("history: kept the plain diff:", error);
    },
  );
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
