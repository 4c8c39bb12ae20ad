// thinkact ui: plain DOM, no framework. Every text goes in through textContent.
"use strict";

const PAGE = 100; // steps per page of the timeline
const view = document.getElementById("view");
let stopLive = () => {};

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error?.message || data.error || data.detail || r.statusText);
  return data;
}

const fmtTok = n => n == null ? "" : n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? Math.round(n / 1e3) + "k" : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(n);
const fmtS = s => s == null ? "" : s < 10 ? s.toFixed(2) + " s" : s < 120 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min";
const fmtCost = c => c == null ? "—" : "$" + c.toFixed(c < 0.01 ? 4 : 2);
const when = t => new Date(t * 1000).toLocaleString();
const status = s => h("span", {class: "status " + s, "data-status": s, text: s});
const runLink = r => h("a", {href: r.heavy && r.heavy.index == null ? `#/group/${r.run_id}` : `#/run/${r.run_id}`, text: r.run_id});

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

// --- one step -----------------------------------------------------------------------------
function renderEvent(rec, out) {
  const e = rec.event, cls = rec.superseded ? " superseded" : "";
  switch (e.type) {
    case "run_started":
      if (e.resumed_from_step != null) out.push(h("div", {class: "event resume" + cls, text: `resumed from step ${e.resumed_from_step} (segment ${rec.segment})`}));
      else out.push(h("div", {class: "event" + cls}, h("b", {text: "task "}), e.task));
      break;
    case "assistant_message": {
      const m = e.message;
      if (m.reasoning) out.push(h("details", {class: "reasoning" + cls}, h("summary", {text: `reasoning (${m.reasoning.length} chars)`}), h("pre", {text: m.reasoning})));
      if (m.content) out.push(h("div", {class: "content" + cls, text: m.content}));
      out.push(h("div", {class: "event muted" + cls, text: `model call: ${fmtTok(e.usage.prompt_tokens)} in, ${fmtTok(e.usage.completion_tokens)} out (${fmtTok(e.usage.reasoning_tokens)} reasoning), ${fmtS(e.duration_s)}${e.finish_reason ? ", " + e.finish_reason : ""}`}));
      break;
    }
    case "tool_call":
      out.push(h("div", {class: "call" + cls, "data-call": e.call.id}, h("span", {class: "name", text: e.call.name}), h("pre", {text: e.call.arguments})));
      break;
    case "tool_result": {
      const r = e.result;
      out.push(h("div", {class: "result" + (r.error ? " error" : "") + cls}, h("span", {class: "muted", text: `${r.name} → ${r.error ? "error: " + r.error : "ok"} · ${fmtS(r.duration_s)}`}), h("pre", {text: r.content})));
      break;
    }
    case "retry": out.push(h("div", {class: "event retry" + cls, text: `retry ${e.attempt} in ${fmtS(e.delay_s)}: ${e.error}`})); break;
    case "context_compacted": out.push(h("div", {class: "event compaction" + cls, text: `context compacted (${e.strategy}): ${fmtTok(e.tokens_before)} → ${fmtTok(e.tokens_after)} tokens ${e.detail || ""}`})); break;
    case "notice": out.push(h("div", {class: "event notice" + cls, text: `${e.kind}: ${e.text}`})); break;
    case "error": out.push(h("div", {class: "event error" + cls, text: `${e.fatal ? "fatal error" : "error"}: ${e.message}`})); break;
    case "final_answer": out.push(h("div", {class: "answer" + cls, "data-answer": "1"}, h("b", {text: "answer "}), e.content)); break;
    case "run_finished": out.push(h("div", {class: "event" + cls}, status(e.status), ` ${e.reason} · ${e.steps} steps, ${e.tool_calls} tool calls, ${fmtS(e.duration_s)}`)); break;
  }
}

