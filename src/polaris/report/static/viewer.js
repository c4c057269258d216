// Polaris sample viewer. Every value from the store is model output or derived from it: it is put in
// the page with textContent (or as an <option>'s text), never parsed as HTML, and no URL is built from it
// except query parameters through URLSearchParams.
"use strict";

const $ = (sel) => document.querySelector(sel);
const form = $("#filters");
let cursors = [null]; // cursors[i] starts page i (null: the first page)
let page = 0;
let nextCursor = null;
let selected = null; // "run\u0000item"

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(x) {
  if (x === null || x === undefined) return "-";
  if (typeof x === "number") return Number.isInteger(x) ? String(x) : x.toFixed(3);
  if (typeof x === "object") return JSON.stringify(x);
  return String(x);
}

function filters() {
  const params = new URLSearchParams();
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.type === "checkbox") { if (field.checked) params.set(field.name, "1"); }
    else if (field.value) params.set(field.name, field.value);
  }
  return params;
}

async function getJSON(path, params) {
  const res = await fetch(path + "?" + params.toString(), { headers: { Accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function fill(select, values, labelOf) {
  const keep = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const v of values) {
    const opt = document.createElement("option");
    opt.value = typeof v === "string" ? v : v.id;
    opt.textContent = labelOf ? labelOf(v) : v;
    select.appendChild(opt);
  }
  select.value = keep;
}

async function loadMeta() {
  const meta = await getJSON("/api/meta", new URLSearchParams());
  $("#store").textContent = meta.store + " · " + meta.runs.length + " runs";
  for (const key of ["model", "task", "prompt", "strategy"]) fill(form.elements[key], meta.facets[key]);
  fill(form.elements.run, meta.runs, (r) => r.label + " (" + r.id + ", " + r.items + " items)");
}

function restoreFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.type === "checkbox") field.checked = params.get(field.name) === "1";
    else if (params.has(field.name)) field.value = params.get(field.name);
  }
}

let total = null; // rows matching the current filters (counted once per filter change)
let generation = 0; // answers to superseded requests are dropped

async function loadCount(params, gen) {
  try {
    const data = await getJSON("/api/count", params);
    if (gen === generation) { total = data.total; showPosition(); }
  } catch (err) { /* the page itself reports errors */ }
}

let shown = 0;
function showPosition() {
  const size = Number(form.elements.limit.value || 50);
  const of = total === null ? "…" : String(total);
  $("#pos").textContent = shown ? (page * size + 1) + "–" + (page * size + shown) + " of " + of : "0 of " + of;
}

async function loadPage(recount) {
  const params = filters();
  history.replaceState(null, "", "#" + params.toString());
  const gen = recount ? ++generation : generation;
  if (recount) { total = null; loadCount(new URLSearchParams(params), gen); }
  if (cursors[page]) params.set("after", JSON.stringify(cursors[page]));
  params.set("count", "0");
  $("#status").textContent = "loading…";
  let data;
  try {
    data = await getJSON("/api/results", params);
  } catch (err) {
    $("#status").textContent = "error: " + err.message;
    return;
  }
  if (gen !== generation) return;
  const body = $("#rows tbody");
  body.replaceChildren();
  // The run column is hidden when every row of the page is of one run (the filters or the heading say which).
  const oneRun = data.rows.every((r) => r.run === (data.rows[0] || {}).run);
  $("#rows").classList.toggle("one-run", data.rows.length > 0 && oneRun);
  for (const r of data.rows) {
    const tr = document.createElement("tr");
    tr.dataset.run = r.run;
    tr.dataset.item = r.item;
    const itemCell = cell(r.item, "c-item");
    if (r.group) {
      itemCell.appendChild(el("div", r.group, "clip sub"));
      itemCell.title = r.item + "\n" + r.group;
    }
    tr.appendChild(itemCell);
    tr.appendChild(cell(r.question === null ? "" : questionCell(r.question), "c-question"));
    const runCell = el("td", undefined, "c-run");
    runCell.title = r.label + "\n" + r.run;
    runCell.appendChild(el("div", r.model === null ? r.label : r.model, "clip"));
    runCell.appendChild(el("div", r.model === null ? r.run : [r.task, r.prompt, r.strategy].join(" · "), "clip sub"));
    tr.appendChild(runCell);
    const outcome = cell(r.outcome, "c-outcome v-" + r.verdict);
    outcome.title = r.outcome + " (verdict: " + r.verdict + ")";
    tr.appendChild(outcome);
    tr.appendChild(cell(r.error !== null ? r.error : (r.answer === null ? "(none)" : r.answer), "c-answer"));
    tr.appendChild(cell(r.gold, "c-gold"));
    if (selected === r.run + "\u0000" + r.item) tr.classList.add("selected");
    tr.addEventListener("click", () => showItem(r.run, r.item, tr));
    body.appendChild(tr);
  }
  nextCursor = data.next;
  shown = data.rows.length;
  showPosition();
  $("#prev").disabled = page === 0;
  $("#next").disabled = !nextCursor;
  $("#status").textContent = data.rows.length ? "" : "no items match these filters";
}

