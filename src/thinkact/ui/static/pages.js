// the runs list, heavy groups, comparisons, evals and the playground
"use strict";

// --- runs list ----------------------------------------------------------------------------
async function runsPage(params) {
  const q = h("input", {id: "q", placeholder: "search task, id, model", value: params.get("q") || ""});
  const st = h("select", {id: "status"}, ["", "running", "completed", "stopped", "failed", "interrupted"]
    .map(s => h("option", {value: s, text: s || "any status", selected: s === (params.get("status") || "")})));
  const cmp = h("button", {id: "compare", text: "Compare selected", onclick: () => {
    const ids = [...view.querySelectorAll("input.pick:checked")].map(c => c.value);
    if (ids.length === 2) location.hash = `#/compare/${ids[0]}/${ids[1]}`;
    else alert("select two runs");
  }});
  const body = h("tbody");
  const table = h("table", {id: "runs"}, h("thead", {}, h("tr", {}, ["", "status", "run", "task", "model", "steps", "tool calls", "tokens in/out", "cost", "time", "started"].map(t => h("th", {text: t})))), body);
  view.replaceChildren(h("div", {class: "bar"}, q, st, cmp), table);
  let timer = null;
  async function load() {
    const rows = await api(`api/runs?q=${encodeURIComponent(q.value)}&status=${encodeURIComponent(st.value)}`);
    body.replaceChildren(...rows.map(r => h("tr", {"data-run": r.run_id},
      h("td", {}, h("input", {type: "checkbox", class: "pick", value: r.run_id})),
      h("td", {}, status(r.status)),
      h("td", {}, runLink(r), r.heavy ? [" ", h("span", {class: "badge", text: r.heavy.index == null ? `heavy ×${r.heavy.of}` : `trajectory ${r.heavy.index}/${r.heavy.of}`})] : null,
        r.forked_from ? [" ", h("span", {class: "badge", text: `fork of ${r.forked_from.run} @${r.forked_from.step}`})] : null),
      h("td", {class: "task", title: r.task, text: r.task}),
      h("td", {text: r.model}),
      h("td", {class: "num", text: r.steps}), h("td", {class: "num", text: r.tool_calls}),
      h("td", {class: "num", text: `${fmtTok(r.prompt_tokens)} / ${fmtTok(r.completion_tokens)}`}),
      h("td", {class: "num", text: fmtCost(r.cost_usd)}),
      h("td", {class: "num", text: fmtS((r.finished_at || r.updated_at) - r.started_at)}),
      h("td", {class: "muted", text: when(r.started_at)}))));
    clearTimeout(timer);
    if (rows.some(r => r.status === "running")) timer = setTimeout(load, 1500);
  }
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  st.addEventListener("change", load);
  stopLive = () => clearTimeout(timer);
  await load();
}

// --- heavy group --------------------------------------------------------------------------
async function groupPage(group) {
  async function load() {
    const g = await api(`api/groups/${group}`);
    const agg = g.aggregation;
    const agreed = g.lanes.filter(l => l.agrees).map(l => l.run_id.split(".").pop());
    view.replaceChildren(
      h("div", {class: "runhead"}, h("h2", {}, `heavy run ${g.group}: ${g.of} trajectories, aggregated by ${g.aggregator}`)),
      h("div", {class: "lanes", id: "lanes"}, g.lanes.map(l => h("div", {class: "lane" + (agg && l.answer != null ? (l.agrees ? " agrees" : " differs") : ""), "data-lane": l.run_id},
        h("div", {}, h("a", {href: `#/run/${l.run_id}`, text: l.run_id}), " ", status(l.status)),
        h("div", {class: "muted", text: `${l.lines.length} steps · ${l.tool_calls ?? 0} tool calls · ${fmtTok(l.completion_tokens)} out`}),
        h("ol", {}, l.lines.map(s => h("li", {text: s.tools.length ? s.tools.join(", ") : "(no tool call)"}))),
        l.answer != null ? h("div", {class: "answer", text: l.answer}) : null,
        agg && l.answer != null ? h("div", {class: "agree", text: l.agrees ? "✓ agrees with the final answer" : "✗ differs from the final answer"}) : null))),
      h("div", {class: "aggregation step", id: "aggregation"},
        h("div", {class: "stephead"}, h("b", {text: "aggregation"}), agg ? [" ", status(agg.status), " ", h("a", {href: `#/run/${g.group}`, text: "open run"})] : " not yet"),
        g.vote ? h("div", {class: "event notice", text: g.vote}) : null,
        agg && agg.answer != null ? h("div", {class: "answer", text: agg.answer}) : null,
        agg ? h("div", {id: "agreed", text: agreed.length ? `agrees with trajectories ${agreed.join(", ")}` : "agrees with no single trajectory"}) : null));
    return g;
  }
  const g = await load();
  const done = g.aggregation && g.aggregation.status !== "running" && !g.lanes.some(l => l.status === "running");
  if (done) return;
  // live: the group's stream says when any of its runs records something
  const ctrl = new AbortController();
  let timer = null;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(() => load().catch(() => {}), 150); };
  stopLive = () => { ctrl.abort(); clearTimeout(timer); };
  follow(`api/groups/${group}/stream`, ctrl.signal, schedule);
}