function stepCard(n, recs, line, cost) {
  const kids = [];
  for (const r of recs) renderEvent(r, kids);
  const head = h("div", {class: "stephead"}, h("b", {text: n === 0 ? "start" : `step ${n}`}));
  if (line) head.append(...[h("span", {text: `${fmtTok(line.prompt_tokens)} in / ${fmtTok(line.completion_tokens)} out`}),
    h("span", {text: `${fmtTok(line.reasoning_tokens)} reasoning`}),
    h("span", {text: line.finished_at ? fmtS(line.finished_at - line.started_at) : "running"}),
    cost ? h("span", {text: fmtCost(cost(line))}) : null,
    line.tools.length ? h("span", {text: line.tools.join(", ")}) : null].filter(Boolean));
  return h("section", {class: "step", id: `step-${n}`, "data-step": n}, head, kids);
}

// --- a run --------------------------------------------------------------------------------
async function runPage(runId, params) {
  let page = Math.floor(((+params.get("step") || 1) - 1) / PAGE), hits = [], hitAt = -1;
  const stepsOf = p => api(`api/runs/${runId}/steps?first=${p * PAGE + 1}&last=${p * PAGE + PAGE}`);
  const firstPage = stepsOf(page);  // asked for alongside the summary
  let sum = await api(`api/runs/${runId}`);
  const total = () => sum.lines.reduce((m, l) => Math.max(m, l.step), 1);
  const head = h("div", {class: "runhead"});
  const mini = h("div", {class: "minimap", id: "minimap"});
  const jump = h("input", {id: "jump", type: "number", min: 1, placeholder: "step", style: "width:80px"});
  const find = h("input", {id: "find", placeholder: "search in this run"});
  const found = h("span", {id: "found", class: "muted"});
  const pager = h("span", {id: "pager"});
  const timeline = h("div", {id: "timeline"});
  const live = h("section", {class: "step live", id: "live", hidden: true});
  const msg = h("div", {class: "msg"});
  const rate = sum.cost_usd != null && sum.prompt_tokens + sum.completion_tokens > 0
    ? sum.cost_usd / (sum.prompt_tokens + sum.completion_tokens) : null;
  const cost = rate == null ? null : l => rate * ((l.prompt_tokens || 0) + (l.completion_tokens || 0));

  function renderHead() {
    const s = sum;
    head.replaceChildren(
      h("h2", {}, status(s.status), " ", s.run_id, s.heavy ? [" ", h("a", {href: `#/group/${s.heavy.group}`, class: "badge", text: `heavy group ${s.heavy.group}`})] : null),
      h("div", {class: "task", title: s.task, text: s.task}),
      h("div", {class: "facts"}, ...[["model", s.model], ["steps", s.steps], ["tool calls", s.tool_calls],
        ["tokens", `${fmtTok(s.prompt_tokens)} in / ${fmtTok(s.completion_tokens)} out (${fmtTok(s.reasoning_tokens)} reasoning)`],
        ["cost", fmtCost(s.cost_usd)], ["time", fmtS((s.finished_at || s.updated_at) - s.started_at)],
        ["segments", s.segments.length], ["reason", s.reason || ""]].map(([k, v]) => h("span", {}, k + " ", h("b", {text: v})))),
      h("div", {class: "bar"},
        ["interrupted", "stopped", "failed"].includes(s.status) && !s.heavy ? h("button", {id: "resume", text: "Resume", onclick: () => act(`api/runs/${runId}/resume`, {})}) : null,
        !s.heavy ? h("button", {id: "fork", text: "Fork from step…", onclick: forkForm}) : null,
        s.answer != null ? h("span", {class: "muted", text: "answer: " + s.answer.slice(0, 120)}) : null));
    if (mini.children.length !== s.lines.length)  // built once; later only classes change
      mini.replaceChildren(...s.lines.map(l => h("span", {title: `step ${l.step}: ${l.tools.join(", ")}`, onclick: () => goStep(l.step)})));
    const hit = new Set(hits);
    s.lines.forEach((l, i) => {
      mini.children[i].className = (l.errors ? "err " : "") + (hit.has(l.step) ? "hit " : "") + (Math.floor((l.step - 1) / PAGE) === page ? "cur" : "");
    });
  }

  async function act(path, body) {
    try {
      const r = await api(path, body), to = `#/run/${r.run_id}`;
      if (location.hash === to) route(); else location.hash = to;
    }
    catch (err) { msg.className = "msg bad"; msg.textContent = err.message; }
  }

  function forkForm() {
    const step = h("input", {id: "fork-step", type: "number", min: 1, value: 1, style: "width:80px"});
    const text = h("textarea", {id: "fork-message", placeholder: "the last message before that step, edited (empty: unchanged)", cols: 60});
    msg.className = "msg";
    msg.replaceChildren(h("div", {class: "bar"}, "fork from step ", step, text,
      h("button", {class: "primary", id: "fork-go", text: "Fork and run", onclick: () => act(`api/runs/${runId}/fork`, {step: +step.value, message: text.value || null})})));
  }

  async function renderPage(scrollTo, fetched) {
    const first = page * PAGE + 1, last = first + PAGE - 1;
    const recs = await (fetched || stepsOf(page));
    const byStep = new Map();
    for (const r of recs) {
      const n = r.step == null ? 0 : r.step;
      if (!byStep.has(n)) byStep.set(n, []);
      byStep.get(n).push(r);
    }
    const lines = new Map(sum.lines.map(l => [l.step, l]));
    const card = n => {
      const el = stepCard(n, byStep.get(n), lines.get(n), cost);
      if (hits.includes(n)) el.classList.add("hit");
      return el;
    };
    const order = [...byStep.keys()].sort((a, b) => a - b);
    // the first cards at once, the rest of the page on the next frame (first paint sooner)
    const near = scrollTo ? order.findIndex(n => n >= scrollTo) : 0;
    const head = new Set(order.slice(Math.max(0, near - 2), near + 12));
    const cards = new Map(order.filter(n => head.has(n)).map(n => [n, card(n)]));
    timeline.replaceChildren(...cards.values());
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    timeline.replaceChildren(...order.map(n => cards.get(n) || card(n)));
    const pages = Math.ceil(total() / PAGE);
    pager.replaceChildren(h("button", {id: "prev", text: "‹", disabled: page === 0, onclick: () => { page--; renderPage(); }}),
      ` steps ${first}–${Math.min(last, total())} of ${total()} `,
      h("button", {id: "next", text: "›", disabled: page >= pages - 1, onclick: () => { page++; renderPage(); }}));
    renderHead();
    if (scrollTo) {
      const el = document.getElementById(`step-${scrollTo}`);
      if (el) {  // again after a frame: cards above it may change height once laid out
        el.scrollIntoView({block: "start"});
        await new Promise(r => requestAnimationFrame(r));
        el.scrollIntoView({block: "start"});
        el.classList.add("jumped");
      }
    }
    timeline.dataset.loaded = `${first}-${last}`;
  }

  function goStep(n) {
    n = Math.max(1, Math.min(total(), n));
    page = Math.floor((n - 1) / PAGE);
    history.replaceState(null, "", `#/run/${runId}?step=${n}`);
    return renderPage(n);
  }

  jump.addEventListener("keydown", e => { if (e.key === "Enter") goStep(+jump.value); });
  let findTimer = null;
  find.addEventListener("keydown", e => {
    if (e.key === "Enter" && hits.length) { hitAt = (hitAt + 1) % hits.length; found.textContent = `match ${hitAt + 1} of ${hits.length}`; goStep(hits[hitAt]); }
  });
  find.addEventListener("input", () => {
    clearTimeout(findTimer);
    findTimer = setTimeout(async () => {
      hits = find.value ? await api(`api/runs/${runId}/search?q=${encodeURIComponent(find.value)}`) : [];
      hitAt = -1;
      found.textContent = find.value ? `${hits.length} step${hits.length === 1 ? "" : "s"} match${hits.length === 1 ? "es" : ""}` : "";
      found.dataset.hits = hits.join(",");
      await renderPage();
    }, 200);
  });

  view.replaceChildren(head, mini, h("div", {class: "bar sticky"}, "jump to ", jump, find, found, pager), msg, timeline, live);
  await renderPage(+params.get("step") || null, firstPage);

  // live: follow the store while the run is running
  if (sum.status !== "running") return;
  const ctrl = new AbortController();
  stopLive = () => ctrl.abort();
  let refresh = null, streaming = "";
  const schedule = () => {
    clearTimeout(refresh);
    refresh = setTimeout(async () => {
      sum = await api(`api/runs/${runId}`);
      const lastPage = Math.floor((total() - 1) / PAGE);
      if (page >= lastPage - 1) { page = lastPage; await renderPage(); } else renderHead();
    }, 150);
  };
  follow(`api/runs/${runId}/stream?after=${sum.last_seq}`, ctrl.signal, (kind, data) => {
    if (kind === "end") { live.hidden = true; schedule(); return; }
    const e = data.event;
    if (e.type === "reasoning_delta" || e.type === "content_delta") {
      streaming += e.text;
      live.hidden = false;
      live.replaceChildren(h("div", {class: "stephead"}, h("b", {text: `step ${data.step} (streaming)`})), h("pre", {text: streaming.slice(-2000)}));
      return;
    }
    if (e.type === "assistant_message" || e.type === "step_started") { streaming = ""; live.hidden = true; }
    schedule();
  });
}

