// caucus: the WebAuthn ceremonies of the sign-in and security pages.
// Plain JavaScript, no build step, served from the binary (no inline script).
"use strict";

(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf() {
    const m = document.querySelector('meta[name="csrf"]');
    return m ? m.content : "";
  }
  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error(data.error || words("refused", "The server refused the request."));
    return data;
  }
  function creationOptions(o) {
    const pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    const pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk, mediation: o.mediation || undefined };
  }
  function encodeCreation(c) {
    const r = c.response;
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        attestationObject: bufToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      },
    };
  }
  function encodeAssertion(c) {
    const r = c.response;
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        authenticatorData: bufToB64url(r.authenticatorData),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : undefined,
      },
    };
  }

  // words are the page's own translations, carried by the status
  // element's data-msg-* attributes (ui layout, template "webauthn-status").
  function words(key, fallback) {
    const s = document.querySelector("[data-msg-prompt]");
    const v = s && s.getAttribute("data-msg-" + key);
    return v || fallback;
  }

  async function run(btn) {
    const status = document.getElementById(btn.dataset.status || "status");
    const say = function (t) { if (status) status.textContent = t; };
    if (!window.PublicKeyCredential) { say(words("unsupported", "This browser cannot use passkeys or security keys.")); return; }
    btn.disabled = true;
    try {
      const mode = btn.dataset.webauthn;
      if (mode === "register") {
        const nameField = document.getElementById(btn.dataset.nameField || "credname");
        const name = nameField ? nameField.value.trim() : "";
        if (!name) { say(words("name", "Give it a name first, for example “Blue key” or “My phone”.")); return; }
        say(words("prompt", "Follow your browser's prompt…"));
        const opts = await post("/webauthn/register/begin", { kind: btn.dataset.kind });
        const cred = await navigator.credentials.create(creationOptions(opts));
        const done = await post("/webauthn/register/finish?name=" + encodeURIComponent(name), encodeCreation(cred));
        location.assign(done.next || "/account");
      } else if (mode === "login" || mode === "passkey") {
        say(words("prompt", "Follow your browser's prompt…"));
        const base = mode === "passkey" ? "/login/passkey" : "/login/webauthn";
        const opts = await post(base + "/begin");
        const cred = await navigator.credentials.get(requestOptions(opts));
        const done = await post(base + "/finish?next=" + encodeURIComponent(btn.dataset.next || ""), encodeAssertion(cred));
        location.assign(done.next || "/account");
      }
    } catch (e) {
      say(e && e.name === "NotAllowedError" ? words("cancelled", "Cancelled or timed out. Try again.") : (e.message || String(e)));
    } finally {
      btn.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-webauthn]").forEach(function (btn) {
      btn.addEventListener("click", function (ev) { ev.preventDefault(); run(btn); });
    });
    document.querySelectorAll("[data-print]").forEach(function (btn) {
      btn.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) { if (!confirm(f.dataset.confirm)) ev.preventDefault(); });
    });
  });
})();
