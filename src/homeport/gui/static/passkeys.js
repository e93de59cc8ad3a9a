// The owner's passkeys: adding one on the Passkeys page, and the login page's "Sign in with a
// passkey" step (the browser asks for the passkey, then goes to the sign-in's callback).
(function () {
  "use strict";
  function fromB64(text) {
    var padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), function (c) { return c.charCodeAt(0); }).buffer;
  }
  function toB64(buffer) {
    var text = "", bytes = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i += 1) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function say(text) {
    var status = document.getElementById("passkey-status");
    if (status) { status.textContent = text; }
  }
  var csrf = document.querySelector("meta[name=csrf]");

  var form = document.getElementById("passkey-add");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!window.PublicKeyCredential) { say("This browser has no passkeys."); return; }
      var headers = { "content-type": "application/json", "accept": "application/json",
                      "x-csrf-token": csrf ? csrf.content : "" };
      say("Asking your device…");
      fetch(form.dataset.options, { method: "POST", headers: headers, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (o) {
          o.challenge = fromB64(o.challenge);
          o.user.id = fromB64(o.user.id);
          o.excludeCredentials = (o.excludeCredentials || []).map(function (c) {
            return Object.assign({}, c, { id: fromB64(c.id) });
          });
          return navigator.credentials.create({ publicKey: o });
        })
        .then(function (made) {
          var r = made.response;
          var credential = {
            id: made.id, rawId: toB64(made.rawId), type: made.type,
            response: { clientDataJSON: toB64(r.clientDataJSON),
                        attestationObject: toB64(r.attestationObject),
                        transports: r.getTransports ? r.getTransports() : [] },
            clientExtensionResults: made.getClientExtensionResults()
          };
          var label = document.getElementById("passkey-label").value;
          return fetch(form.dataset.post, { method: "POST", headers: headers,
            credentials: "same-origin", body: JSON.stringify({ credential: credential, label: label }) });
        })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          if (found.location) { window.location.assign(found.location); }
          else { say(found.error || "The passkey was not added."); }
        })
        .catch(function (error) { say("The passkey was not added: " + error.message); });
    });
  }

  var login = document.getElementById("passkey-login");
  if (login) {
    var o = JSON.parse(document.getElementById("passkey-options").textContent);
    o.challenge = fromB64(o.challenge);
    o.allowCredentials = (o.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64(c.id) });
    });
    navigator.credentials.get({ publicKey: o }).then(function (made) {
      var r = made.response;
      var credential = {
        id: made.id, rawId: toB64(made.rawId), type: made.type,
        response: { clientDataJSON: toB64(r.clientDataJSON),
                    authenticatorData: toB64(r.authenticatorData),
                    signature: toB64(r.signature),
                    userHandle: r.userHandle ? toB64(r.userHandle) : null },
        clientExtensionResults: made.getClientExtensionResults()
      };
      var query = "state=" + encodeURIComponent(login.dataset.state) +
        "&credential=" + encodeURIComponent(JSON.stringify(credential));
      window.location.assign(login.dataset.callback + "?" + query);
    }).catch(function (error) { say("No passkey was used: " + error.message); });
  }
})();
