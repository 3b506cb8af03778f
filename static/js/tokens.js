// The account page's API tokens: copy a new token's text, confirm a revocation, and
// take the address of the page showing a new token back to the account page, so
// that reloading it shows the page without the token instead of sending the form again.
"use strict";

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        document.execCommand("copy"); // without the clipboard API (an address that is not secure)
      }
      button.textContent = "Copied";
    });
  }
}

function confirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function forgetTheForm() {
  const shown = document.querySelector(".token-new[data-account-url]");
  if (shown) {
    history.replaceState(null, "", shown.dataset.accountUrl);
    shown.scrollIntoView({ block: "center" });
    document.getElementById("new-token").select();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  confirmations();
  forgetTheForm();
});
