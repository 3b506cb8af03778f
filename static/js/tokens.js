// The account page's API tokens (copying and confirming: controls.js): take the address
// of the page showing a new token back to the account page, so that reloading it shows
// the page without the token instead of sending the form again.
"use strict";

function forgetTheForm() {
  const shown = document.querySelector(".token-new[data-account-url]");
  if (shown) {
    history.replaceState(null, "", shown.dataset.accountUrl);
    shown.scrollIntoView({ block: "center" });
    document.getElementById("new-token").select();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  forgetTheForm();
});
