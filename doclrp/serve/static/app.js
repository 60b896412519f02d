// The page of doclrp serve. Plain JavaScript, no libraries. Every text from a document,
// a label or the server goes into the page as textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SIDES = ["a", "b"];
const state = {
  models: [], methods: [], colormaps: [], results: [],
  shown: { a: null, b: null }, // what each panel shows: {result, source: {kind, request | results, index}}
  corpus: { offset: 0, limit: 25, sort: "order", descending: false, total: 0 },
};
// Side A keeps the plain ids (#model, #document…); side B's copies end in "-b".
const pid = (side, name) => (side === "a" ? name : `${name}-b`);
const sideEl = (side, name) => $(pid(side, name));
// Called after every drawing of the result (upload.js draws a PDF's pages this way).
const afterRender = [];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function fmt(x) {
  if (x === null || x === undefined) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return (x > 0 ? "+" : "") + (a >= 1e4 || a < 1e-3 ? x.toExponential(3) : x.toFixed(4));
}

async function call(path, body, method) {
  const options = body === undefined ? { method: method || "GET" } : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function api(path, body) { return (await call(path, body)).json(); }

function showError(message, box) {
  box = box || $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- colours: the server's maps, sampled from -1 to +1 -------------------------------------------
function parseHex(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }

function colormap(name) {
  const found = state.colormaps.find((m) => m.name === name) || state.colormaps[0];
  if (!found.rgb) found.rgb = found.stops.map(parseHex);
  return found;
}

// The colour of value/vmax on the map; gamma < 1 lifts weak relevance, > 1 keeps only the strong.
function colorOf(value, vmax, mapName, gamma) {
  const map = colormap(mapName).rgb;
  let t = vmax > 0 && Number.isFinite(value) ? Math.max(-1, Math.min(1, value / vmax)) : 0;
  t = Math.sign(t) * Math.pow(Math.abs(t), gamma);
  const x = ((t + 1) / 2) * (map.length - 1);
  const i = Math.min(map.length - 2, Math.floor(x));
  const f = x - i;
  return map[i].map((c, k) => Math.round(c + f * (map[i + 1][k] - c)));
}

function cssColor(rgb) { return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`; }

// Black or white text, whichever contrasts more (WCAG luminance, as doclrp.render.colors.text_color).
function textColorOn(rgb) {
  const linear = rgb.map((c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
  return luminance > 0.179 ? "#000000" : "#ffffff";
}

function display() {
  return { granularity: $("granularity").value, colormap: $("colormap").value, gamma: Number($("gamma").value) };
}

// -- controls ------------------------------------------------------------------------------------
function fillSelect(select, entries, wanted) {
  select.replaceChildren();
  for (const [value, label] of entries) {
    const option = el("option", null, label);
    option.value = value;
    select.append(option);
  }
  if (wanted !== undefined && wanted !== null && entries.some(([value]) => value === wanted)) select.value = wanted;
}

function modelOf(side) {
  return state.models.find((m) => m.id === sideEl(side, "model").value) || state.models[0];
}

function fillTargets(side, wanted, weights) {
  const model = modelOf(side);
  const entries = [["predicted", model.task === "regression" && model.labels.length === 1
    ? `predicted (${model.labels[0]})` : "predicted class"]];
  for (const label of model.labels) entries.push([label, model.task === "regression" ? `output ${label}` : label]);
  if (model.task === "classification" && model.labels.length > 2) {
    for (const label of model.labels) entries.push([`${label}-vs-rest`, `${label} vs rest`]);
  }
  if (model.labels.length >= 2) {
    if (model.task === "classification") entries.push(["__contrast", "contrast A − B…"]);
    entries.push(["__weights", "weighted outputs…"]);
  }
  fillSelect(sideEl(side, "target"), entries, wanted === undefined ? sideEl(side, "target").value : wanted);
  fillTargetExtra(side, weights);
  sideEl(side, "reference-box").hidden = !model.has_mean_reference;
  if (!model.has_mean_reference) sideEl(side, "reference").checked = false;
}

// The inputs of a contrast (two classes) or of weights (one number per output).
function fillTargetExtra(side, weights) {
  const box = sideEl(side, "target-extra");
  box.replaceChildren();
  const model = modelOf(side);
  const kind = sideEl(side, "target").value;
  if (kind === "__contrast") {
    const given = Object.entries(weights || {});
    const pos = (given.find(([, w]) => w > 0) || [model.labels[0]])[0];
    const neg = (given.find(([, w]) => w < 0) || [model.labels[1]])[0];
    for (const [role, wanted] of [["pos", pos], ["neg", neg]]) {
      const select = el("select", "contrast");
      select.dataset.role = role;
      select.setAttribute("aria-label", role === "pos" ? "class A" : "class B");
      fillSelect(select, model.labels.map((l) => [l, l]), wanted);
      if (role === "neg") box.append(" − ");
      box.append(select);
    }
  } else if (kind === "__weights") {
    for (const label of model.labels) {
      const field = el("label", "weight", label);
      const input = el("input");
      input.type = "number";
      input.step = "any";
      input.dataset.label = label;
      const w = weights && weights[label];
      input.value = w !== undefined ? String(w) : "0";
      field.append(input);
      box.append(field);
    }
  }
}

function fillParams(side, values, methodSelect, box) {
  methodSelect = methodSelect || sideEl(side, "method");
  box = box || sideEl(side, "params");
  box.replaceChildren();
  const method = state.methods.find((m) => m.name === methodSelect.value);
  if (!method) return;
  for (const [name, fallback] of Object.entries(method.params)) {
    const label = el("label", null, name);
    const given = values && values[name];
    const choices = (method.choices || {})[name];
    let input;
    if (choices) {  // a parameter that takes text (recurrent): its values, the default first
      input = el("select");
      fillSelect(input, [["", fallback === null ? "default" : String(fallback)], ...choices.map((c) => [c, c])],
        given !== undefined && given !== null ? String(given) : "");
    } else {
      input = el("input");
      input.type = "number";
      input.step = "any";
      input.placeholder = fallback === null ? "none" : String(fallback);
      input.value = given !== undefined && given !== null ? String(given) : (fallback === null ? "" : String(fallback));
    }
    input.name = name;
    input.dataset.param = name;
    if (choices) input.dataset.text = "1";
    label.append(input);
    box.append(label);
  }
}

function readParams(box) {
  const params = {};
  for (const input of box.querySelectorAll("[data-param]")) {
    if (input.value.trim() === "") continue;
    params[input.dataset.param] = input.dataset.text ? input.value : Number(input.value);
  }
  return params;
}

function readTarget(side) {
  const kind = sideEl(side, "target").value;
  const box = sideEl(side, "target-extra");
  if (kind === "__contrast") {
    const pos = box.querySelector("select[data-role='pos']").value;
    const neg = box.querySelector("select[data-role='neg']").value;
    if (pos === neg) throw new Error("a contrast needs two different classes");
    return { [pos]: 1, [neg]: -1 };
  }
  if (kind === "__weights") {
    const weights = {};
    for (const input of box.querySelectorAll("input[data-label]")) {
      const w = Number(input.value);
      if (input.value.trim() !== "" && w !== 0) weights[input.dataset.label] = w;
    }
    if (!Object.keys(weights).length) throw new Error("give at least one output a weight other than 0");
    return weights;
  }
  return kind;
}

function collectRequest(side) {
  return {
    text: $("text").value,
    model: sideEl(side, "model").value,
    method: sideEl(side, "method").value,
    params: readParams(sideEl(side, "params")),
    target: readTarget(side),
    reference: sideEl(side, "reference").checked ? "mean" : null,
    granularity: $("granularity").value,
  };
}

function setSide(side, wanted) {
  fillSelect(sideEl(side, "model"), state.models.map((m) => [m.id, m.name === m.id ? m.id : `${m.name} (${m.id})`]),
    wanted.model ?? undefined);
  const methodEntries = state.methods.map((m) => [m.name, m.kind === "lrp" ? `LRP: ${m.name}` : m.name]);
  fillSelect(sideEl(side, "method"), methodEntries, wanted.method ?? modelOf(side).default_method);
  fillParams(side, wanted.params);
  let target = wanted.target ?? "predicted";
  if (wanted.weights && Object.keys(wanted.weights).length) {
    const values = Object.values(wanted.weights);
    target = values.length === 2 && values.includes(1) && values.includes(-1) ? "__contrast" : "__weights";
  }
  fillTargets(side, target, wanted.weights);
  sideEl(side, "reference").checked = wanted.reference === "mean" && modelOf(side).has_mean_reference;
}

function wireSide(side) {
  sideEl(side, "model").addEventListener("change", () => {
    fillTargets(side, "predicted");
    sideEl(side, "method").value = modelOf(side).default_method;
    fillParams(side);
  });
  sideEl(side, "method").addEventListener("change", () => fillParams(side));
  sideEl(side, "target").addEventListener("change", () => fillTargetExtra(side));
}

// Side B and panel B are copies of A's markup with "-b" ids.
function cloneWithSuffix(node) {
  const copy = node.cloneNode(true);
  for (const child of [copy, ...copy.querySelectorAll("[id]")]) if (child.id) child.id = `${child.id}-b`;
  for (const label of copy.querySelectorAll("[for]")) label.htmlFor = `${label.htmlFor}-b`;
  return copy;
}

// -- the URL holds the whole view ----------------------------------------------------------------
function saveToUrl(extra) {
  const query = new URLSearchParams();
  query.set("view", currentView());
  const d = display();
  query.set("granularity", d.granularity);
  query.set("cmap", d.colormap);
  if (d.gamma !== 1) query.set("gamma", String(d.gamma));
  for (const [key, value] of Object.entries(extra || {})) query.set(key, value);
  const sides = $("compare").checked ? SIDES : ["a"];
  if ($("compare").checked) query.set("compare", "1");
  for (const side of sides) {
    const prefix = side === "a" ? "" : "b.";
    const r = state.shown[side] && state.shown[side].source.kind === "explain" ? state.shown[side].source.request : null;
    if (!r) continue;
    for (const key of ["model", "method"]) query.set(prefix + key, r[key]);
    if (typeof r.target === "object") {
      for (const [label, w] of Object.entries(r.target)) query.set(`${prefix}tw.${label}`, String(w));
    } else {
      query.set(prefix + "target", String(r.target));
    }
    if (r.reference) query.set(prefix + "reference", r.reference);
    for (const [name, value] of Object.entries(r.params)) query.set(`${prefix}p.${name}`, String(value));
  }
  const a = state.shown.a;
  if (a && a.source.kind === "stored") {
    query.set("results", a.source.results);
    query.set("doc", String(a.source.index));
  } else if (a) {
    query.set("text", a.source.request.text);
  }
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

function readUrl() {
  const query = new URLSearchParams(location.search);
  const side = (prefix) => {
    const params = {};
    const weights = {};
    for (const [key, value] of query) {
      if (key.startsWith(`${prefix}p.`)) params[key.slice(prefix.length + 2)] = value;
      if (key.startsWith(`${prefix}tw.`)) weights[key.slice(prefix.length + 3)] = Number(value);
    }
    return { model: query.get(`${prefix}model`), method: query.get(`${prefix}method`),
      target: query.get(`${prefix}target`), reference: query.get(`${prefix}reference`), params, weights };
  };
  return {
    view: query.get("view"), text: query.get("text"), a: side(""), b: side("b."), compare: query.get("compare") === "1",
    granularity: query.get("granularity"), cmap: query.get("cmap"), gamma: query.get("gamma"),
    results: query.get("results"), doc: query.get("doc"),
  };
}

// -- one panel ------------------------------------------------------------------------------------
// Model tokens with characters of their own (special tokens have none); stored results keep no tokens,
// so they show their words.
function tokensOf(result) { return (result.tokens || []).filter((t) => t.end > t.start); }

function granularityOf(result) {
  const wanted = display().granularity;
  return wanted === "token" && !tokensOf(result).length ? "word" : wanted;
}

function unitsOf(result) {
  const granularity = granularityOf(result);
  return granularity === "sentence" ? result.sentences : granularity === "token" ? tokensOf(result) : result.words;
}

// A word's pieces: the model tokens aligned to it, in order.
function piecesOf(result, wordIndex) {
  if (!result.piecesByWord) {
    result.piecesByWord = new Map();
    for (const token of result.tokens || []) {
      if (token.word === null || token.word === undefined) continue;
      if (!result.piecesByWord.has(token.word)) result.piecesByWord.set(token.word, []);
      result.piecesByWord.get(token.word).push(token);
    }
  }
  return result.piecesByWord.get(wordIndex) || [];
}

function vmaxOf(result) { return Math.max(0, ...unitsOf(result).map((u) => Math.abs(u.relevance)).filter(Number.isFinite)); }

function renderDocument(side, result, vmax) {
  const box = sideEl(side, "document");
  box.replaceChildren();
  const text = result.text;
  const d = display();
  const granularity = granularityOf(result);
  box.dataset.granularity = granularity;
  let position = 0;
  unitsOf(result).forEach((unit, index) => {
    if (unit.start > position) box.append(document.createTextNode(text.slice(position, unit.start)));
    // Text between or inside the units stays plain; a unit overlapping the last one shows only its new characters.
    const start = Math.max(position, unit.start);
    if (unit.end <= start) return;
    const span = el("span", "unit", text.slice(start, unit.end));
    const rgb = colorOf(unit.relevance, vmax, d.colormap, d.gamma);
    span.style.backgroundColor = cssColor(rgb);
    span.style.color = textColorOn(rgb);
    span.dataset.relevance = String(unit.relevance);
    span.dataset.index = String(index);
    span.title = fmt(unit.relevance);
    const show = () => {
      for (const other of document.querySelectorAll(".document span.unit.focus")) other.classList.remove("focus");
      span.classList.add("focus");
      showHover(side, result, unit, index, granularity);
    };
    span.addEventListener("mouseenter", show);
    span.addEventListener("click", show); // a tap on a phone
    box.append(span);
    position = Math.max(position, unit.end);
  });
  if (position < text.length) box.append(document.createTextNode(text.slice(position)));
}

// The exact relevance of what is hovered or tapped and, for a word or a token, the word's pieces.
function showHover(side, result, unit, index, granularity) {
  const share = result.conservation.explained ? unit.relevance / result.conservation.explained : null;
  let what;
  let word = null;
  if (granularity === "sentence") {
    what = `sentence at ${unit.start}`;
  } else if (granularity === "token") {
    word = unit.word === null || unit.word === undefined ? null : unit.word;
    what = `token “${unit.text}”` + (word === null ? " (in no word)" : ` of “${result.words[word].text}”`);
  } else {
    word = index;
    what = `“${unit.text}” (sentence ${unit.sentence + 1})`;
  }
  const where = $("compare").checked ? `${side.toUpperCase()}: ` : "";
  const hover = $("hover");
  hover.replaceChildren(`${where}${what}: relevance ${unit.relevance.toPrecision(6)}` +
    (share === null ? "" : `, ${(100 * share).toFixed(1)}% of the explained value`));
  const pieces = word === null ? [] : piecesOf(result, word);
  if (!pieces.length) return;
  const list = el("span", "pieces", granularity === "token"
    ? ` · its word ${result.words[word].relevance.toPrecision(6)} in ${pieces.length} piece${pieces.length > 1 ? "s" : ""}: `
    : ` · ${pieces.length} piece${pieces.length > 1 ? "s" : ""}: `);
  pieces.forEach((piece, k) => {
    const item = el("span", "piece", `“${piece.text}” ${piece.relevance.toPrecision(6)}`);
    item.dataset.relevance = String(piece.relevance);
    if (piece === unit) item.classList.add("current");
    list.append(item, k + 1 < pieces.length ? ", " : "");
  });
  hover.append(list);
}

function renderSummary(side, result, note) {
  const box = sideEl(side, "summary");
  box.replaceChildren();
  const params = Object.entries(result.method.params).map(([k, v]) => `${k}=${v}`).join(", ");
  const predicted = result.prediction.label !== null ? result.prediction.label
    : result.prediction.values.map((v) => v.toFixed(3)).join(", ");
  if ($("compare").checked) box.append(el("b", "side-name", `${side.toUpperCase()} `));
  box.append(result.model ? `${result.model} predicts ` : "Predicted ", el("b", null, predicted),
    " · explaining ", el("b", "target-name", result.target.name),
    " with ", el("b", "method-name", result.method.name + (params ? ` (${params})` : "")));
  if (note) box.append(el("div", "note", note));
  for (const line of result.notes || []) box.append(el("div", "note method-note", line));
}

function renderPrediction(side, result) {
  const table = sideEl(side, "prediction");
  table.replaceChildren();
  const p = result.prediction;
  result.labels.forEach((label, k) => {
    const row = el("tr", k === p.index ? "predicted" : null);
    row.append(el("td", null, label));
    if (p.probabilities) {
      const meter = el("div", "meter");
      const fill = el("span");
      fill.style.width = `${(100 * p.probabilities[k]).toFixed(1)}%`;
      meter.append(fill);
      const cell = el("td");
      cell.append(meter);
      row.append(cell, el("td", "num", `${(100 * p.probabilities[k]).toFixed(1)}%`));
    }
    row.append(el("td", "num", p.values[k].toFixed(3)));
    table.append(row);
  });
}

function renderConservation(side, result) {
  const table = sideEl(side, "conservation");
  table.replaceChildren();
  const c = result.conservation;
  const rows = [["explained value", c.explained], ["sum over words", c.words]];
  for (const [name, value] of Object.entries(result.special)) rows.push([`special: ${name}`, value]);
  if (!Object.keys(result.special).length) rows.push(["special tokens", c.special]);
  rows.push(["delta (not conserved)", c.delta]);
  for (const [name, value] of rows) {
    const row = el("tr");
    row.append(el("td", null, name), el("td", "num", value.toPrecision(6)));
    table.append(row);
  }
}

function renderBars(box, words, vmax, rgb) {
  box.replaceChildren();
  if (!words.length) { box.append(el("p", "none", "none")); return; }
  // A top word sums its occurrences, so it can pass the largest single word: the longest bar is it.
  vmax = Math.max(vmax, ...words.map((word) => Math.abs(word.relevance)));
  for (const word of words) {
    const bar = el("div", "bar");
    const track = el("div", "track");
    const fill = el("span");
    fill.style.width = `${vmax > 0 ? Math.min(100, (100 * Math.abs(word.relevance)) / vmax) : 0}%`;
    fill.style.backgroundColor = cssColor(rgb);
    track.append(fill);
    const shown = word.count > 1 ? `${word.text} ×${word.count}` : word.text;
    const name = el("span", "word", shown);
    name.title = word.count > 1 ? `${word.text}: ${word.count} occurrences, relevance summed` : word.text;
    bar.append(name, track, el("span", "num", fmt(word.relevance)));
    box.append(bar);
  }
}

function renderLegend(vmax) {
  const d = display();
  const stops = [];
  for (let i = 0; i <= 20; i += 1) stops.push(cssColor(colorOf(((i - 10) / 10) * vmax, vmax, d.colormap, d.gamma)));
  $("legend-bar").style.backgroundImage = `linear-gradient(to right, ${stops.join(", ")})`;
  $("legend-min").textContent = fmt(-vmax);
  $("legend-max").textContent = fmt(vmax);
}

// Both panels on one scale: the largest |relevance| of what is shown.
function renderAll() {
  const sides = SIDES.filter((s) => state.shown[s] && (s === "a" || $("compare").checked));
  if (!sides.length) return;
  const vmax = Math.max(...sides.map((s) => vmaxOf(state.shown[s].result)));
  const wordVmax = Math.max(...sides.map((s) => state.shown[s].result.scale.word_vmax));
  const d = display();
  for (const side of sides) {
    const { result, note } = state.shown[side];
    renderSummary(side, result, note);
    renderDocument(side, result, vmax);
    renderPrediction(side, result);
    renderConservation(side, result);
    renderBars(sideEl(side, "top-for"), result.top_for, wordVmax, colorOf(1, 1, d.colormap, 1));
    renderBars(sideEl(side, "top-against"), result.top_against, wordVmax, colorOf(-1, 1, d.colormap, 1));
  }
  $("panel-b").hidden = !sides.includes("b");
  $("panels").classList.toggle("compare", sides.includes("b"));
  renderLegend(vmax);
  $("hover").textContent = "Hover or tap a word for its exact relevance and its pieces.";
  $("result").hidden = false;
  for (const hook of afterRender) hook();
}

function markExplained() {
  document.body.dataset.explained = String(Number(document.body.dataset.explained || 0) + 1);
}

async function explain() {
  showError("");
  const sides = $("compare").checked ? SIDES : ["a"];
  let requests;
  try {
    requests = sides.map((side) => collectRequest(side));
  } catch (error) {
    showError(error.message);
    return;
  }
  $("explain").disabled = true;
  $("status").textContent = "explaining…";
  const started = performance.now();
  try {
    const results = await Promise.all(requests.map((request) => api("/api/explain", request)));
    sides.forEach((side, i) => {
      state.shown[side] = { result: results[i], source: { kind: "explain", request: requests[i] } };
    });
    renderAll();
    saveToUrl();
    $("status").textContent = `done in ${((performance.now() - started) / 1000).toFixed(2)} s`;
    markExplained();
    revealResult();
  } catch (error) {
    showError(error.message);
    $("status").textContent = "";
  } finally {
    $("explain").disabled = false;
  }
}

// On a narrow screen (a phone) the controls fill the first screen and the result starts below the
// fold: bring it into view once it is there.
const NARROW = "(max-width: 900px)";
function revealResult() {
  if (window.matchMedia(NARROW).matches) $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

// -- export what a panel shows ----------------------------------------------------------------------
async function exportPanel(side, format) {
  const shown = state.shown[side];
  if (!shown) return;
  showError("");
  try {
    const { source } = shown;
    const granularity = display().granularity;
    const response = source.kind === "explain"
      ? await call("/api/export", { ...source.request, granularity, format })
      : await call(`/api/results/${encodeURIComponent(source.results)}/documents/${source.index}/export?` +
        new URLSearchParams({ format, granularity }));
    const blob = await response.blob();
    const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = named ? named[1] : `doclrp.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    showError(error.message);
  }
}

// -- corpus results ---------------------------------------------------------------------------------
function corpusQuery() {
  const c = state.corpus;
  const query = new URLSearchParams({ offset: String(c.offset), limit: String(c.limit), sort: c.sort,
    descending: String(c.descending) });
  const add = (key, id) => { const v = $(id).value.trim(); if (v !== "") query.set(key, v); };
  add("search", "corpus-search");
  add("label", "corpus-label");
  add("predicted", "corpus-predicted");
  add("correct", "corpus-correct");
  add("min_confidence", "corpus-min-confidence");
  add("max_confidence", "corpus-max-confidence");
  add("min_abs_delta", "corpus-min-delta");
  return query;
}

async function loadCorpusPage() {
  const id = $("results-id").value;
  if (!id) return;
  showError("", $("corpus-error"));
  try {
    const page = await api(`/api/results/${encodeURIComponent(id)}/documents?${corpusQuery()}`);
    state.corpus.total = page.total;
    const body = $("corpus-table").tBodies[0];
    body.replaceChildren();
    for (const row of page.rows) {
      const tr = el("tr", "doc-row");
      tr.tabIndex = 0;
      tr.dataset.index = String(row.index);
      const correct = row.correct === null ? "–" : row.correct ? "✓" : "✗";
      tr.append(el("td", "id", row.id), el("td", null, row.label ?? "–"),
        el("td", null, row.skipped ? `skipped: ${row.skipped}` : row.predicted ?? "–"),
        el("td", row.correct === false ? "wrong" : null, correct),
        el("td", "num", row.confidence === null ? "–" : row.confidence.toFixed(3)),
        el("td", "num", fmt(row.delta)), el("td", "snippet", row.snippet));
      const open = () => openStored(id, row.index);
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
      body.append(tr);
    }
    const c = state.corpus;
    $("corpus-range").textContent = page.total
      ? `${c.offset + 1}–${Math.min(c.offset + c.limit, page.total)} of ${page.total}` : "no documents";
    $("corpus-prev").disabled = c.offset === 0;
    $("corpus-next").disabled = c.offset + c.limit >= page.total;
    document.body.dataset.corpusLoaded = String(Number(document.body.dataset.corpusLoaded || 0) + 1);
  } catch (error) {
    showError(error.message, $("corpus-error"));
  }
}

async function loadTopWords() {
  const id = $("results-id").value;
  const box = $("corpus-top");
  box.replaceChildren(el("p", "hint", "summing…"));
  try {
    const data = await api(`/api/results/${encodeURIComponent(id)}/top-words?k=8`);
    box.replaceChildren();
    for (const group of data.groups) {
      const card = el("div", "top-group");
      card.append(el("h3", null, `${group.group} (${group.documents})`));
      for (const [title, words] of [["for", group.for], ["against", group.against]]) {
        const line = el("p", null);
        line.append(el("b", null, `${title}: `), words.map((w) => w.word).join(", ") || "–");
        card.append(line);
      }
      box.append(card);
    }
    if (!data.groups.length) box.append(el("p", "hint", "no explained documents"));
  } catch (error) {
    box.replaceChildren(el("p", "error", error.message));
  }
}

function fillCorpusFilters() {
  const results = state.results.find((r) => r.id === $("results-id").value);
  if (!results) return;
  const entries = [["", "any"], ...results.labels.map((l) => [l, l])];
  fillSelect($("corpus-label"), entries, "");
  fillSelect($("corpus-predicted"), entries, "");
}

async function openStored(id, index) {
  try {
    const result = await api(`/api/results/${encodeURIComponent(id)}/documents/${index}`);
    const source = result.source;
    let note = `document ${result.id} as the results store it`;
    $("text").value = result.text;
    if (source.model) {
      const target = source.target && source.target.weights === null && source.target.name ? source.target.name : undefined;
      setSide("a", { model: source.model, method: source.method.name, params: source.method.params,
        target: target ?? "predicted" });
      note += `; Explain re-explains it with ${source.model}`;
    } else {
      note += "; the model of these results is not served, so the controls explain with another model";
    }
    $("compare").checked = false;
    syncCompare();
    state.shown.b = null;
    state.shown.a = { result, note, source: { kind: "stored", results: id, index } };
    showView("explain");
    renderAll();
    saveToUrl();
    markExplained();
  } catch (error) {
    showError(error.message, currentView() === "corpus" ? $("corpus-error") : $("error"));
  }
}

function wireCorpus() {
  let timer = null;
  const reload = () => { state.corpus.offset = 0; loadCorpusPage(); };
  $("corpus-controls").addEventListener("submit", (event) => event.preventDefault());
  $("corpus-search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 200); });
  for (const id of ["corpus-label", "corpus-predicted", "corpus-correct", "corpus-min-confidence",
    "corpus-max-confidence", "corpus-min-delta"]) $(id).addEventListener("change", reload);
  $("results-id").addEventListener("change", () => { fillCorpusFilters(); reload(); loadTopWords(); });
  for (const button of document.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => {
      const c = state.corpus;
      c.descending = c.sort === button.dataset.sort ? !c.descending : button.dataset.sort === "confidence";
      c.sort = button.dataset.sort;
      for (const other of document.querySelectorAll("button.sort")) other.removeAttribute("aria-sort");
      button.setAttribute("aria-sort", c.descending ? "descending" : "ascending");
      reload();
    });
  }
  $("corpus-prev").addEventListener("click", () => {
    state.corpus.offset = Math.max(0, state.corpus.offset - state.corpus.limit);
    loadCorpusPage();
  });
  $("corpus-next").addEventListener("click", () => { state.corpus.offset += state.corpus.limit; loadCorpusPage(); });
}

// -- digits ----------------------------------------------------------------------------------------
const digit = { drawing: false, last: null, timer: null, busy: false, again: false, pixels: null, reply: null };

function digitPixels() {
  // The ink's bounding box, made square with a margin, averaged down to 8×8 (as the 8×8 digits were made).
  const canvas = $("digit-canvas");
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (data[4 * (y * width + x) + 3] > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    }
  }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0, y1 - y0) * 1.1 + 4;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const pixels = [];
  for (let r = 0; r < 8; r += 1) {
    const row = [];
    for (let c = 0; c < 8; c += 1) {
      let sum = 0, n = 0;
      for (let sy = 0; sy < 6; sy += 1) {
        for (let sx = 0; sx < 6; sx += 1) {
          const x = Math.round(cx - side / 2 + ((c + (sx + 0.5) / 6) * side) / 8);
          const y = Math.round(cy - side / 2 + ((r + (sy + 0.5) / 6) * side) / 8);
          n += 1;
          if (x >= 0 && y >= 0 && x < width && y < height) sum += data[4 * (y * width + x) + 3] / 255;
        }
      }
      row.push(Math.min(1, (2 * sum) / n));
    }
    pixels.push(row);
  }
  return pixels;
}

