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

// --- the bearer key: asked for on a 401, kept for this tab (sessionStorage), sent on every call
const KEY = "thinkact-key";
let asking = null;  // one prompt at a time, however many calls were refused

function askKey(wrong) {
  if (asking) return asking;
  asking = new Promise(resolve => {
    const input = h("input", {id: "key", type: "password", autocomplete: "off", placeholder: "bearer key", size: 32});
    const form = h("form", {id: "key-form", class: "keyprompt"},
      h("b", {text: "This server needs its key."}),
      h("div", {class: "muted", id: "key-msg", text: wrong ? "That key was refused; try again." : "It is kept for this tab only."}),
      h("div", {class: "bar"}, input, h("button", {class: "primary", id: "key-go", type: "submit", text: "Open"})));
    const shade = h("div", {class: "shade", id: "key-prompt"}, form);
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      shade.remove(); asking = null; resolve();
    });
    document.body.append(shade);
    input.focus();
  });
  return asking;
}

// fetch with the key; a 401 asks for the key and tries again
async function authed(path, init = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const headers = {...(init.headers || {}), ...(key ? {Authorization: `Bearer ${key}`} : {})};
    const r = await fetch(path, {...init, headers});
    if (r.status !== 401) return r;
    if (sessionStorage.getItem(KEY) !== key) continue;  // a key came meanwhile: try that one
    sessionStorage.removeItem(KEY);
    await askKey(key !== null);
  }
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const r = await authed(path, init);
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
