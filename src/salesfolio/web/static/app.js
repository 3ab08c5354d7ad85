// salesfolio: draws the Plotly charts that the server rendered as JSON, and small conveniences.
// No inline scripts anywhere: figures come from data-figure attributes (escaped by the templates).
(function () {
  "use strict";

  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  var webgl = (function () {
    try { return !!document.createElement("canvas").getContext("webgl"); } catch (err) { return false; }
  })();

  function drawCharts(root) {
    if (typeof window.Plotly === "undefined") { return; }
    var nodes = (root || document).querySelectorAll(".sf-chart[data-figure]:not([data-drawn])");
    nodes.forEach(function (node) {
      var figure;
      try { figure = JSON.parse(node.getAttribute("data-figure")); } catch (err) { return; }
      if (!webgl) {
        // No WebGL (remote desktops, old GPUs): draw the same points as SVG.
        figure.data.forEach(function (trace) { if (trace.type === "scattergl") { trace.type = "scatter"; } });
      }
      node.setAttribute("data-drawn", "pending");
      window.Plotly.newPlot(node, figure.data, figure.layout, PLOT_CONFIG).then(function () {
        node.setAttribute("data-drawn", "true");
        var clickUrl = node.getAttribute("data-click-url");
        if (clickUrl) {
          node.on("plotly_click", function (event) {
            var point = event && event.points && event.points[0];
            if (point && point.customdata !== undefined && point.customdata !== null) {
              window.location.assign(clickUrl.replace("__ID__", encodeURIComponent(String(point.customdata))));
            }
          });
        }
      });
    });
  }

  function autoSubmit(root) {
    (root || document).querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (select.dataset.bound) { return; }
      select.dataset.bound = "1";
      select.addEventListener("change", function () { if (select.form) { select.form.submit(); } });
    });
  }

  function init(root) { drawCharts(root); autoSubmit(root); }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
})();
