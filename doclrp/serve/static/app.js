// The page of doclrp serve. Plain JavaScript, no libraries. Every text from a document,
// a label or the server goes into the page as textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], methods: [], restoring: null };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(x) {
  if (x === null || x === undefined) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return (x > 0 ? "+" : "") + (a >= 1e4 || a < 1e-3 ? x.toExponential(3) : x.toFixed(4));
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  let data;
  try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- controls -------------------------------------------------------------------------------
function currentModel() { return state.models.find((m) => m.id === $("model").value) || state.models[0]; }
function currentMethod() { return state.methods.find((m) => m.name === $("method").value); }

function fillSelect(select, entries, wanted) {
  select.replaceChildren();
  for (const [value, label] of entries) {
    const option = el("option", null, label);
    option.value = value;
    select.append(option);
  }
  if (wanted !== undefined && entries.some(([value]) => value === wanted)) select.value = wanted;
}

function fillTargets(wanted) {
  const model = currentModel();
  const entries = [["predicted", model.task === "regression" && model.labels.length === 1
    ? `predicted (${model.labels[0]})` : "predicted class"]];
  for (const label of model.labels) entries.push([label, model.task === "regression" ? `output ${label}` : label]);
  if (model.task === "classification" && model.labels.length > 2) {
    for (const label of model.labels) entries.push([`${label}-vs-rest`, `${label} vs rest`]);
  }
  fillSelect($("target"), entries, wanted === undefined ? $("target").value : wanted);
  $("reference-box").hidden = !model.has_mean_reference;
  if (!model.has_mean_reference) $("reference").checked = false;
}

function fillParams(values) {
  const box = $("params");
  box.replaceChildren();
  const method = currentMethod();
  if (!method) return;
  for (const [name, fallback] of Object.entries(method.params)) {
    const label = el("label", null, name);
    const input = el("input");
    input.type = "number";
    input.step = "any";
    input.name = name;
    input.dataset.param = name;
    input.placeholder = fallback === null ? "none" : String(fallback);
    const given = values && values[name];
    input.value = given !== undefined && given !== null ? String(given) : (fallback === null ? "" : String(fallback));
    label.append(input);
    box.append(label);
  }
}

function collectRequest() {
  const params = {};
  for (const input of $("params").querySelectorAll("input[data-param]")) {
    if (input.value.trim() !== "") params[input.dataset.param] = Number(input.value);
  }
  return {
    text: $("text").value,
    model: $("model").value,
    method: $("method").value,
    params,
    target: $("target").value,
    reference: $("reference").checked ? "mean" : null,
    granularity: $("granularity").value,
  };
}

