// thinkact ui: shared helpers (plain DOM, no framework; every text goes in through textContent).
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