// A list cell: one line, cut with an ellipsis at the column's width; the whole value on hover.
function cell(value, cls) {
  const td = el("td", undefined, cls);
  const text = value === null || value === undefined ? "" : String(value);
  td.appendChild(el("div", text, "clip"));
  if (text) td.title = text;
  return td;
}

function oneLine(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

// In the list's narrow column the question itself, not the "Question:" its template opens with.
function questionCell(text) {
  return oneLine(text).replace(/^(question|q)\s*:\s*/i, "");
}

function dl(pairs) {
  const list = el("dl");
  for (const [k, v] of pairs) {
    list.appendChild(el("dt", k));
    list.appendChild(el("dd", fmt(v)));
  }
  return list;
}

function pre(text) {
  return el("pre", text === null || text === undefined ? "(empty)" : text);
}

function table(header, rows) {
  const t = el("table");
  const head = el("tr");
  for (const h of header) head.appendChild(el("th", h));
  t.appendChild(el("thead")).appendChild(head);
  const tb = t.appendChild(el("tbody"));
  for (const row of rows) {
    const tr = el("tr");
    for (const c of row) tr.appendChild(el("td", fmt(c)));
    tb.appendChild(tr);
  }
  return t;
}

function renderMessages(box, messages) {
  for (const m of messages) {
    box.appendChild(el("div", m.role, "role"));
    box.appendChild(pre(typeof m.content === "string" ? m.content : JSON.stringify(m.content)));
  }
}

const UNLINKED = {
  several: "This failed item's result does not name its request (it was stored before results named them), and " +
    "several of its run's requests failed with this error: which one was this item's cannot be told.",
  none: "This failed item's result does not name its request (it was stored before results named them), and no " +
    "failed call of its run has this error.",
};

function renderPrompt(box, request, foundBy, question) {
  if (!request) {
    box.appendChild(el("p", UNLINKED[foundBy] || "The request is not in the store.", "note"));
    return;
  }
  if (foundBy === "calls") {
    box.appendChild(el("p", "Found in the run's failed calls (the one request that failed with this error).", "note"));
  }
  if (request.messages) {
    // Few-shot turns first, folded; the question (the last message) stays in view.
    const earlier = request.messages.slice(0, -1);
    if (earlier.length) {
      const det = el("details");
      det.appendChild(el("summary", earlier.length + " earlier message(s): system prompt and exemplars"));
      renderMessages(det, earlier);
      box.appendChild(det);
    }
    const last = request.messages[request.messages.length - 1];
    if (last && last.content === question) box.appendChild(el("p", "The last message (" + last.role + ") is the question above.", "note"));
    else renderMessages(box, request.messages.slice(-1));
  } else if (question !== null && request.prompt.replace(/^\n+|\n+$/g, "") === question) {
    box.appendChild(el("p", "The whole prompt is the question above.", "note"));
  } else {
    box.appendChild(pre(request.prompt));
  }
  box.appendChild(dl([["decoding", request.decoding],
                      ...(request.stop && request.stop.length ? [["stop", request.stop]] : [])]));
}

async function showItem(run, item, row) {
  selected = run + "\u0000" + item;
  for (const tr of document.querySelectorAll("#rows tr.selected")) tr.classList.remove("selected");
  if (row) row.classList.add("selected");
  const box = $("#detail");
  box.replaceChildren(el("p", "loading…", "note"));
  let d;
  try {
    d = await getJSON("/api/item", new URLSearchParams({ run, item }));
  } catch (err) {
    box.replaceChildren(el("p", "error: " + err.message, "error"));
    return;
  }
  box.replaceChildren();
  box.appendChild(el("h2", d.item));
  box.appendChild(el("div", d.run.label));
  box.appendChild(el("div", d.run.id, "run"));
  if (d.question !== null) {
    box.appendChild(el("h3", "Question"));
    box.appendChild(pre(d.question));
  }
  box.appendChild(dl([
    ["verdict", d.verdict], ["outcome", d.outcome], ["gold", d.gold], ["answer (flexible)", d.answer], ["answer (strict)", d.strict_answer],
    ["score", d.correct], ["strict score", d.strict], ["extracted", d.extracted],
    ...(d.group ? [["group", d.group]] : []), // most tasks have no groups: no empty row for them
  ]));
  if (d.scored_with) {
    box.appendChild(el("p", "Scored by the judge model " + d.scored_with.model + "'s reading of each response, not by" +
      " the task's extraction rules.", "note"));
  }
  if (d.error !== null) {
    box.appendChild(el("p", "request failed: " + d.error, "error"));
    const alike = d.failures.every((f) => f.error === d.error);
    if (d.failures.length && alike) {
      const attempts = d.failures.reduce((n, f) => n + (f.attempts || 1), 0);
      box.appendChild(el("p", d.failures.length + " failed call" + (d.failures.length > 1 ? "s" : "") + ", " +
        attempts + " attempt" + (attempts > 1 ? "s" : "") + " in all.", "note"));
    } else if (d.failures.length) {
      box.appendChild(table(["failed call", "error", "attempts", "seconds"],
        d.failures.map((f, i) => [i + 1, f.error, f.attempts, f.latency])));
    }
    box.appendChild(el("p", "A failed item is not scored; the next run asks it again.", "note"));
  }
  if (d.votes) {
    box.appendChild(el("h3", "Vote"));
    box.appendChild(dl([["winning votes", d.votes.top], ["valid votes", d.votes.valid], ["answers tied", d.votes.tied]]));
  }
  if (d.samples.length > 1) {
    box.appendChild(el("h3", "Samples (" + d.samples.length + ")"));
    box.appendChild(table(["#", "answer", "strict", "score", "outcome", "vote class", "steps", "tokens", "finish"],
      d.samples.map((s) => [s.idx, s.answer, s.strict, s.correct, s.outcome, s.vote, s.steps, s.tokens, s.finish])));
  }
  if (d.detail) {
    box.appendChild(el("h3", "Plan verdict"));
    box.appendChild(dl(Object.entries(d.detail)));
  }
  if (d.modulo) {
    box.appendChild(el("h3", "LLM-Modulo rounds (feedback " + fmt(d.modulo.feedback) + ", valid at round " +
      fmt(d.modulo.valid_at) + ")"));
    for (const r of d.modulo.rounds) {
      box.appendChild(el("div", "round " + r.round + ": " + (r.valid ? "valid" : "invalid (" + fmt(r.kind) + ")") +
        ", " + fmt(r.length) + " steps", "role"));
      box.appendChild(pre(r.response));
      if (r.feedback) { box.appendChild(el("div", "feedback sent", "role")); box.appendChild(pre(r.feedback)); }
    }
  }
  const failed = d.error !== null;
  if (failed) { // what was asked matters most when it failed: the prompt before the (missing) response
    box.appendChild(el("h3", "Prompt"));
    renderPrompt(box, d.request, d.request_found_by, d.question);
    if (!d.samples.length) { showMeta(box, d); return; }
  }
  box.appendChild(el("h3", d.samples.length > 1 ? "Responses" : "Response"));
  if (!d.samples.length) box.appendChild(el("p", "No response is stored for this item.", "note"));
  for (const s of d.samples) {
    if (d.samples.length > 1) {
      box.appendChild(el("div", "sample " + s.idx + ": " + fmt(s.answer) + " (score " + fmt(s.correct) + ")", "role"));
    }
    if (s.reasoning) {
      const det = el("details");
      det.appendChild(el("summary", "reasoning"));
      det.appendChild(pre(s.reasoning));
      box.appendChild(det);
    }
    box.appendChild(pre(s.text));
  }
  if (!failed) {
    box.appendChild(el("h3", "Prompt"));
    renderPrompt(box, d.request, d.request_found_by, d.question);
  }
  showMeta(box, d);
}

function showMeta(box, d) {
  if (d.meta) { box.appendChild(el("h3", "Item metadata")); box.appendChild(dl(Object.entries(d.meta))); }
}

function restart() {
  cursors = [null];
  page = 0;
  loadPage(true);
}

form.addEventListener("change", restart);
// A link or an edited address (#model=...&verdict=error) on an open page filters as on a fresh one.
window.addEventListener("hashchange", () => {
  if (location.hash.slice(1) === filters().toString()) return;
  form.reset();
  restoreFromHash();
  restart();
});
$("#next").addEventListener("click", () => {
  if (!nextCursor) return;
  page += 1;
  cursors[page] = nextCursor;
  loadPage();
});
$("#prev").addEventListener("click", () => {
  if (page === 0) return;
  page -= 1;
  loadPage();
});

(async () => {
  try {
    await loadMeta();
  } catch (err) {
    $("#status").textContent = "error: " + err.message;
    return;
  }
  restoreFromHash();
  loadPage(true);
})();
