// Homeport GUI: small helpers shared by every page. No framework, no build step.
"use strict";
window.homeport = (function () {
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";
  async function post(url, body, extra) {
    const headers = Object.assign({ "X-CSRF-Token": csrf(), Accept: "application/json" }, extra || {});
    const init = { method: "POST", headers, body, credentials: "same-origin" };
    const response = await fetch(url, init);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const error = new Error(data.message || ("The home answered " + response.status));
      error.status = response.status; error.data = data; throw error;
    }
    return data;
  }
  function upload(url, form, onProgress) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
      xhr.onload = function () {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = {}; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new Error(data.message || ("The home answered " + xhr.status)));
      };
      xhr.onerror = function () { reject(new Error("The home could not be reached. Nothing was lost; try again.")); };
      xhr.send(form);
    });
  }
  return { csrf, post, upload };
})();

// A description (alt text) field for every chosen image, asked before anything is uploaded.
document.querySelectorAll("input[type=file][data-alts]").forEach(function (input) {
  const box = document.getElementById(input.dataset.alts);
  input.addEventListener("change", function () {
    box.textContent = "";
    Array.from(input.files).forEach(function (file, i) {
      const id = input.id + "-alt-" + i;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = "Describe " + file.name;
      const field = document.createElement("input");
      field.id = id; field.name = "alt"; field.required = true; field.maxLength = 1000;
      box.append(label, field);
    });
  });
});

// Text typed into a box marked data-keep survives a failed post (expired session, home down).
document.querySelectorAll("textarea[data-keep]").forEach(function (area) {
  const key = "homeport-keep:" + area.dataset.keep;
  const form = area.form;
  try {
    if (form && "posted" in form.dataset) localStorage.removeItem(key);
    const kept = localStorage.getItem(key);
    if (kept && !area.value) area.value = kept;
  } catch (e) { /* no storage */ }
  area.addEventListener("input", function () {
    try { localStorage.setItem(key, area.value); } catch (e) { /* full */ }
  });
});

// The editor's "On the web" section: while a publish is on its way, ask again every 2 s
// (at most 60 times) and show where the entry is live once it is.
(function () {
  let left = 60;
  async function again() {
    const shown = document.getElementById("entry-live");
    if (!shown || !shown.hasAttribute("data-pending") || left-- <= 0) return;
    try {
      const response = await fetch(shown.dataset.refresh, { credentials: "same-origin" });
      if (response.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector("#entry-live");
        if (fresh) shown.replaceWith(fresh);
      }
    } catch (e) { /* the home restarting: the next try tells */ }
    setTimeout(again, 2000);
  }
  document.addEventListener("DOMContentLoaded", function () { setTimeout(again, 2000); });
})();
