// The running import's counts from the server's event stream; when it ends, the page is
// loaded again, so the per-item report is drawn by the server (the page also works without
// this script: a reload shows the same).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !window.EventSource || box.getAttribute("data-state") !== "running") { return; }
  var source = new EventSource(box.getAttribute("data-events"));
  source.onmessage = function (event) {
    var view = JSON.parse(event.data);
    var state = document.getElementById("import-state");
    var counts = document.getElementById("import-counts");
    if (view.state !== "running") {
      source.close();
      location.reload();
      return;
    }
    if (state) { state.textContent = "Importing… " + view.done + " items so far."; }
    if (counts) {
      counts.textContent = Object.keys(view.counts).sort().map(function (action) {
        return view.counts[action] + " " + action;
      }).join(", ");
    }
  };
})();
