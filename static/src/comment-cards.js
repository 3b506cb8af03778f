// One thread in the comments panel: its quote, its comments, and the boxes and
// buttons to answer, edit, delete, resolve and report. Built from the thread as the
// server sent it, with text nodes only; the panel (comments.js) sends what is done.
import { authorNodes, bodyNodes, limitBox, timeElement } from "./talk.js";

/** The longest comment the server takes (COLLAB_MAX_COMMENT_CHARS), as the page was given it. */
export function commentLimit() {
  return Number(document.getElementById("editor-app")?.dataset.maxCommentChars) || 0;
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

/** Ctrl/Cmd+Enter sends a box's form; Escape runs `onEscape`. */
export function boxKeys(textarea, onEscape) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      textarea.form?.requestSubmit();
    } else if (event.key === "Escape" && onEscape) {
      event.preventDefault();
      onEscape();
    }
  });
}

/**
 * The card of thread `id` in `panel` (a Comments: its flags, userId, reportUrl,
 * send(), setActive(), showInText()). show(thread) draws it again when it changed.
 */
export class ThreadCard {
  constructor(id, panel) {
    this.id = id;
    this.panel = panel;
    this.thread = null;
    this.key = "";
    this.editing = new Map(); // comment id -> its edit box (a form), kept while the thread changes
    this.confirming = new Set(); // comment ids asking "Delete?"

    const el = (this.el = element("li", "thread"));
    el.dataset.threadId = String(id);
    el.tabIndex = -1;
    el.addEventListener("click", (event) => {
      if (!event.target.closest("button, textarea, a, form")) panel.showInText(id, { cover: false });
    });
    const head = element("div", "thread-head");
    const quote = button("", "thread-quote", () => panel.showInText(id));
    quote.title = "Show in the text";
    this.quoteText = element("span", "thread-quote-text");
    quote.append(this.quoteText);
    this.detached = element("span", "thread-label detached", "detached");
    this.detached.title = "The commented text was deleted";
    this.detached.hidden = true;
    this.resolved = element("span", "thread-label resolved");
    head.append(quote, this.detached, this.resolved);
    this.comments = element("ol", "thread-comments");
    this.actions = element("div", "thread-actions");
    this.resolve = button("", "link thread-resolve", () => {
      if (this.thread) panel.send({ type: "thread.resolve", thread: id, resolved: !this.thread.resolved });
    });
    this.actions.append(this.resolve);
    this.reply = this.replyForm();
    el.append(head, this.comments, this.actions, this.reply);
  }

  /** Draw `thread` (nothing to do when neither it nor what this person may do changed). */
  show(thread) {
    const key = `${thread.seq}:${this.panel.flags.can_comment}`;
    this.thread = thread;
    if (key === this.key) return;
    this.key = key;
    this.fill();
  }

  /** Whether the detached label shows. */
  setDetached(detached) {
    this.detached.hidden = !detached;
    this.el.classList.toggle("is-detached", detached);
  }

  fill() {
    const { thread } = this;
    const can = this.panel.flags.can_comment;
    this.quoteText.textContent = thread.quote || "…";
    this.el.classList.toggle("is-resolved", Boolean(thread.resolved));
    this.resolved.hidden = !thread.resolved;
    this.resolved.textContent = thread.resolved_by ? `Resolved by ${thread.resolved_by}` : "Resolved";
    this.resolve.textContent = thread.resolved ? "Reopen" : "Resolve";
    this.actions.hidden = !can;
    this.reply.hidden = !can || Boolean(thread.resolved);
    const comments = Array.isArray(thread.comments) ? thread.comments : [];
    this.comments.replaceChildren(...comments.map((comment) => this.commentItem(comment)));
  }

  /** Draw again after this page changed a comment's state; focus `selector` in comment `commentId`. */
  refill(commentId, selector = null) {
    this.fill();
    if (selector) this.el.querySelector(`[data-comment-id="${commentId}"] ${selector}`)?.focus();
  }

