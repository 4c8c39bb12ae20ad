// evals: reports, their items, and sweeps drawn as SVG (no chart library)
"use strict";

// --- evals --------------------------------------------------------------------------------
const pct = x => (100 * x).toFixed(1) + "%";
const ci = c => `[${pct(c[0])}, ${pct(c[1])}]`;

async function evalsPage() {
  const rows = await api("api/evals");
  const tag = e => e.sweep ? h("span", {class: "badge", text: e.sweep.value == null ? `sweep ${e.sweep.key}` : `${e.sweep.key}=${e.sweep.value}`}) : null;
  view.replaceChildren(h("h2", {text: "Evals"}), rows.length ? h("table", {id: "evals"},
    h("thead", {}, h("tr", {}, ["eval", "suite", "passed", "accuracy", "95% CI", "unfinished", "started"].map(t => h("th", {text: t})))),
    h("tbody", {}, rows.map(e => h("tr", {"data-eval": e.eval_id},
      h("td", {}, h("a", {href: `#/eval/${e.eval_id}`, text: e.eval_id}), " ", tag(e)), h("td", {text: e.suite}),
      h("td", {class: "num", text: `${e.passed}/${e.n}`}), h("td", {class: "num", text: pct(e.accuracy)}),
      h("td", {class: "num", text: ci(e.ci95)}), h("td", {class: "num", text: e.unfinished}),
      h("td", {class: "muted", text: when(e.created_at)}))))) : h("p", {class: "muted", text: "no evals yet: thinkact eval run SUITE"}));
  const sweeps = [...new Set(rows.filter(e => e.sweep).map(e => e.sweep.id))].slice(0, 10);  // newest first
  if (!sweeps.length) return;
  const shown = await Promise.all(sweeps.map(id => api(`api/sweeps/${encodeURIComponent(id)}`)));
  view.append(h("h2", {text: "Sweeps"}), ...shown.map(sweepSection));
}

// --- sweeps: accuracy against the setting and against tokens, each with its 95% interval ---
function sweepSection(sw) {
  return h("section", {class: "sweep", id: `sweep-${sw.sweep}`, "data-sweep": sw.sweep},
    h("h3", {text: `${sw.sweep}: ${sw.suite.split("/").pop()}`}),
    Object.entries(sw.points).map(([key, pts]) => h("div", {class: "sweep-key", "data-key": key},
      sweepChart(key, pts),
      h("table", {class: "sweep-table"}, h("thead", {}, h("tr", {}, [key, "n", "accuracy", "95% CI", "mean tokens", "eval"].map(t => h("th", {text: t})))),
        h("tbody", {}, pts.map(p => h("tr", {"data-value": p.value},
          h("td", {class: "num", text: p.value}), h("td", {class: "num", text: p.n}), h("td", {class: "num", text: pct(p.accuracy)}),
          h("td", {class: "num", text: ci(p.ci95)}), h("td", {class: "num", text: Math.round(p.mean_tokens)}),
          h("td", {}, p.eval ? h("a", {href: `#/eval/${p.eval}`, text: p.eval}) : h("span", {class: "muted", text: "votes over the samples of one eval"})))))))));
}

