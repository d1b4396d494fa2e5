// Draws each chart whose data sits in a <script type="application/json"> block beside it,
// with the Plotly served by this console. Without JavaScript the tables hold the figures.
(function () {
  "use strict";
  function draw(box) {
    var source = document.getElementById(box.getAttribute("data-chart"));
    if (!source || typeof Plotly === "undefined") { return; }
    var chart = JSON.parse(source.textContent);
    var heatmap = chart.kind === "heatmap";
    var traces = chart.traces.map(function (trace) {
      if (heatmap) {
        return { type: "heatmap", x: trace.x, y: trace.y, z: trace.z, colorscale: "Blues",
                 reversescale: true, hoverongaps: false };
      }
      if (chart.kind === "bar") {
        return { type: "bar", name: trace.name, x: trace.x, y: trace.y };
      }
      return { type: "scatter", mode: "lines+markers", name: trace.name, x: trace.x,
               y: trace.y, connectgaps: false };
    });
    var layout = {
      separators: chart.separators,
      margin: { l: 70, r: 20, t: 20, b: 50 },
      legend: { orientation: "h" },
      xaxis: { type: "category", automargin: true },
      yaxis: heatmap ? { type: "category", autorange: "reversed", automargin: true }
                     : { automargin: true, zeroline: true }
    };
    box.closest("figure").hidden = false;
    Plotly.newPlot(box, traces, layout, { displayModeBar: false, responsive: true });
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
