// The document's title: on the page and in the tab, changed live when the owner
// renames it (the server's "title" extension message). The owner's rename form
// is sent in the background, so renaming does not reload the editor.
import { onExtension } from "./extensions.js";

const SUFFIX = " · collab";

export function showTitle(title) {
  document.title = `${title}${SUFFIX}`;
  const app = document.getElementById("editor-app");
  if (app) app.dataset.title = title;
  for (const id of ["doc-heading", "doc-title-static"]) {
    const element = document.getElementById(id);
    if (element) element.textContent = title;
  }
  const input = document.getElementById("doc-title");
  if (input && document.activeElement !== input) input.value = title;
  if (input) input.defaultValue = title;
}

async function formError(response) {
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const error = page.querySelector(".field-errors, .form-errors");
  return error ? error.textContent.trim() : "Could not rename";
}

/** Show the title the server says, on every connection (renamed here, in another tab, by the owner). */
export function followTitle(provider) {
  onExtension(provider, "title", ({ title }) => {
    if (typeof title === "string") showTitle(title);
  });
}

export function setupRename() {
  const input = document.getElementById("doc-title");
  const form = input && input.form;
  if (!form) return;
  const status = document.createElement("span");
  status.className = "rename-status";
  status.setAttribute("role", "status");
  form.append(status);

  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      input.value = input.defaultValue;
      input.blur();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = input.value.trim();
    status.textContent = "";
    delete status.dataset.state;
    input.removeAttribute("aria-invalid");
    form.classList.add("busy");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
      });
      // An invalid title (empty, only spaces) comes back as the rename page with
      // the server's own form error and 400: say that error here.
      if (response.status === 400) {
        status.textContent = await formError(response);
        status.dataset.state = "error";
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      // Success redirects to this document; an ended session to the login page.
      if (!response.ok || !response.redirected || new URL(response.url).pathname !== location.pathname) {
        throw new Error(`rename answered ${response.status} from ${response.url}`);
      }
      showTitle(title);
      input.blur();
      status.textContent = "Renamed";
      setTimeout(() => {
        status.textContent = "";
      }, 2000);
    } catch (err) {
      console.warn("collab: rename failed", err);
      status.textContent = "Could not rename";
    } finally {
      form.classList.remove("busy");
    }
  });
}