// two panels: left, accuracy at each value (evenly spaced) with its interval as a band;
// right, accuracy against mean tokens per item, each interval as a whisker
function sweepChart(key, pts) {
  const NS = "http://www.w3.org/2000/svg", W = 300, H = 160, top = 14, pad = 40, gap = 60;
  const svg = document.createElementNS(NS, "svg");
  const el = (parent, tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text != null) e.textContent = text; parent.append(e); return e; };
  svg.setAttribute("width", 2 * (pad + W) + gap); svg.setAttribute("height", top + H + 44);
  svg.setAttribute("class", "sweep-chart");
  const y = v => top + H * (1 - v);
  const panel = (x0, name, label) => {
    const g = el(svg, "g", {"data-panel": name});
    for (const v of [0, 0.5, 1]) { el(g, "line", {x1: x0, x2: x0 + W, y1: y(v), y2: y(v), stroke: "#ddd"}); el(g, "text", {x: x0 - 4, y: y(v) + 4, "font-size": 10, fill: "#666", "text-anchor": "end"}, pct(v)); }
    el(g, "text", {x: x0 + W / 2, y: top + H + 36, "text-anchor": "middle", "font-size": 11}, label);
    return g;
  };
  // left: the setting's values, in order, evenly spaced
  const x0 = pad, xs = i => x0 + (pts.length === 1 ? W / 2 : 10 + (W - 20) * i / (pts.length - 1));
  const left = panel(x0, "setting", key);
  const band = [...pts.map((p, i) => `${xs(i)},${y(p.ci95[1])}`), ...pts.map((p, i) => `${xs(i)},${y(p.ci95[0])}`).reverse()];
  el(left, "polygon", {points: band.join(" "), fill: "#4c72b0", "fill-opacity": 0.2, class: "band"});
  el(left, "polyline", {points: pts.map((p, i) => `${xs(i)},${y(p.accuracy)}`).join(" "), fill: "none", stroke: "#4c72b0", "stroke-width": 2});
  pts.forEach((p, i) => {
    el(left, "circle", {cx: xs(i), cy: y(p.accuracy), r: 3.5, fill: "#4c72b0", "data-value": p.value, "data-accuracy": p.accuracy});
    el(left, "text", {x: xs(i), y: top + H + 16, "text-anchor": "middle", "font-size": 10}, String(p.value));
  });
  // right: mean tokens per item (linear), the points in token order
  const r0 = 2 * pad + W + gap - pad, toks = pts.map(p => p.mean_tokens);
  const lo = Math.min(...toks), hi = Math.max(...toks), span = hi - lo || 1;
  const xt = t => r0 + 10 + (W - 20) * (hi === lo ? 0.5 : (t - lo) / span);
  const right = panel(r0, "tokens", "mean tokens per item");
  for (const t of hi === lo ? [lo] : [lo, hi]) el(right, "text", {x: xt(t), y: top + H + 16, "text-anchor": "middle", "font-size": 10}, String(Math.round(t)));
  const labels = new Map();  // one label per spot: points that coincide share it
  [...pts].sort((a, b) => a.mean_tokens - b.mean_tokens).forEach(p => {
    const x = xt(p.mean_tokens), at = `${x},${y(p.accuracy)}`;
    el(right, "line", {x1: x, x2: x, y1: y(p.ci95[0]), y2: y(p.ci95[1]), stroke: "#222", class: "whisker"});
    el(right, "circle", {cx: x, cy: y(p.accuracy), r: 3.5, fill: "#dd8452", "data-value": p.value, "data-tokens": p.mean_tokens});
    labels.set(at, [...(labels.get(at) || []), p.value]);
  });
  for (const [at, values] of labels) {
    const [x, yy] = at.split(",").map(Number), end = x > r0 + 0.7 * W;
    el(right, "text", {x: end ? x - 6 : x + 6, y: yy - 6, "font-size": 9, fill: "#444", "text-anchor": end ? "end" : "start"}, `${key}=${values.join(", ")}`);
  }
  return svg;
}

