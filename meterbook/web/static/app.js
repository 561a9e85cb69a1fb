// Meterbook dashboard: render every chart of the page with Vega-Embed (bundled, offline).
"use strict";
function renderCharts() {
  if (typeof window.vegaEmbed !== "function") { return; }
  document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
    var spec = JSON.parse(el.getAttribute("data-spec"));
    window.vegaEmbed(el, spec, { actions: false, renderer: "svg" }).then(function () {
      el.setAttribute("data-rendered", "true");
    }).catch(function (err) {
      el.textContent = "chart failed: " + err;
      el.setAttribute("data-rendered", "error");
    });
  });
}
document.addEventListener("DOMContentLoaded", renderCharts);
