// Media library: every chosen photo gets its own alt text, caption and progress bar; files are
// sent one by one so a failure names its file and the others still arrive.
"use strict";
(function () {
  const form = document.getElementById("media-upload");
  if (!form) return;
  const input = document.getElementById("media-files");
  const queue = document.getElementById("media-queue");
  const start = document.getElementById("media-start");
  let items = [];
  input.addEventListener("change", function () {
    queue.textContent = "";
    items = Array.from(input.files).map(function (file, i) {
      const li = document.createElement("li");
      li.className = "card";
      const name = document.createElement("strong");
      name.textContent = file.name;
      const altLabel = document.createElement("label");
      altLabel.htmlFor = "alt-" + i; altLabel.textContent = "Describe this photo (alt text)";
      const alt = document.createElement("input");
      alt.id = "alt-" + i; alt.required = true; alt.maxLength = 1000;
      const capLabel = document.createElement("label");
      capLabel.htmlFor = "cap-" + i; capLabel.textContent = "Caption (optional)";
      const caption = document.createElement("input");
      caption.id = "cap-" + i;
      const bar = document.createElement("progress");
      bar.max = 100; bar.value = 0; bar.setAttribute("aria-label", "Upload of " + file.name);
      const note = document.createElement("p");
      note.className = "status";
      li.append(name, altLabel, alt, capLabel, caption, bar, note);
      queue.append(li);
      return { file, alt, caption, bar, note, done: false };
    });
    start.hidden = items.length === 0;
  });
  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const missing = items.find(function (it) { return !it.done && !it.alt.value.trim(); });
    if (missing) { missing.note.textContent = "Describe this photo first."; missing.note.classList.add("bad"); missing.alt.focus(); return; }
    start.disabled = true;
    let failed = 0;
    for (const it of items) {
      if (it.done) continue;
      const data = new FormData();
      data.append("file", it.file, it.file.name);
      data.append("alt", it.alt.value.trim());
      data.append("caption", it.caption.value.trim());
      if (document.getElementById("media-publish").checked) data.append("publish", "on");
      try {
        await homeport.upload(form.dataset.url, data, function (f) { it.bar.value = Math.round(f * 100); });
        it.bar.value = 100; it.done = true;
        it.note.textContent = "Uploaded."; it.note.classList.remove("bad");
      } catch (error) {
        failed += 1;
        it.note.textContent = "Not uploaded: " + error.message; it.note.classList.add("bad");
      }
    }
    start.disabled = false;
    if (!failed) document.getElementById("media-done").submit();
  });
})();
