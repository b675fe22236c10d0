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
    return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
  }

  function upload(form) {
    const input = form.querySelector('input[type="file"]');
    const bar = form.querySelector("progress");
    const status = form.querySelector("[data-upload-status]");
    const button = form.querySelector('button[type="submit"]');
    const say = function (t) { if (status) status.textContent = t; };
    if (!input || input.files.length === 0) { say("Choose one or more files first."); return; }
    let total = 0;
    for (let i = 0; i < input.files.length; i++) total += input.files[i].size;

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", function (ev) {
      const sent = ev.lengthComputable ? ev.loaded : 0;
      const of = ev.lengthComputable ? ev.total : total;
      if (bar) { bar.max = of || 1; bar.value = sent; }
      say("Sending " + human(sent) + " of " + human(of) + "…");
    });
    xhr.addEventListener("load", function () {
      const data = xhr.response || {};
      button.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        if (bar) bar.value = bar.max;
        say(data.message || "Done.");
        form.dataset.done = "1";
        if (data.next) location.assign(data.next);
      } else {
        say(data.error || ("The server refused the upload (HTTP " + xhr.status + ")."));
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      say("The upload was interrupted. Nothing partial was kept; try again.");
    });
    button.disabled = true;
    if (bar) { bar.hidden = false; bar.value = 0; bar.max = total || 1; }
    say("Sending " + input.files.length + " file(s), " + human(total) + "…");
    // The token first, then each file preceded by its size, so the
    // server checks the token before storing anything and the quota
    // before reading a file.
    const body = new FormData();
    const token = form.querySelector('input[name="csrf"]');
    if (token) body.append("csrf", token.value);
    for (let i = 0; i < input.files.length; i++) {
      body.append("size", String(input.files[i].size));
      body.append("file", input.files[i], input.files[i].name);
    }
    xhr.send(body);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(function (form) {
      form.addEventListener("submit", function (ev) { ev.preventDefault(); upload(form); });
    });
    // Copy buttons next to a link shown once.
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        const el = document.getElementById(btn.dataset.copy);
        if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim());
      });
    });
  });
})();
