// The article editor: toolbar, live preview, autosave, pasted/dropped images with alt text.
// The text is copied to this browser's storage on every change and removed only once the home
// has confirmed a save of exactly that text, so a failed save never loses anything.
"use strict";
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const title = $("title"), body = $("body"), summary = $("summary"), tags = $("tags");
  const visibility = $("visibility");
  const statusEl = $("status"), previewEl = $("preview");
  let images = JSON.parse($("editor-images").textContent || "[]");
  let id = form.dataset.id || "";
  let saveTimer = null, previewTimer = null, saving = false, dirty = false, lastSaved = null;
  const key = () => "homeport-draft:" + (id || "new");

  function fields() {
    return { title: title.value, body: body.value, summary: summary.value, tags: tags.value };
  }
  function same(a, b) { return a && b && JSON.stringify(a) === JSON.stringify(b); }
  function status(text, bad) {
    statusEl.textContent = text;
    statusEl.classList.toggle("bad", !!bad);
  }
  function keepLocal() {
    try { localStorage.setItem(key(), JSON.stringify(Object.assign(fields(), { at: Date.now() }))); } catch (e) { /* full */ }
  }

  async function save() {
    if (saving) { schedule(800); return; }
    const snapshot = fields();
    if (!snapshot.title.trim()) { status("Give the article a title; your text is kept in this browser until then."); return; }
    saving = true;
    status("Saving…");
    try {
      const data = await homeport.post(form.dataset.save, JSON.stringify(Object.assign({ id, images, rebuild: published, visibility: visibility ? visibility.value : undefined }, snapshot)),
        { "Content-Type": "application/json" });
      const wasNew = !id;
      id = data.id;
      lastSaved = snapshot;
      if (wasNew) {
        try { localStorage.removeItem("homeport-draft:new"); } catch (e) { /* ignore */ }
        history.replaceState(null, "", form.dataset.edit + id);
        form.dataset.id = id;
        document.querySelectorAll("form[data-action]").forEach(function (f) { f.action = f.dataset.action.replace("ID", id); });
        $("publish-next").value = form.dataset.edit + id;
        $("entry-actions").hidden = false;
      }
      if (same(fields(), snapshot)) {
        dirty = false;
        try { localStorage.removeItem(key()); } catch (e) { /* ignore */ }
      }
      const at = new Date().toLocaleTimeString();
      if (data.problem) status(data.problem, true);
      else status(published ? "Updated on the site at " + at : "Saved " + at + (data.draft ? " (draft)" : ""));
    } catch (error) {
      keepLocal();
      if (error.status === 401) {
        status("Not saved: your session has expired. Log in again in another tab (" + location.origin + "/admin/login); your text is kept in this browser.", true);
      } else {
        status("Not saved: " + error.message + " Your text is kept in this browser; saving again in a moment.", true);
        schedule(10000);
      }
    } finally {
      saving = false;
    }
  }
  function schedule(ms) { clearTimeout(saveTimer); saveTimer = setTimeout(save, ms); }

  async function refreshPreview() {
    try {
      const data = await homeport.post(form.dataset.preview, JSON.stringify({ body: body.value }),
        { "Content-Type": "application/json" });
      previewEl.innerHTML = data.html;  // sanitised by the home (nh3), and the page's CSP runs no script
    } catch (error) { /* the preview is a convenience; saving reports problems */ }
  }

  // A published article is not saved while it is typed (the site would show half an edit):
  // the text stays in this browser until "Update" saves and republishes it.
  const published = "published" in form.dataset;
  function changed() {
    dirty = true;
    keepLocal();
    status(published ? "Changes not yet on the site: press Update when ready." : "Unsaved changes");
    if (!published) schedule(1500);
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 300);
  }
  [title, body, summary, tags].forEach(function (el) { el.addEventListener("input", changed); });
  if (visibility) visibility.addEventListener("change", changed);
  $("save").addEventListener("click", function () { clearTimeout(saveTimer); save(); });
  window.addEventListener("beforeunload", function (e) { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  // Publishing saves first, so what is published is what is on screen.
  const publishForm = $("publish-form");
  publishForm.addEventListener("submit", async function (e) {
    if (!dirty) return;
    e.preventDefault();
    clearTimeout(saveTimer);
    await save();
    if (!dirty) { publishForm.submit(); }
  });
  $("delete-form").addEventListener("submit", function () { dirty = false; });

  // Text this browser kept from a save that did not happen.
  try {
    const kept = JSON.parse(localStorage.getItem(key()) || "null");
    if (kept && !same({ title: kept.title, body: kept.body, summary: kept.summary, tags: kept.tags }, fields())) {
      $("restore").hidden = false;
      $("restore-yes").addEventListener("click", function () {
        title.value = kept.title; body.value = kept.body; summary.value = kept.summary; tags.value = kept.tags;
        $("restore").hidden = true; changed();
      });
      $("restore-no").addEventListener("click", function () { localStorage.removeItem(key()); $("restore").hidden = true; });
    }
  } catch (e) { /* no storage */ }

  // Toolbar and shortcuts.
  function wrap(marker) {
    const s = body.selectionStart, e = body.selectionEnd, text = body.value.slice(s, e) || "text";
    body.setRangeText(marker + text + marker, s, e, "end");
    body.setSelectionRange(s + marker.length, s + marker.length + text.length);
    body.focus(); changed();
  }
  function linePrefix(prefix) {
    const s = body.selectionStart, start = body.value.lastIndexOf("\n", s - 1) + 1;
    body.setRangeText(prefix, start, start, "end"); body.focus(); changed();
  }
  function link() {
    const url = prompt("Link address (https://…)");
    if (!url) return;
    const s = body.selectionStart, e = body.selectionEnd, text = body.value.slice(s, e) || "link";
    body.setRangeText("[" + text + "](" + url + ")", s, e, "end"); body.focus(); changed();
  }
  document.querySelectorAll(".toolbar button").forEach(function (b) {
    b.addEventListener("click", function () {
      if (b.dataset.wrap) wrap(b.dataset.wrap);
      else if (b.dataset.line) linePrefix(b.dataset.line);
      else if ("link" in b.dataset) link();
      else if ("image" in b.dataset) $("image-file").click();
    });
  });
  body.addEventListener("keydown", function (e) {
    if (!(e.ctrlKey || e.metaKey)) return;
    const k = e.key.toLowerCase();
    if (k === "b") { e.preventDefault(); wrap("**"); }
    else if (k === "i") { e.preventDefault(); wrap("_"); }
    else if (k === "k") { e.preventDefault(); link(); }
    else if (k === "s") { e.preventDefault(); clearTimeout(saveTimer); save(); }
  });

  // Images: asked for alt text, uploaded, then written into the text where the cursor was.
  const dialog = $("alt-dialog"), altText = $("alt-text"), altImg = $("alt-img");
  function askAlt(file) {
    return new Promise(function (resolve) {
      altText.value = "";
      const url = URL.createObjectURL(file);
      altImg.src = url;
      dialog.returnValue = "";
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        URL.revokeObjectURL(url);
        altImg.removeAttribute("src");
        resolve(dialog.returnValue === "ok" && altText.value.trim() ? altText.value.trim() : null);
      });
      dialog.showModal();
      altText.focus();
    });
  }
  async function addImage(file) {
    if (!file.type.startsWith("image/")) { status(file.name + " is not an image; nothing was added.", true); return; }
    const alt = await askAlt(file);
    if (alt === null) { status("Image not added (it needs a description)."); body.focus(); return; }
    const marker = "![Uploading " + file.name.replace(/[\[\]]/g, "") + "…]()";
    const at = body.selectionStart;
    body.setRangeText(marker, at, body.selectionEnd, "end");
    body.focus();
    status("Uploading " + file.name + "…");
    const data = new FormData();
    data.append("file", file, file.name || "pasted.png");
    data.append("alt", alt);
    try {
      const answer = await homeport.upload(form.dataset.upload, data, function (f) { status("Uploading " + file.name + "… " + Math.round(f * 100) + "%"); });
      images.push(answer.ref);
      body.value = body.value.replace(marker, answer.markdown);
      changed();
    } catch (error) {
      body.value = body.value.replace(marker, "");
      status("The image was not added: " + error.message, true);
    }
  }
  $("image-file").addEventListener("change", function (e) {
    Array.from(e.target.files).forEach(addImage); e.target.value = "";
  });
  body.addEventListener("paste", function (e) {
    const files = Array.from((e.clipboardData || {}).files || []).filter(function (f) { return f.type.startsWith("image/"); });
    if (files.length) { e.preventDefault(); files.reduce(function (p, f) { return p.then(function () { return addImage(f); }); }, Promise.resolve()); }
  });
  body.addEventListener("dragover", function (e) { if (e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files")) e.preventDefault(); });
  body.addEventListener("drop", function (e) {
    const files = Array.from((e.dataTransfer || {}).files || []);
    if (!files.length) return;
    e.preventDefault();
    files.reduce(function (p, f) { return p.then(function () { return addImage(f); }); }, Promise.resolve());
  });

  refreshPreview();
})();
