// caucus mail: select all, live updates, address completion, drafts saved
// as you write, and attachments by drag-and-drop with progress. Plain
// JavaScript, no build step, served from the binary (the pages' CSP
// forbids inline script). Without script every page still works: forms
// post and links load.
"use strict";

(function () {
  function csrf() {
    const m = document.querySelector('meta[name="csrf"]');
    return m ? m.content : "";
  }
  function human(n) {
    const u = ["B", "kB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    const lang = document.documentElement.lang || undefined;
    return n.toLocaleString(lang, { maximumFractionDigits: i === 0 ? 0 : 1, minimumFractionDigits: i === 0 ? 0 : 1 }) + " " + u[i];
  }

  // Select all.
  function selectAll() {
    const all = document.getElementById("selall");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll('#rows input[name="sel"]').forEach(function (c) { c.checked = all.checked; });
    });
  }

  // Live updates: the server sends "change" events with the changed
  // folders' counters; the side bar is updated, and the list reloaded
  // when its folder changed and nothing is selected.
  function live() {
    const page = document.querySelector("[data-live]");
    if (!page || !window.EventSource) return;
    const box = page.dataset.box;
    const es = new EventSource("/mail/events");
    es.addEventListener("change", function (ev) {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      let mine = data.all;
      (data.boxes || []).forEach(function (b) {
        const c = document.querySelector('[data-unseen="' + b.id + '"]');
        if (c) c.textContent = b.unseen ? String(b.unseen) : "";
        if (String(b.id) === box) mine = true;
      });
      if (mine) refreshList();
    });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) return;
    });
  }
  function refreshList() {
    const rows = document.getElementById("rows") || document.getElementById("empty");
    if (!rows || document.querySelector('#rows input[name="sel"]:checked')) return;
    fetch(location.href, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (html) {
      const doc = new DOMParser().parseFromString(html, "text/html");
      const fresh = doc.getElementById("rows") || doc.getElementById("empty");
      const old = document.getElementById("rows") || document.getElementById("empty");
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
      const h = doc.querySelector("section.list h1"), oh = document.querySelector("section.list h1");
      if (h && oh) oh.replaceWith(document.adoptNode(h));
    }).catch(function () { /* the next event tries again */ });
  }

  // Address completion into the field's datalist.
  function complete() {
    document.querySelectorAll("input[data-complete]").forEach(function (input) {
      const list = document.getElementById(input.getAttribute("list"));
      let timer = 0, last = "";
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          const v = input.value;
          if (v === last) return;
          last = v;
          fetch("/mail/complete?q=" + encodeURIComponent(v), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : []; })
            .then(function (items) {
              if (!list) return;
              list.textContent = "";
              const head = v.lastIndexOf(",") >= 0 ? v.slice(0, v.lastIndexOf(",") + 1) + " " : "";
              items.forEach(function (it) {
                const o = document.createElement("option");
                o.value = head + it.value;
                o.label = it.label;
                list.appendChild(o);
              });
            }).catch(function () { /* no suggestions */ });
        }, 150);
      });
    });
  }

  // The compose form: files chosen or dropped are sent with the form by
  // XMLHttpRequest (so the browser reports progress); drafts are saved
  // every 30 seconds while the text changes.
  function compose() {
    const form = document.querySelector("form[data-compose]");
    if (!form) return;
    const drop = form.querySelector("[data-drop]");
    const input = document.getElementById("attach");
    const listEl = document.getElementById("files");
    const bar = document.getElementById("progress");
    const status = document.getElementById("composestatus");
    const say = function (t) { if (status) status.textContent = t; };
    // The page's translations, in the status element's data-msg-*
    // attributes; {name} is filled in from vars.
    const words = function (key, fallback, vars) {
      let s = (status && status.getAttribute("data-msg-" + key)) || fallback;
      Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
      return s;
    };
    let files = [];
    function show() {
      listEl.textContent = "";
      files.forEach(function (f, i) {
        const li = document.createElement("li");
        li.textContent = f.name + " (" + human(f.size) + ") ";
        const rm = document.createElement("button");
        rm.type = "button"; rm.className = "link"; rm.textContent = words("remove", "Remove");
        rm.addEventListener("click", function () { files.splice(i, 1); show(); });
        li.appendChild(rm);
        listEl.appendChild(li);
      });
    }
    input.addEventListener("change", function () {
      for (let i = 0; i < input.files.length; i++) files.push(input.files[i]);
      input.value = "";
      show();
    });
    ["dragenter", "dragover"].forEach(function (t) {
      drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      drop.addEventListener(t, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault();
      const dt = ev.dataTransfer;
      for (let i = 0; dt && i < dt.files.length; i++) files.push(dt.files[i]);
      show();
    });
    function body(action) {
      const fd = new FormData(form);
      fd.delete("attach");
      fd.set("do", action);
      files.forEach(function (f) { fd.append("attach", f, f.name); });
      return fd;
    }
    let sending = false, saving = null;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (sending) return;
      sending = true;
      const action = ev.submitter && ev.submitter.value === "save" ? "save" : "send";
      // An automatic save under way replaces the draft: wait for it, so
      // the form names the draft that exists.
      (saving || Promise.resolve()).then(function () { submit(action); });
    });
    function submit(action) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable || !bar) return;
        bar.hidden = false; bar.max = e.total; bar.value = e.loaded;
        say(words("sending", "Sending {done} of {total}…", { done: human(e.loaded), total: human(e.total) }));
      });
      xhr.addEventListener("load", function () {
        sending = false;
        if (xhr.responseURL && xhr.status < 400) { location.assign(xhr.responseURL); return; }
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", function () { sending = false; say(words("failed", "The connection failed. Your text is still here; try again.")); });
      xhr.send(body(action));
    }
    // After a draft is saved, the form edits it, and keeps the
    // attachments it now holds (the forwarded message among them).
    function saved(d) {
      if (!d.draft) return;
      document.getElementById("draftref").value = d.draft;
      document.getElementById("keepfrom").value = d.draft;
      document.getElementById("forwardref").value = "";
      const fs = document.getElementById("kept");
      fs.querySelectorAll("label").forEach(function (l) { l.remove(); });
      (d.kept || []).forEach(function (k) {
        const l = document.createElement("label");
        l.className = "plain";
        const c = document.createElement("input");
        c.type = "checkbox"; c.name = "keep"; c.value = k.id; c.checked = true;
        l.appendChild(c);
        l.appendChild(document.createTextNode(" " + k.name + " " + k.size));
        fs.appendChild(l);
      });
      fs.hidden = (d.kept || []).length === 0;
    }
    // Automatic draft saving.
    let dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    setInterval(function () {
      // One save at a time: a save sent while another is on its way
      // would name the draft the first replaces, and the first's draft
      // would stay behind.
      if (!dirty || sending || saving) return;
      dirty = false;
      const fd = body("save");
      fd.delete("attach");
      saving = fetch(form.action, { method: "POST", body: fd, credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (d) { saved(d); say(d.message || ""); })
        .catch(function () { dirty = true; })
        .finally(function () { saving = null; });
    }, Number(form.dataset.autosave) || 30000);
  }

  // Keyboard shortcuts, as in other webmail: c write, / search, and on a
  // message r reply, a reply all, f forward, e archive, u back.
  function keys() {
    const click = function (sel) { const el = document.querySelector(sel); if (el) { el.click(); return true; } return false; };
    document.addEventListener("keydown", function (ev) {
      const t = ev.target;
      if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
      let done = false;
      switch (ev.key) {
        case "c": done = click("#composebtn"); break;
        case "/": { const q = document.getElementById("q"); if (q) { q.focus(); done = true; } break; }
        case "r": done = click("#replybtn"); break;
        case "a": done = click("#replyallbtn"); break;
        case "f": done = click("#forwardbtn"); break;
        case "e": done = click('.read button[value="archive"]'); break;
        case "u": done = click("#backbtn"); break;
      }
      if (done) ev.preventDefault();
    });
  }

  // Drag messages onto a folder to move them: the selected ones, or the
  // one dragged. The move is the list's own form, posted with
  // do=move and the folder as dest.
  function dragMove() {
    const form = document.getElementById("listform");
    if (!form) return;
    form.querySelectorAll("li.row").forEach(function (li) {
      li.draggable = true;
      li.addEventListener("dragstart", function (ev) {
        const own = li.querySelector('input[name="sel"]');
        let sel = Array.from(form.querySelectorAll('input[name="sel"]:checked'), function (c) { return c.value; });
        if (own && sel.indexOf(own.value) < 0) sel = [own.value];
        ev.dataTransfer.setData("application/x-caucus-sel", sel.join(" "));
        ev.dataTransfer.effectAllowed = "move";
      });
    });
    // A mailbox is a drop target only if the Move menu offers it (never
    // a role mailbox's, nor anything on a role mailbox's pages).
    const dest = document.getElementById("dest");
    document.querySelectorAll("#boxes a[data-box]").forEach(function (a) {
      if (!dest || !Array.from(dest.options).some(function (o) { return o.value === a.dataset.box; })) return;
      a.addEventListener("dragover", function (ev) {
        if (ev.dataTransfer.types.indexOf("application/x-caucus-sel") >= 0) { ev.preventDefault(); a.classList.add("over"); }
      });
      a.addEventListener("dragleave", function () { a.classList.remove("over"); });
      a.addEventListener("drop", function (ev) {
        ev.preventDefault();
        a.classList.remove("over");
        const sel = (ev.dataTransfer.getData("application/x-caucus-sel") || "").split(" ").filter(Boolean);
        if (sel.length === 0) return;
        form.querySelectorAll('input[name="sel"]').forEach(function (c) { c.checked = sel.indexOf(c.value) >= 0; });
        dest.value = a.dataset.box;
        const b = form.querySelector('button[value="move"]');
        if (form.requestSubmit) form.requestSubmit(b); else b.click();
      });
    });
  }

  // On a phone the folder list starts folded (without script it stays
  // open, above the page).
  function fold() {
    const side = document.getElementById("side");
    if (side && window.matchMedia("(max-width: 700px)").matches) side.open = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    fold(); selectAll(); dragMove(); live(); complete(); compose(); keys();
  });
})();
