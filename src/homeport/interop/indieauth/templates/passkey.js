// The provider's sign-in and passkey pages: WebAuthn in the browser, checked by the provider.
"use strict";

function fromB64(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

function toB64(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function options() {
  return JSON.parse(document.getElementById("webauthn-options").textContent);
}

function say(text) {
  document.getElementById("status").textContent = text;
}

async function post(url, body) {
  const answer = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
  const found = await answer.json();
  if (!answer.ok) throw new Error(found.error_description || found.error || answer.status);
  return found;
}

async function approve(form) {
  const o = options();
  o.challenge = fromB64(o.challenge);
  o.allowCredentials = (o.allowCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) }));
  const made = await navigator.credentials.get({ publicKey: o });
  const r = made.response;
  const credential = {
    id: made.id,
    rawId: toB64(made.rawId),
    type: made.type,
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      authenticatorData: toB64(r.authenticatorData),
      signature: toB64(r.signature),
      userHandle: r.userHandle ? toB64(r.userHandle) : null,
    },
    clientExtensionResults: made.getClientExtensionResults(),
  };
  const scope = [...form.querySelectorAll("input[name=scope]:checked")].map((i) => i.value);
  const found = await post(form.dataset.post, { pending: form.dataset.pending, scope, credential });
  window.location.assign(found.location);
}

async function register(form) {
  const o = options();
  o.challenge = fromB64(o.challenge);
  o.user.id = fromB64(o.user.id);
  o.excludeCredentials = (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) }));
  const made = await navigator.credentials.create({ publicKey: o });
  const r = made.response;
  const credential = {
    id: made.id,
    rawId: toB64(made.rawId),
    type: made.type,
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      attestationObject: toB64(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : [],
    },
    clientExtensionResults: made.getClientExtensionResults(),
  };
  const found = await post(form.dataset.post, { ticket: form.dataset.ticket, credential });
  window.location.assign(found.location);
}

async function askHome(form) {
  const pending = form.dataset.pending;
  await post(form.dataset.ask, { pending });
  say("Waiting for your approval on your home's admin page (Sign-in)…");
  for (let i = 0; i < 300; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const found = await post(form.dataset.wait, { pending });
    if (found.location) {
      window.location.assign(found.location);
      return;
    }
  }
  say("Not done: nobody answered within ten minutes. Start again from the app.");
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("passkey-form");
  if (!form) return;
  const home = document.getElementById("ask-home");
  if (home) {
    home.addEventListener("click", () => {
      home.disabled = true;
      askHome(form).catch((error) => say("Not done: " + error.message));
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    say("Waiting for your passkey…");
    const run = form.dataset.action === "register" ? register : approve;
    run(form).catch((error) => say("Not done: " + error.message));
  });
});
