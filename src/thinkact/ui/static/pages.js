// the runs list, heavy groups, comparisons and the playground
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
