// caucus "Move your mail in": the jobs' progress updated without a
// reload (polling /mail/import/jobs.json while a job is active), the
// server field only for "Other", and the resumable upload (upload.js
// protocol: see the importweb package's upload.go). Plain JavaScript,
// no build step, served from the binary (the pages' CSP forbids inline
// script). Without script the page still works: forms post, a reload
// shows the progress.
"use strict";

(function () {
  function csrf() {
    const m = document.querySelector('meta[name="csrf"]');
    return m ? m.content : "";
  }

  // The server field matters only for "Other".
  function providerField() {
    const sel = document.getElementById("provider");
    const other = document.getElementById("otherserver");
    if (!sel || !other) return;
    const show = function () { other.hidden = sel.value !== "other"; };
    sel.addEventListener("change", show);
    show();
  }

  // setJob writes a job's progress into its card; it returns false when
  // the card must be rebuilt (a new job, or one that ended).
  function setJob(j) {
    const card = document.getElementById("job-" + j.id);
    if (!card) return false;
    if (card.dataset.active !== String(j.active)) return false;
    card.querySelectorAll("[data-f]").forEach(function (el) {
      const v = j[el.dataset.f];
      if (el.tagName === "PROGRESS") {
        if (v >= 0) el.value = v; else el.removeAttribute("value");
      } else {
        el.textContent = v === undefined || v === null ? "" : String(v);
      }
    });
    return true;
  }

  // poll asks for the jobs' progress while one is active.
  function poll() {
    const box = document.getElementById("jobs");
    if (!box) return;
    const every = Math.max(parseInt(box.dataset.poll, 10) || 2000, 250);
    let pending = false;
    function tick() {
      if (pending || !document.querySelector('.job[data-active="true"]')) return;
      pending = true;
      fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (data) {
          let rebuild = false;
          (data.jobs || []).forEach(function (j) { if (!setJob(j)) rebuild = true; });
          if (rebuild) window.location.replace(box.dataset.page);
        })
        .catch(function () {})
        .finally(function () { pending = false; });
    }
    window.setInterval(tick, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    providerField();
    poll();
  });
})();
