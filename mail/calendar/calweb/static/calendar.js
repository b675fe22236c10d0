// caucus: the calendar page's attendee completion. Typing in "Add an
// attendee" asks /mail/calendar/people for the member's contacts and the
// party directory; a suggestion picked joins the attendees' list. Plain
// JavaScript, no build step, served from the binary (no inline script);
// without it the typed address is added when the form is saved.
"use strict";

(function () {
  const input = document.getElementById("addattendee");
  const list = document.getElementById("suggest-attendee");
  const area = document.getElementById("attendees");
  if (!input || !list || !area) return;
  let timer = 0, last = "";
  function add(v) {
    const have = area.value.replace(/\s+$/, "");
    area.value = have ? have + "\n" + v : v;
    input.value = "";
    list.textContent = "";
    last = "";
  }
  input.addEventListener("input", function () {
    for (const o of list.options) {
      if (o.value === input.value) { add(o.value); return; }
    }
    clearTimeout(timer);
    timer = setTimeout(function () {
      const v = input.value.trim();
      if (v === last || v === "") return;
      last = v;
      fetch("/mail/calendar/people?q=" + encodeURIComponent(v), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          list.textContent = "";
          items.forEach(function (it) {
            const o = document.createElement("option");
            o.value = it.value;
            list.appendChild(o);
          });
        }).catch(function () { /* no suggestions */ });
    }, 150);
  });
})();