// accuracy per category with its 95% interval, as an SVG bar chart
function accuracyChart(points) {
  const NS = "http://www.w3.org/2000/svg", W = 70, H = 160, top = 10, left = 36;
  const svg = document.createElementNS(NS, "svg");
  const el = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text != null) e.textContent = text; svg.append(e); return e; };
  svg.setAttribute("width", left + W * points.length + 10); svg.setAttribute("height", H + 50);
  svg.setAttribute("id", "accuracy-chart");
  const y = v => top + H * (1 - v);
  for (const v of [0, 0.5, 1]) { el("line", {x1: left, x2: left + W * points.length, y1: y(v), y2: y(v), stroke: "#ddd"}); el("text", {x: 2, y: y(v) + 4, "font-size": 10, fill: "#666"}, pct(v)); }
  points.forEach((p, i) => {
    const x = left + i * W + 12;
    el("rect", {x, y: y(p.accuracy), width: W - 24, height: H * p.accuracy, fill: p.overall ? "#dd8452" : "#4c72b0", "data-name": p.name});
    el("line", {x1: x + (W - 24) / 2, x2: x + (W - 24) / 2, y1: y(p.ci95[0]), y2: y(p.ci95[1]), stroke: "#222"});
    el("text", {x: x + (W - 24) / 2, y: top + H + 16, "text-anchor": "middle", "font-size": 11}, p.name);
    el("text", {x: x + (W - 24) / 2, y: top + H + 30, "text-anchor": "middle", "font-size": 10, fill: "#666"}, pct(p.accuracy));
  });
  return svg;
}

async function evalPage(evalId) {
  const r = await api(`api/evals/${evalId}`);
  const cats = Object.entries(r.categories);
  const points = [...cats.map(([name, c]) => ({name, ...c})), {name: "overall", overall: true, accuracy: r.accuracy, ci95: r.ci95}];
  view.replaceChildren(
    h("div", {class: "runhead"}, h("h2", {text: `${r.eval_id}: ${r.suite}`}),
      h("div", {class: "facts", id: "eval-summary"}, h("span", {}, "passed ", h("b", {text: `${r.passed}/${r.n}`})),
        h("span", {}, "accuracy ", h("b", {text: pct(r.accuracy)})), h("span", {}, "95% CI ", h("b", {text: ci(r.ci95)})),
        h("span", {}, "unfinished ", h("b", {text: r.unfinished})),
        h("span", {}, "mean ", h("b", {text: `${r.mean.steps.toFixed(1)} steps, ${fmtTok(Math.round(r.mean.tokens))} tokens, ${fmtS(r.mean.wall_s)}`})),
        h("span", {}, "cost ", h("b", {text: fmtCost(r.total.cost_usd)})))),
    accuracyChart(points),
    h("table", {id: "categories"}, h("thead", {}, h("tr", {}, ["category", "n", "passed", "accuracy", "95% CI"].map(t => h("th", {text: t})))),
      h("tbody", {}, cats.map(([name, c]) => h("tr", {}, h("td", {text: name}), h("td", {class: "num", text: c.n}), h("td", {class: "num", text: c.passed}), h("td", {class: "num", text: pct(c.accuracy)}), h("td", {class: "num", text: ci(c.ci95)}))))),
    h("div", {class: "facts", id: "pass-at-k"}, Object.entries(r.pass_at_k || {}).map(([k, v]) => h("span", {}, `pass@${k} `, h("b", {text: pct(v)})))),
    h("h3", {text: "items"}),
    h("table", {id: "items"}, h("thead", {}, h("tr", {}, ["item", "epoch", "category", "outcome", "answer", "steps", "tool calls", "tokens", "time", "run"].map(t => h("th", {text: t})))),
      h("tbody", {}, r.rows.map(x => h("tr", {"data-item": x.item_id, "data-outcome": x.outcome || x.status},
        h("td", {text: x.item_id}), h("td", {class: "num", text: x.epoch}), h("td", {text: x.category}),
        h("td", {}, status(x.outcome === "passed" ? "completed" : x.status === "running" ? "running" : "failed"), " ", x.outcome || ""),
        h("td", {class: "task", title: x.answer || "", text: x.answer || ""}), h("td", {class: "num", text: x.steps ?? ""}),
        h("td", {class: "num", text: x.tool_calls ?? ""}), h("td", {class: "num", text: fmtTok(x.tokens)}), h("td", {class: "num", text: fmtS(x.wall_s)}),
        h("td", {}, h("a", {href: `#/run/${x.run_id}`, text: x.run_id})))))));
}

