// Live progress of a publish, from the server's event stream; nothing else on the page needs
// script.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.EventSource) { return; }
  var state = box.getAttribute("data-state");
  if (state !== "building" && state !== "publishing") { return; }
  var source = new EventSource(box.getAttribute("data-events"));
  function size(n) {
    if (n === null || n === undefined) { return "?"; }
    var units = ["bytes", "KB", "MB", "GB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }
  source.onmessage = function (event) {
    var view = JSON.parse(event.data);
    var lines = ["Publish: " + view.state + (view.error ? " — " + view.error : "")];
    var list = document.createElement("ul");
    Object.keys(view.providers).forEach(function (url) {
      var row = view.providers[url], item = document.createElement("li");
      var text = url + ": ";
      if (row.error) { text += row.error; }
      else if (row.done) { text += row.up_to_date ? "already live" : "live at commit " + row.seq; }
      else { text += "sent " + size(row.sent) + " of " + size(row.total); }
      item.textContent = text;
      list.appendChild(item);
    });
    box.textContent = "";
    var p = document.createElement("p");
    p.id = "progress-state";
    p.textContent = lines[0];
    box.appendChild(p);
    list.id = "progress-list";
    box.appendChild(list);
    if (view.state === "done" || view.state === "failed" || view.state === "idle") {
      source.close();
    }
  };
})();