  replyForm() {
    const form = element("form", "reply-form");
    const label = element("label", "visually-hidden", "Reply");
    const textarea = element("textarea", "comment-box");
    textarea.id = `reply-${this.id}`;
    label.htmlFor = textarea.id;
    textarea.rows = 1;
    textarea.placeholder = "Reply…";
    boxKeys(textarea, () => textarea.blur()); // what was written stays
    const send = element("button", "button small primary", "Reply");
    send.type = "submit";
    form.append(label, textarea, send);
    const tooLong = limitBox(textarea, commentLimit());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = textarea.value.trim();
      if (!body || tooLong()) return;
      const done = () => (textarea.value = "");
      this.panel.send({ type: "comment.create", thread: this.id, body }, { form, done });
    });
    return form;
  }

  mine(comment) {
    const me = this.panel.userId;
    return me !== null && comment.author?.user_id === me && !comment.deleted;
  }

  commentItem(comment) {
    const item = element("li", "comment");
    item.dataset.commentId = String(comment.id);
    const author = comment.author || {};
    const meta = element("div", "comment-meta");
    meta.append(...authorNodes(author), timeElement(comment.created));
    if (comment.edited && !comment.deleted) {
      const edited = element("span", "edited", "(edited)");
      edited.title = new Date(comment.edited).toLocaleString();
      meta.append(edited);
    }
    item.append(meta);
    if (author.banned) item.classList.add("by-banned");
    if (comment.deleted) {
      item.classList.add("is-deleted");
      item.append(element("p", "comment-body deleted", "Comment deleted"));
      return item;
    }
    const editing = this.editing.get(comment.id);
    if (editing) {
      item.append(editing);
      return item;
    }
    const body = element("p", "comment-body");
    body.append(...bodyNodes(comment.body || ""));
    item.append(body);
    if (this.mine(comment)) {
      if (this.panel.flags.can_comment) item.append(this.ownActions(comment));
    } else if (this.panel.reportUrl) {
      const actions = element("div", "comment-actions");
      const report = element("a", "comment-report", "Report");
      report.href = `${this.panel.reportUrl}?comment=${comment.id}`;
      report.setAttribute("aria-label", `Report this comment by ${author.name || "someone"}`);
      actions.append(report);
      item.append(actions);
    }
    return item;
  }

  ownActions(comment) {
    const actions = element("div", "comment-actions");
    if (this.confirming.has(comment.id)) {
      const question = element("span", "confirm", "Delete this comment?");
      const yes = button("Delete", "link danger", () => {
        this.confirming.delete(comment.id);
        this.refill(comment.id, ".comment-edit");
        this.panel.send({ type: "comment.delete", comment: comment.id });
      });
      const no = button("Cancel", "link", () => {
        this.confirming.delete(comment.id);
        this.refill(comment.id, ".comment-edit");
      });
      actions.append(question, yes, no);
      return actions;
    }
    const edit = button("Edit", "link comment-edit", () => this.startEdit(comment));
    const remove = button("Delete", "link comment-delete", () => {
      this.confirming.add(comment.id);
      this.refill(comment.id, ".confirm + button");
    });
    actions.append(edit, remove);
    return actions;
  }

  startEdit(comment) {
    const form = element("form", "edit-form");
    const label = element("label", "visually-hidden", "Edit your comment");
    const textarea = element("textarea", "comment-box");
    textarea.id = `edit-${comment.id}`;
    label.htmlFor = textarea.id;
    textarea.value = comment.body;
    const stop = () => {
      this.editing.delete(comment.id);
      this.refill(comment.id, ".comment-edit");
    };
    boxKeys(textarea, stop);
    const save = element("button", "button small primary", "Save");
    save.type = "submit";
    const row = element("div", "form-row");
    row.append(save, button("Cancel", "button small", stop));
    form.append(label, textarea, row);
    const tooLong = limitBox(textarea, commentLimit());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = textarea.value.trim();
      if (!body || tooLong()) return;
      if (body === comment.body) stop();
      else this.panel.send({ type: "comment.edit", comment: comment.id, body }, { form, done: stop });
    });
    this.editing.set(comment.id, form);
    this.fill();
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }
}
