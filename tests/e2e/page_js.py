"""What the browser journeys and benches run inside the page: the run counter installed before any
page script, and the conditions they wait on (a run finished since some counts; the page settled).

Apart from ``helpers`` because the browser bench (``bench/browser_tab.py``) waits on the same
conditions without the rest of the journeys' machinery.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from ui import plot  # noqa: E402  (when the charts count as drawn: plot.DRAWN_JS)

SETTLED = "[data-testid=stApp][data-test-script-state=notRunning]"

# Counts the app's finished script runs, two ways. ``flips``: the ``data-test-script-state``
# attribute of ``[data-testid=stApp]`` coming back to ``notRunning`` (a MutationObserver, so a run
# shorter than a polling interval still counts); React has drawn the run by then. ``done``: off the
# wire, every run (and fragment run) ending with a ForwardMsg whose ``script_finished`` (field 6,
# an enum) is set; FINISHED_EARLY_FOR_RERUN (2), a run cut short by the next one, does not count.
# The attribute alone is not enough: on a busy browser React can draw "running" and "notRunning"
# in one batch, the attribute never flips, and a wait for a fast run (a fragment's, 20 ms) timed
# out. ``frame`` counts animation frames and ``doneFrame`` notes the frame of the last finished
# message, so a run seen only on the wire counts two frames later, once React has drawn it.
# Installed before any page script, so the first run of a page load is counted too.
RUN_COUNTER = """(() => {
  if (window.__csRuns) return;
  const c = window.__csRuns = {started: 0, flips: 0, done: 0, frame: 0, doneFrame: 0};
  const tick = () => { c.frame++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const varint = (b, i) => {
    let v = 0, s = 0, x;
    do { x = b[i++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80 && i < b.length);
    return [v, i];
  };
  // the script_finished status of one ForwardMsg, or null (top-level fields read, others skipped)
  const finished = buf => {
    const b = new Uint8Array(buf);
    let i = 0, tag, v;
    while (i < b.length) {
      [tag, i] = varint(b, i);
      const wire = tag & 7, number = Math.floor(tag / 8);
      if (wire === 0) { [v, i] = varint(b, i); if (number === 6) return v; }
      else if (wire === 2) { [v, i] = varint(b, i); i += v; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return null;
    }
    return null;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        if (!(e.data instanceof ArrayBuffer)) return;
        const status = finished(e.data);
        if (status !== null && status !== 2) { c.done++; c.doneFrame = c.frame; }
      });
    }
  };
  new MutationObserver(list => {
    for (const m of list) {
      if (m.target.getAttribute('data-testid') !== 'stApp') continue;
      const now = m.target.getAttribute('data-test-script-state');
      if (m.oldValue === 'notRunning' && now !== 'notRunning') c.started++;
      if (now === 'notRunning' && m.oldValue !== 'notRunning') c.flips++;
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})();"""
# The counts now ({flips, done}), and whether a run finished since such counts were taken.
RUNS_NOW_JS = "(() => { const c = window.__csRuns; return c ? {flips: c.flips, done: c.done} : {flips: 0, done: 0}; })()"
RAN_SINCE_JS = """(n => { const c = window.__csRuns;
    return !!c && (c.flips > n.flips || (c.done > n.done && c.frame - c.doneFrame >= 2)); })"""
NO_RUNS = {"flips": 0, "done": 0}


# What a page that did not settle shows: runs counted, the script state, skeletons and stale
# elements left, each chart's drawn mark, each slider's value, and any exception box.
PAGE_STATE_JS = """() => ({
  runs: window.__csRuns,
  state: (document.querySelector('[data-testid=stApp]') || {getAttribute: () => null}).getAttribute('data-test-script-state'),
  skeletons: document.querySelectorAll('[data-testid=stSkeleton]').length,
  stale: document.querySelectorAll('[data-stale=true]').length,
  charts: [...document.querySelectorAll('.cs-chart')].map(c => c.dataset.drawn),
  sliders: [...document.querySelectorAll('[data-testid=stSlider] [role=slider]')].map(s => s.getAttribute('aria-valuenow')),
  focused: document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : null,
  exceptions: [...document.querySelectorAll('[data-testid=stException]')].map(e => e.innerText.slice(0, 300)),
})"""

# Settled: the run finished, and the page has drawn it: elements of a lazily loaded kind show a
# skeleton until their code arrives, elements of the previous run stay (marked stale) until the
# new ones are drawn, and charts draw once plotly.js has loaded (ui/plot.js marks each one drawn);
# the script state alone runs ahead of all three on a busy machine.
SETTLED_JS = f"""n => {RAN_SINCE_JS}(n)
    && document.querySelector('{SETTLED}') !== null
    && document.querySelector('[data-testid=stSkeleton]') === null
    && document.querySelector('[data-stale=true]') === null
    && {plot.DRAWN_JS}"""