// SSE over fetch (EventSource cannot send an Authorization header)
async function follow(url, signal, onEvent) {
  const conn = document.getElementById("conn");
  try {
    const r = await fetch(url, {signal, headers: {Accept: "text/event-stream"}});
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    conn.textContent = "live";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true}).replace(/\r\n/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let kind = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data) onEvent(kind, JSON.parse(data));
      }
    }
  } catch (err) { if (err.name !== "AbortError") console.warn(err); }
  conn.textContent = "";
}

// --- heavy group --------------------------------------------------------------------------
async function groupPage(group) {
  let timer = null;
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
    clearTimeout(timer);
    if (!agg || agg.status === "running" || g.lanes.some(l => l.status === "running")) timer = setTimeout(load, 1000);
  }
  stopLive = () => clearTimeout(timer);
  await load();
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
function playPage() {
  const field = (label, el) => [h("label", {for: el.id, text: label}), el];
  const inp = (id, attrs) => h("input", {id, name: id, ...attrs});
  const msg = h("div", {class: "msg", id: "play-msg"});
  const form = h("form", {class: "play", id: "play"},
    field("task", h("textarea", {id: "task", name: "task", required: true})),
    field("provider", inp("provider", {placeholder: "default: the bundled model"})),
    field("model", inp("model", {})),
    field("base URL", inp("base_url", {placeholder: "for custom endpoints"})),
    field("tools", inp("tools", {placeholder: "python,files,... or none"})),
    field("max steps", inp("max_steps", {type: "number", min: 1})),
    field("max tool calls", inp("max_tool_calls", {type: "number", min: 0})),
    field("timeout (s)", inp("timeout", {type: "number", min: 1})),
    field("heavy N", inp("heavy", {type: "number", min: 1, max: 16})),
    field("script", inp("script", {placeholder: "JSON turns for --provider scripted"})),
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
  view.replaceChildren(h("h2", {text: "Start a run"}), form, msg);
}

// --- routing ------------------------------------------------------------------------------
async function route() {
  stopLive(); stopLive = () => {};
  const [path, query] = location.hash.slice(1).split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  document.body.dataset.ready = "";
  try {
    if (parts[0] === "run") await runPage(parts[1], params);
    else if (parts[0] === "group") await groupPage(parts[1]);
    else if (parts[0] === "compare") await comparePage(parts[1], parts[2]);
    else if (parts[0] === "play") playPage();
    else if (parts[0] === "evals") await evalsPage();
    else if (parts[0] === "eval") await evalPage(parts[1]);
    else await runsPage(params);
  } catch (err) {
    view.replaceChildren(h("div", {class: "msg bad", id: "error", text: err.message}));
  }
  document.body.dataset.ready = "1";
}

window.addEventListener("hashchange", route);
route();
