// Each provider's health and storage, asked after the page has loaded (a provider that is down
// must not hold the page up), and the live progress of a publish from the server's event stream;
// when a publish ends, the table is asked again, so it never needs a reload.
(function () {
  "use strict";
  // Decimal units (1 GB = 1000 MB), as quotas are given and as disks are sold.
  function size(n) {
    if (n === null || n === undefined) { return "?"; }
    var units = ["bytes", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return (i ? String(Math.round(n * 10) / 10) : n) + " " + units[i];
  }
  var STATES = {
    building: "Preparing your site…",
    publishing: "Sending it to your providers…",
    done: "Done: your site is live at every provider.",
    failed: "Not every provider has the latest version:",
    idle: ""
  };
  var table = document.getElementById("providers-table");
  function refresh() {
    if (!table || !window.fetch) { return; }
    table.querySelectorAll(".health").forEach(function (td) { td.textContent = "asking…"; });
    fetch(location.pathname.replace(/\/$/, "") + "/status", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (rows) {
        rows.forEach(function (row) {
          table.querySelectorAll("tbody tr").forEach(function (tr) {
            if (tr.getAttribute("data-url") !== row.url) { return; }
            tr.querySelector(".health").textContent = row.health_text;
            tr.querySelector(".last").textContent = row.last_publish_text;
            var remote = row.remote || {};
            if (remote.usage !== undefined) {
              tr.querySelector(".usage").textContent = size(remote.usage) + " of " + size(remote.quota);
            }
            if (remote.live !== undefined && remote.live !== null) {
              tr.querySelector(".live").textContent = remote.live;
            }
          });
        });
      })
      .catch(function () {
        table.querySelectorAll(".health").forEach(function (td) { td.textContent = "unknown"; });
      });
  }
  refresh();
  var box = document.getElementById("progress");
  if (!box || !window.EventSource) { return; }
  var state = box.getAttribute("data-state");
  if (state !== "building" && state !== "publishing") { return; }
  var source = new EventSource(box.getAttribute("data-events"));
  source.onmessage = function (event) {
    var view = JSON.parse(event.data);
    var list = document.createElement("ul");
    Object.keys(view.providers).forEach(function (url) {
      var row = view.providers[url], item = document.createElement("li");
      var text = url + ": ";
      if (row.error) { text += row.error; }
      else if (row.done) { text += row.up_to_date ? "already up to date" : "live"; }
      else { text += "sent " + size(row.sent) + " of " + size(row.total); }
      item.textContent = text;
      list.appendChild(item);
    });
    box.textContent = "";
    var p = document.createElement("p");
    p.id = "progress-state";
    p.textContent = (STATES[view.state] || view.state) + (view.error ? " " + view.error : "");
    box.appendChild(p);
    list.id = "progress-list";
    box.appendChild(list);
    if (view.state === "done" || view.state === "failed" || view.state === "idle") {
      source.close();
      refresh();
    }
  };
})();
