// The moderation admin's times in the moderator's own time zone and language:
// "13:47" today, "7 Dec, 13:47" before, the full date on hover. The server writes
// them in its time zone (collab.admin.local_time); this rewrites each <time>.
"use strict";

function localTimes() {
  const today = new Date().toDateString();
  const time = { hour: "2-digit", minute: "2-digit" };
  const short = new Intl.DateTimeFormat(undefined, time);
  const dated = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", ...time });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  for (const element of document.querySelectorAll("time.collab-time[datetime]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    element.textContent = (when.toDateString() === today ? short : dated).format(when);
    element.title = full.format(when);
  }
}

document.addEventListener("DOMContentLoaded", localTimes);