// -- the URL holds the whole view --------------------------------------------------------------
function saveToUrl(request) {
  const query = new URLSearchParams();
  for (const key of ["model", "method", "target", "granularity"]) query.set(key, request[key]);
  if (request.reference) query.set("reference", request.reference);
  for (const [name, value] of Object.entries(request.params)) query.set(`p.${name}`, String(value));
  query.set("text", request.text);
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

function readUrl() {
  const query = new URLSearchParams(location.search);
  const params = {};
  for (const [key, value] of query) if (key.startsWith("p.")) params[key.slice(2)] = value;
  return {
    text: query.get("text"), model: query.get("model"), method: query.get("method"), target: query.get("target"),
    reference: query.get("reference"), granularity: query.get("granularity"), params,
  };
}

// -- the result ------------------------------------------------------------------------------
function renderDocument(result) {
  const box = $("document");
  box.replaceChildren();
  const text = result.text;
  const bySentence = result.granularity === "sentence";
  const units = bySentence ? result.sentences : result.words;
  let position = 0;
  units.forEach((unit, index) => {
    if (unit.start > position) box.append(document.createTextNode(text.slice(position, unit.start)));
    const span = el("span", "unit", text.slice(unit.start, unit.end));
    span.style.backgroundColor = unit.color;
    span.style.color = unit.text_color;
    span.dataset.relevance = String(unit.relevance);
    span.dataset.index = String(index);
    span.title = `${fmt(unit.relevance)}`;
    span.addEventListener("mouseenter", () => showHover(result, unit, bySentence));
    box.append(span);
    position = Math.max(position, unit.end);
  });
  if (position < text.length) box.append(document.createTextNode(text.slice(position)));
}

function showHover(result, unit, bySentence) {
  const share = result.conservation.explained ? unit.relevance / result.conservation.explained : null;
  const what = bySentence ? "sentence" : `“${unit.text}” (sentence ${unit.sentence + 1})`;
  $("hover").textContent = `${what}: relevance ${unit.relevance.toPrecision(6)}` +
    (share === null ? "" : `, ${(100 * share).toFixed(1)}% of the explained value`);
}

function renderLegend(result) {
  const vmax = result.granularity === "sentence" ? result.scale.sentence_vmax : result.scale.word_vmax;
  $("legend-bar").style.backgroundImage = result.scale.gradient;
  $("legend-min").textContent = fmt(-vmax);
  $("legend-max").textContent = fmt(vmax);
}

function renderSummary(result) {
  const box = $("summary");
  box.replaceChildren();
  const params = Object.entries(result.method.params).map(([k, v]) => `${k}=${v}`).join(", ");
  const predicted = result.prediction.label !== null ? result.prediction.label
    : result.prediction.values.map((v) => v.toFixed(3)).join(", ");
  box.append("Model predicts ", el("b", null, predicted), " · explaining ", el("b", "target-name", result.target.name),
    " with ", el("b", "method-name", result.method.name + (params ? ` (${params})` : "")));
}

function renderPrediction(result) {
  const table = $("prediction");
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

function renderConservation(result) {
  const table = $("conservation");
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

function renderBars(box, words, vmax, color) {
  box.replaceChildren();
  if (!words.length) { box.append(el("p", "none", "none")); return; }
  for (const word of words) {
    const bar = el("div", "bar");
    const track = el("div", "track");
    const fill = el("span");
    fill.style.width = `${vmax > 0 ? (100 * Math.abs(word.relevance)) / vmax : 0}%`;
    fill.style.backgroundColor = color;
    track.append(fill);
    const name = el("span", "word", word.text);
    name.title = word.text;
    bar.append(name, track, el("span", "num", fmt(word.relevance)));
    box.append(bar);
  }
}

function render(result) {
  renderSummary(result);
  renderDocument(result);
  renderLegend(result);
  renderPrediction(result);
  renderConservation(result);
  const vmax = result.scale.word_vmax;
  renderBars($("top-for"), result.top_for, vmax, "#b2182b");
  renderBars($("top-against"), result.top_against, vmax, "#2166ac");
  $("hover").textContent = "Hover a word for its exact relevance.";
  $("result").hidden = false;
}

async function explain() {
  const request = collectRequest();
  showError("");
  $("explain").disabled = true;
  $("status").textContent = "explaining…";
  const started = performance.now();
  try {
    const result = await api("/api/explain", request);
    render(result);
    saveToUrl(request);
    $("status").textContent = `done in ${((performance.now() - started) / 1000).toFixed(2)} s`;
    document.body.dataset.explained = String(Number(document.body.dataset.explained || 0) + 1);
  } catch (error) {
    showError(error.message);
    $("status").textContent = "";
  } finally {
    $("explain").disabled = false;
  }
}

// -- start -----------------------------------------------------------------------------------
async function start() {
  try {
    [state.models, state.methods] = await Promise.all([api("/api/models"), api("/api/methods")]);
  } catch (error) {
    showError(`could not reach the server: ${error.message}`);
    return;
  }
  const wanted = readUrl();
  fillSelect($("model"), state.models.map((m) => [m.id, m.name === m.id ? m.id : `${m.name} (${m.id})`]),
    wanted.model ?? undefined);
  const methodEntries = state.methods.map((m) => [m.name, m.kind === "lrp" ? `LRP: ${m.name}` : m.name]);
  fillSelect($("method"), methodEntries, wanted.method ?? currentModel().default_method);
  fillParams(wanted.params);
  fillTargets(wanted.target ?? "predicted");
  if (wanted.granularity) $("granularity").value = wanted.granularity === "sentence" ? "sentence" : "word";
  if (wanted.reference === "mean" && currentModel().has_mean_reference) $("reference").checked = true;

  $("model").addEventListener("change", () => {
    fillTargets("predicted");
    $("method").value = currentModel().default_method;
    fillParams();
  });
  $("method").addEventListener("change", () => fillParams());
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
    if (file) area.value = await file.text();
  });
  document.body.dataset.ready = "1";
  if (wanted.text) {
    area.value = wanted.text;
    explain();
  }
}

document.addEventListener("DOMContentLoaded", start);
