// the timeline of one run, paged, following the store while the run runs
"use strict";

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

  let generation = 0;  // a newer render (jump, search, live update) makes older ones stop
  async function renderPage(scrollTo, fetched) {
    const mine = ++generation;
    const first = page * PAGE + 1, last = first + PAGE - 1;
    const recs = await (fetched || stepsOf(page));
    if (mine !== generation) return;
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
    if (mine !== generation) return;
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
    const r = await authed(url, {signal, headers: {Accept: "text/event-stream"}});
    if (!r.ok) throw new Error(`event stream: HTTP ${r.status}`);
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