// --- compare ------------------------------------------------------------------------------
async function comparePage(a, b) {
  const c = await api(`api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const side = s => s ? [s.calls.join("\n") || "(no tool call)", s.results.length ? "\n→ " + s.results.map(r => r.slice(0, 300)).join("\n→ ") : "", s.content ? "\n" + s.content.slice(0, 300) : ""].join("") : "(no step)";
  const rows = c.steps.map(r => h("tr", {class: (r.step === c.diverged_at ? "diverged " : "") + (r.same ? "" : "differs"), id: `cmp-${r.step}`, "data-same": String(r.same)},
    h("td", {class: "num", text: r.step}), h("td", {class: "side", text: side(r.a)}), h("td", {class: "side", text: side(r.b)}), h("td", {text: r.same ? "=" : "≠"})));
  view.replaceChildren(
    h("div", {class: "runhead"}, h("h2", {text: "compare"})),
    h("div", {class: "facts"}, h("span", {}, "A ", h("a", {href: `#/run/${a}`, text: a}), " ", status(c.a.status), ` ${c.a.steps} steps`),
      h("span", {}, "B ", h("a", {href: `#/run/${b}`, text: b}), " ", status(c.b.status), ` ${c.b.steps} steps`)),
    h("div", {id: "diverged", class: "bar", text: c.diverged_at == null ? "the runs agree at every step" : `the runs diverge at step ${c.diverged_at}`}),
    h("table", {id: "comparison"}, h("thead", {}, h("tr", {}, ["step", "A", "B", ""].map(t => h("th", {text: t})))), h("tbody", {}, rows)));
  if (c.diverged_at != null) document.getElementById(`cmp-${c.diverged_at}`).scrollIntoView({block: "center"});
}

// --- evals --------------------------------------------------------------------------------
const pct = x => (100 * x).toFixed(1) + "%";
const ci = c => `[${pct(c[0])}, ${pct(c[1])}]`;

async function evalsPage() {
  const rows = await api("api/evals");
  view.replaceChildren(h("h2", {text: "Evals"}), rows.length ? h("table", {id: "evals"},
    h("thead", {}, h("tr", {}, ["eval", "suite", "passed", "accuracy", "95% CI", "unfinished", "started"].map(t => h("th", {text: t})))),
    h("tbody", {}, rows.map(e => h("tr", {"data-eval": e.eval_id},
      h("td", {}, h("a", {href: `#/eval/${e.eval_id}`, text: e.eval_id})), h("td", {text: e.suite}),
      h("td", {class: "num", text: `${e.passed}/${e.n}`}), h("td", {class: "num", text: pct(e.accuracy)}),
      h("td", {class: "num", text: ci(e.ci95)}), h("td", {class: "num", text: e.unfinished}),
      h("td", {class: "muted", text: when(e.created_at)}))))) : h("p", {class: "muted", text: "no evals yet: thinkact eval run SUITE"}));
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

// --- playground ---------------------------------------------------------------------------
async function playPage() {
  const custom = (await api("api/settings")).custom_endpoints;
  const field = (label, el) => [h("label", {for: el.id, text: label}), el];
  const inp = (id, attrs) => h("input", {id, name: id, ...attrs});
  const msg = h("div", {class: "msg", id: "play-msg"});
  const form = h("form", {class: "play", id: "play"},
    field("task", h("textarea", {id: "task", name: "task", required: true})),
    field("provider", inp("provider", {placeholder: "default: the bundled model"})),
    field("model", inp("model", {})),
    custom ? field("base URL", inp("base_url", {placeholder: "for custom endpoints"})) : null,
    field("tools", inp("tools", {placeholder: "python,files,... or none"})),
    field("max steps", inp("max_steps", {type: "number", min: 1})),
    field("max tool calls", inp("max_tool_calls", {type: "number", min: 0})),
    field("timeout (s)", inp("timeout", {type: "number", min: 1})),
    field("heavy N", inp("heavy", {type: "number", min: 1, max: 16})),
    field("aggregate", h("select", {id: "aggregate", name: "aggregate"}, ["", "reflect", "vote"].map(v => h("option", {value: v, text: v || "auto"})))),
    custom ? field("script", inp("script", {placeholder: "JSON turns for --provider scripted"})) : null,
    h("span"), h("button", {class: "primary", id: "start", type: "submit", text: "Start run"}));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(form).entries()) if (v !== "") body[k] = ["max_steps", "max_tool_calls", "heavy"].includes(k) ? +v : k === "timeout" ? parseFloat(v) : v;
    msg.className = "msg"; msg.textContent = "starting…";
    try {
      const r = await api("api/runs", body);
      location.hash = r.heavy ? `#/group/${r.run_id}` : `#/run/${r.run_id}`;
    } catch (err) { msg.className = "msg bad"; msg.textContent = err.message; }
  });
  view.replaceChildren(h("h2", {text: "Start a run"}), form, msg, custom ? null : h("p", {class: "muted", id: "no-custom",
    text: "A base URL or a scripted model's file can be set here only when thinkact ui was started with --allow-custom-endpoints."}));
}