function paintGrid(canvas, values, colour) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(8, 8);
  values.forEach((row, r) => row.forEach((v, c) => {
    const rgb = colour(v);
    image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * (r * 8 + c));
  }));
  ctx.putImageData(image, 0, 0);
}

function renderDigit() {
  const reply = digit.reply;
  if (!reply) return;
  const vmax = Math.max(0, ...reply.relevance.flat().map(Math.abs));
  const map = $("digit-colormap").value;
  paintGrid($("digit-heatmap"), reply.relevance, (v) => colorOf(v, vmax, map, 1));
  $("digit-prediction").textContent = `prediction: ${reply.prediction.label}`;
  const table = $("digit-probabilities");
  table.replaceChildren();
  reply.prediction.probabilities.forEach((p, k) => {
    const row = el("tr", k === reply.prediction.index ? "predicted" : null);
    const meter = el("div", "meter");
    const fill = el("span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    meter.append(fill);
    const cell = el("td");
    cell.append(meter);
    row.append(el("td", null, String(k)), cell, el("td", "num", `${(100 * p).toFixed(1)}%`));
    table.append(row);
  });
  $("digit-status").textContent = `explained ${reply.target} with ${reply.method.name}` +
    ` · delta ${fmt(reply.delta)}` + (reply.test_accuracy ? ` · model test accuracy ${(100 * reply.test_accuracy).toFixed(1)}%` : "");
}

async function explainDigit() {
  const pixels = digitPixels();
  if (!pixels) return;
  if (digit.busy) { digit.again = true; return; }
  digit.busy = true;
  paintGrid($("digit-input"), pixels, (v) => { const g = Math.round(255 * (1 - v)); return [g, g, g]; });
  showError("", $("digit-error"));
  try {
    digit.reply = await api("/api/digits", { pixels, method: $("digit-method").value,
      params: readParams($("digit-params")) });
    renderDigit();
    document.body.dataset.digits = String(Number(document.body.dataset.digits || 0) + 1);
  } catch (error) {
    showError(error.message, $("digit-error"));
  } finally {
    digit.busy = false;
    if (digit.again) { digit.again = false; explainDigit(); }
  }
}

function wireDigits() {
  const canvas = $("digit-canvas");
  const ctx = canvas.getContext("2d");
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    digit.drawing = true;
    digit.last = at(event);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!digit.drawing) return;
    const point = at(event);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 44;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(...digit.last);
    ctx.lineTo(...point);
    ctx.stroke();
    digit.last = point;
    // Update as you draw, a few times a second.
    if (!digit.timer) digit.timer = setTimeout(() => { digit.timer = null; explainDigit(); }, 150);
  });
  const stop = () => { if (digit.drawing) { digit.drawing = false; explainDigit(); } };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  $("digit-clear").addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    digit.reply = null;
    for (const id of ["digit-input", "digit-heatmap"]) $(id).getContext("2d").clearRect(0, 0, 8, 8);
    $("digit-prediction").textContent = "";
    $("digit-probabilities").replaceChildren();
  });
  const lrp = state.methods.filter((m) => m.name !== "cp-lrp" && m.name !== "attnlrp");
  fillSelect($("digit-method"), lrp.map((m) => [m.name, m.kind === "lrp" ? `LRP: ${m.name}` : m.name]),
    "epsilon-gamma-box");
  // Pixels run from 0 to 1: the bounds of the z^B rule, shown as the server uses them.
  const params = () => fillParams(null, { low: 0, high: 1 }, $("digit-method"), $("digit-params"));
  params();
  $("digit-method").addEventListener("change", () => { params(); explainDigit(); });
  $("digit-params").addEventListener("change", explainDigit);
  fillSelect($("digit-colormap"), state.colormaps.map((m) => [m.name, m.name]), "black-firered");
  $("digit-colormap").addEventListener("change", renderDigit);
}

