// Draws one Plotly figure with plotly.js's basic bundle (ui/plot.py says why not Streamlit's own
// Plotly element). Streamlit calls this function on mount and again whenever the figure changes;
// Plotly.react redraws in place, so a slider move updates the same chart.
//
// The bundle is loaded once per page (a script tag, shared by every chart) from the app's static
// folder; the path is relative, so the app also works under a base URL path. The performance
// marks let a bench see when the bundle was asked for and when it had run.
const SRC = "__PLOTLY_SRC__";

function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__csPlotly) {
    window.__csPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = SRC;
      script.onload = () => { performance.mark("cs-plotly-loaded"); resolve(window.Plotly); };
      script.onerror = () => { window.__csPlotly = null; reject(new Error("could not load " + SRC)); };
      document.head.appendChild(script);
    });
  }
  return window.__csPlotly;
}

export default function ({ parentElement, data }) {
  if (data.preload) { // the menu's empty element: start loading before the page's first chart
    performance.mark("cs-plotly-preload");
    plotly().catch(() => {}); // a failure shows on the charts themselves
    return;
  }
  let box = parentElement.querySelector(".cs-chart");
  if (!box) {
    box = document.createElement("div");
    box.className = "cs-chart";
    parentElement.appendChild(box);
  }
  const spec = data.figure;
  const asked = (box.csAsked = {}); // the newest figure asked for; an older one never marks it drawn
  box.dataset.drawn = "false"; // end-to-end tests and benches wait for "true"
  box.style.height = data.height + "px";
  const fig = JSON.parse(spec);
  plotly()
    .then((Plotly) => {
      if (box.csAsked !== asked) return null; // a newer figure arrived while loading
      return Plotly.react(box, fig.data, fig.layout, fig.config);
    })
    .then((drawn) => {
      if (drawn && box.csAsked === asked) box.dataset.drawn = "true";
    })
    .catch((err) => {
      box.dataset.drawn = "error";
      box.textContent = "This chart could not be drawn: " + err.message; // text, never markup
    });
  return () => {
    if (window.Plotly) window.Plotly.purge(box);
  };
}
