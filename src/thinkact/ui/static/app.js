// thinkact ui: routes a location hash to its page (scripts: core, run, pages, app).
"use strict";

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
    else if (parts[0] === "play") await playPage();
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