function syncCompare() {
  $("side-b").hidden = !$("compare").checked;
  $("sides").classList.toggle("compare", $("compare").checked);
}

// -- views -----------------------------------------------------------------------------------------
function currentView() {
  const shown = document.querySelector(".view:not([hidden])");
  return shown ? shown.id.replace("view-", "") : "explain";
}

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  for (const tab of document.querySelectorAll(".tab")) tab.setAttribute("aria-current", String(tab.dataset.view === name));
  document.title = `doclrp · ${name === "explain" ? "explain text" : name}`;
}

// -- start -----------------------------------------------------------------------------------------
async function start() {
  // Until the lists arrive and the real handler is wired, Explain must not submit the form natively
  // (a navigation that would drop the typed text).
  const early = (event) => event.preventDefault();
  $("controls").addEventListener("submit", early);
  try {
    [state.models, state.methods, state.colormaps, state.results] = await Promise.all(
      [api("/api/models"), api("/api/methods"), api("/api/colormaps"), api("/api/results")]);
  } catch (error) {
    showError(`could not reach the server: ${error.message}`);
    return;
  }
  $("sides").append(cloneWithSuffix($("side")));
  $("side-b").querySelector(".side-name").textContent = "B";
  $("side-b").hidden = true;
  $("panels").append(cloneWithSuffix($("panel")));
  $("panel-b").hidden = true;

  const wanted = readUrl();
  setSide("a", wanted.a);
  setSide("b", wanted.compare ? wanted.b : wanted.a);
  for (const side of SIDES) wireSide(side);
  if (wanted.granularity) {
    $("granularity").value = ["sentence", "token"].includes(wanted.granularity) ? wanted.granularity : "word";
  }
  fillSelect($("colormap"), state.colormaps.map((m) => [m.name, m.name]), wanted.cmap ?? undefined);
  const gamma = Number(wanted.gamma);
  if (wanted.gamma && gamma >= 0.2 && gamma <= 2) $("gamma").value = String(gamma);
  $("gamma-value").textContent = `γ ${Number($("gamma").value).toFixed(2)}`;

  $("compare").checked = wanted.compare;
  syncCompare();
  $("compare").addEventListener("change", syncCompare);
  const redraw = () => { renderAll(); if (state.shown.a) saveToUrl(); };
  $("granularity").addEventListener("change", redraw);
  $("colormap").addEventListener("change", redraw);
  $("gamma").addEventListener("input", () => {
    $("gamma-value").textContent = `γ ${Number($("gamma").value).toFixed(2)}`;
    redraw();
  });
  for (const side of SIDES) {
    for (const button of sideEl(side, "panel").querySelectorAll("button.export")) {
      button.addEventListener("click", () => exportPanel(side, button.dataset.format));
    }
  }
  $("controls").removeEventListener("submit", early);
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); explain(); });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); explain(); }
  });
  const area = $("text");
  area.addEventListener("dragover", (event) => { event.preventDefault(); area.classList.add("drop"); });
  area.addEventListener("dragleave", () => area.classList.remove("drop"));
  area.addEventListener("drop", async (event) => {
    event.preventDefault();
    area.classList.remove("drop");
    const file = event.dataTransfer.files[0];
    // A document file (PDF, Word, HTML, e-mail) is read by the server: upload.js.
    if (file && typeof uploadDocument === "function" && !/\.txt$/i.test(file.name)) uploadDocument(file);
    else if (file) area.value = await file.text();
  });

  // Corpus tab: only with --results.
  const corpusTab = document.querySelector(".tab[data-view='corpus']");
  corpusTab.hidden = !state.results.length;
  if (state.results.length) {
    fillSelect($("results-id"), state.results.map((r) => [r.id, `${r.name} (${r.documents} documents)`]),
      wanted.results ?? undefined);
    fillCorpusFilters();
    wireCorpus();
  }
  wireDigits();
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      showView(tab.dataset.view);
      if (tab.dataset.view === "corpus" && !document.body.dataset.corpusLoaded) { loadCorpusPage(); loadTopWords(); }
      const query = new URLSearchParams(location.search);
      query.set("view", tab.dataset.view);
      history.replaceState(null, "", `${location.pathname}?${query}`);
    });
  }
  const view = ["explain", "corpus", "digits"].includes(wanted.view) && (wanted.view !== "corpus" || state.results.length)
    ? wanted.view : "explain";
  showView(view);
  if (view === "corpus") { loadCorpusPage(); loadTopWords(); }
  document.body.dataset.ready = "1";
  if (wanted.results && wanted.doc !== null && state.results.some((r) => r.id === wanted.results)) {
    openStored(wanted.results, Number(wanted.doc));
  } else if (wanted.text) {
    area.value = wanted.text;
    explain();
  }
}

document.addEventListener("DOMContentLoaded", start);
