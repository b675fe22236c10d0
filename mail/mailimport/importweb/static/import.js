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
    if (!j.active) return true; // ended before: listed without its counts
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

// The resumable upload (protocol in the importweb package's upload.go):
// declare the file, then send it piece by piece from the offset the
// server has; after a dropped connection ask the server where it stands
// and go on; after a reload, choosing the same file resumes it.
(function () {
  function csrf() {
    const m = document.querySelector('meta[name="csrf"]');
    return m ? m.content : "";
  }
  function human(n) {
    const u = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    const lang = document.documentElement.lang || undefined;
    return n.toLocaleString(lang, { maximumFractionDigits: i === 0 ? 0 : 1, minimumFractionDigits: i === 0 ? 0 : 1 }) + " " + u[i];
  }
  function fill(text, args) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in args ? args[k] : m; });
  }
  // send makes one request; it resolves with {status, body, offset}.
  function send(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      const x = new XMLHttpRequest();
      x.open(method, url);
      x.setRequestHeader("X-CSRF-Token", csrf());
      Object.keys(headers || {}).forEach(function (k) { x.setRequestHeader(k, headers[k]); });
      if (onProgress) x.upload.onprogress = function (e) { onProgress(e.loaded); };
      x.onload = function () {
        let data = {};
        try { data = JSON.parse(x.responseText || "{}"); } catch (e) { data = {}; }
        resolve({ status: x.status, body: data, offset: x.getResponseHeader("Upload-Offset") });
      };
      x.onerror = function () { reject(new Error("network")); };
      x.send(body);
    });
  }
  function sleep(ms) { return new Promise(function (r) { window.setTimeout(r, ms); }); }

  function setup() {
    const box = document.getElementById("upload");
    const input = document.getElementById("uploadfile");
    const button = document.getElementById("uploadstart");
    const bar = document.getElementById("uploadbar");
    const status = document.getElementById("uploadstatus");
    if (!box || !input || !button) return;
    const chunk = parseInt(box.dataset.chunk, 10) || 4 << 20;
    function show(done, size) {
      bar.hidden = false;
      bar.value = size > 0 ? Math.floor(done * 100 / size) : 0;
      status.textContent = fill(box.dataset.msgProgress, { got: human(done), size: human(size) });
    }
    async function run(file) {
      const form = new URLSearchParams({ name: file.name, size: String(file.size) });
      const made = await send("POST", box.dataset.url, form, { "Content-Type": "application/x-www-form-urlencoded" });
      if (made.status !== 201) throw new Error(made.body.error || box.dataset.msgFailed);
      const url = box.dataset.url + "/" + made.body.id;
      let offset = made.body.offset;
      let wait = 1000;
      let handed = made.body.state === "handed";
      show(offset, file.size);
      while (offset < file.size) {
        const piece = file.slice(offset, Math.min(offset + chunk, file.size));
        let res;
        try {
          res = await send("PATCH", url, piece, { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
            function (n) { show(offset + n, file.size); });
        } catch (e) {
          res = { status: 0, body: {} };
        }
        if (res.status === 200) { offset = file.size; handed = true; break; }
        if (res.status === 204) { offset = parseInt(res.offset, 10); wait = 1000; show(offset, file.size); continue; }
        if (res.status !== 0 && res.status !== 409 && res.status < 500 && res.status !== 400) throw new Error(res.body.error || box.dataset.msgFailed);
        // Cut off, or out of step: ask where the upload stands, then go on.
        status.textContent = box.dataset.msgRetrying;
        await sleep(wait);
        wait = Math.min(wait * 2, 30000);
        try {
          const st = await send("GET", url, null, {});
          if (st.status === 200) offset = st.body.offset;
          if (st.status === 200 && st.body.state === "handed") { offset = file.size; handed = true; break; }
        } catch (e) { /* still offline: try again */ }
      }
      if (!handed) {
        // Every byte was in, but the job had not started (the answer to
        // the last piece was lost): an empty piece at the end starts it.
        const last = await send("PATCH", url, new Blob([]), { "Upload-Offset": String(file.size), "Content-Type": "application/offset+octet-stream" });
        if (last.status !== 200) throw new Error(last.body.error || box.dataset.msgFailed);
      }
      bar.value = 100;
      status.textContent = box.dataset.msgDone;
      window.location.replace("/mail/import");
    }
    // Forget an unfinished upload: the server deletes what it has.
    document.querySelectorAll("button.forget").forEach(function (f) {
      f.addEventListener("click", function () {
        send("DELETE", box.dataset.url + "/" + f.dataset.id, null, {}).then(function () { window.location.replace("/mail/import"); });
      });
    });
    button.addEventListener("click", function () {
      const file = input.files && input.files[0];
      if (!file) { status.textContent = box.dataset.msgChoose; return; }
      if (file.size > parseInt(box.dataset.max, 10)) { status.textContent = box.dataset.msgTooLarge; return; }
      button.disabled = true;
      run(file).catch(function (e) { status.textContent = e.message; button.disabled = false; });
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
})();
