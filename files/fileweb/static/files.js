// caucus files: uploads with a progress bar. Plain JavaScript, no build
// step, served from the binary (the pages' CSP forbids inline script).
//
// Every form with data-upload is sent with XMLHttpRequest instead of a page
// load, so the browser reports upload progress. The multipart body holds
// the CSRF token first and each file's size before the file. Without
// script the same form is an ordinary multipart POST.
"use strict";

(function () {
  function human(n) {
    const u = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    const lang = document.documentElement.lang || undefined;
    return n.toLocaleString(lang, { maximumFractionDigits: i === 0 ? 0 : 1, minimumFractionDigits: i === 0 ? 0 : 1 }) + " " + u[i];
  }

  // words are the page's translations, carried by the status element's
  // data-msg-* attributes; {name} is filled in from vars.
  function words(status, key, fallback, vars) {
    let s = (status && status.getAttribute("data-msg-" + key)) || fallback;
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }

  // upload sends list (a FileList or array of File) with form's action,
  // token, progress bar and status line.
  function upload(form, list) {
    const bar = form.querySelector("progress");
    const status = form.querySelector("[data-upload-status]");
    const button = form.querySelector('button[type="submit"]');
    const say = function (t) { if (status) status.textContent = t; };
    if (!list || list.length === 0) { say(words(status, "choose", "Choose one or more files first.")); return; }
    let total = 0;
    for (let i = 0; i < list.length; i++) total += list[i].size;

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", function (ev) {
      const sent = ev.lengthComputable ? ev.loaded : 0;
      const of = ev.lengthComputable ? ev.total : total;
      if (bar) { bar.max = of || 1; bar.value = sent; }
      say(words(status, "progress", "Sending {sent} of {total}…", { sent: human(sent), total: human(of) }));
    });
    xhr.addEventListener("load", function () {
      const data = xhr.response || {};
      button.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        if (bar) bar.value = bar.max;
        say(data.message || words(status, "done", "Done."));
        form.dataset.done = "1";
        if (data.next) location.assign(data.next);
      } else {
        say(data.error || words(status, "refused", "The server refused the upload (HTTP {status}).", { status: xhr.status }));
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      say(words(status, "interrupted", "The upload was interrupted. Nothing partial was kept; try again."));
    });
    button.disabled = true;
    if (bar) { bar.hidden = false; bar.value = 0; bar.max = total || 1; }
    say(words(status, "sending", "Sending {size}…", { size: human(total) }));
    // The token first, then each file preceded by its size, so the
    // server checks the token before storing anything and the quota
    // before reading a file.
    const body = new FormData();
    const token = form.querySelector('input[name="csrf"]');
    if (token) body.append("csrf", token.value);
    for (let i = 0; i < list.length; i++) {
      body.append("size", String(list[i].size));
      body.append("file", list[i], list[i].name);
    }
    xhr.send(body);
  }

  // complete fills the datalist of an input with data-complete from the
  // server's suggestions (members and groups) as the person types.
  function complete(input) {
    const list = document.getElementById(input.getAttribute("list"));
    let timer = 0, last = "";
    input.addEventListener("input", function () {
      const v = input.value;
      if (v === last || !list) return;
      last = v;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(input.dataset.complete + "?q=" + encodeURIComponent(v), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            list.replaceChildren();
            items.forEach(function (it) {
              const o = document.createElement("option");
              o.value = it.value;
              if (it.label !== it.value) o.label = it.label;
              list.appendChild(o);
            });
          }).catch(function () { /* no suggestions */ });
      }, 150);
    });
  }

  // dropUpload makes area take files dragged onto it: they are sent with
  // the upload form named by its data-drop-upload, showing its progress.
  function dropUpload(area) {
    const form = document.getElementById(area.dataset.dropUpload);
    if (!form) return;
    area.querySelectorAll(".drophint").forEach(function (p) { p.hidden = false; });
    const hasFiles = function (ev) {
      return ev.dataTransfer && Array.prototype.indexOf.call(ev.dataTransfer.types, "Files") >= 0;
    };
    let depth = 0;
    area.addEventListener("dragenter", function (ev) {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      depth++;
      area.classList.add("dragging");
    });
    area.addEventListener("dragover", function (ev) {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = "copy";
    });
    area.addEventListener("dragleave", function () {
      if (--depth <= 0) { depth = 0; area.classList.remove("dragging"); }
    });
    area.addEventListener("drop", function (ev) {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      depth = 0;
      area.classList.remove("dragging");
      const bar = form.querySelector("progress");
      if (bar) bar.scrollIntoView({ block: "nearest" });
      upload(form, ev.dataTransfer.files);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-complete]").forEach(complete);
    document.querySelectorAll("form[data-upload]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        const input = form.querySelector('input[type="file"]');
        upload(form, input ? input.files : null);
      });
    });
    document.querySelectorAll("[data-drop-upload]").forEach(dropUpload);
    // Copy buttons next to a link shown once.
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        const el = document.getElementById(btn.dataset.copy);
        if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim());
      });
    });
  });
})();
