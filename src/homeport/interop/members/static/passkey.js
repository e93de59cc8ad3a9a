// Members' passkeys on a site's pages: sign in with one, or add one when signed in.
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

async function post(path, body) {
  const answer = await fetch("/_homeport/members/passkey/" + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const found = await answer.json();
  if (!answer.ok) throw new Error(found.message || answer.status);
  return found;
}

function say(button, text) {
  const out = button.parentElement.querySelector(".members-passkey-status");
  if (out) out.textContent = text;
}

async function signIn(button) {
  const started = await post("options");
  const o = started.options;
  o.challenge = fromB64(o.challenge);
  o.allowCredentials = (o.allowCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) }));
  const made = await navigator.credentials.get({ publicKey: o });
  const r = made.response;
  const credential = {
    id: made.id, rawId: toB64(made.rawId), type: made.type,
    response: {
      clientDataJSON: toB64(r.clientDataJSON),
      authenticatorData: toB64(r.authenticatorData),
      signature: toB64(r.signature),
      userHandle: r.userHandle ? toB64(r.userHandle) : null,
    },
    clientExtensionResults: made.getClientExtensionResults(),
  };
  const found = await post("signin", { state: started.state, credential, next: button.dataset.next || "/" });
  window.location.assign(found.location);
}

async function register(button) {
  const started = await post("register-options");
  const o = started.options;
  o.challenge = fromB64(o.challenge);
  o.user.id = fromB64(o.user.id);
  o.excludeCredentials = (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) }));
  const made = await navigator.credentials.create({ publicKey: o });
  const credential = {
    id: made.id, rawId: toB64(made.rawId), type: made.type,
    response: {
      clientDataJSON: toB64(made.response.clientDataJSON),
      attestationObject: toB64(made.response.attestationObject),
    },
    clientExtensionResults: made.getClientExtensionResults(),
  };
  const found = await post("register", { state: started.state, credential });
  say(button, found.message);
}

for (const button of document.querySelectorAll("[data-members-passkey]")) {
  if (!window.PublicKeyCredential) { button.hidden = true; continue; }
  button.hidden = false;
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      await (button.dataset.membersPasskey === "register" ? register(button) : signIn(button));
    } catch (error) {
      say(button, "The passkey did not work: " + error.message);
    }
  });
}
