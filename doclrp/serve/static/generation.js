// The Generation view: what a served language model writes after a document, each token explained
// (POST /api/generate), and the document coloured by the chosen token or span. Its own file: the
// rest of the page (app.js) knows nothing of it but the tab. Text goes in as textContent only.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const POS = [178, 24, 43], NEG = [33, 102, 172], ZERO = [255, 255, 255];   // doclrp.render.colors
  let result = null, anchor = 0;

  function rgb(v, vmax) {
    if (!(vmax > 0) || !Number.isFinite(v)) return ZERO;
    const t = Math.max(-1, Math.min(1, v / vmax)), end = t >= 0 ? POS : NEG;
    return ZERO.map((z, k) => Math.round(z + Math.abs(t) * (end[k] - z)));
  }
  function ink(c) {
    const l = c.map((x) => { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2] > 0.179 ? "#000" : "#fff";
  }
  function span(cls, text, index) {
    const node = document.createElement("span");
    node.className = cls;
    node.textContent = text;
    node.dataset.i = String(index);
    node.dataset.v = "0";
    node.tabIndex = 0;
    return node;
  }
  function sum(rows, a, b, length) {
    const out = new Array(length).fill(0);
    for (let t = a; t <= b; t++) rows[t].forEach((v, k) => { out[k] += v; });
    return out;
  }
  function paint(nodes, values, vmax) {
    nodes.forEach((node, k) => {
      const c = rgb(values[k], vmax);
      node.style.background = `rgb(${c.join(", ")})`;
      node.style.color = ink(c);
      node.title = values[k].toPrecision(6);
      node.dataset.v = values[k].toPrecision(6);
    });
  }
  const fixed = (v) => (v >= 0 ? "+" : "") + v.toPrecision(4);

  function choose(a, b) {
    const g = result.generated, n = g.length;
    const words = sum(g.map((t) => t.words), a, b, result.words.length);
    const prompt = sum(g.map((t) => t.prompt), a, b, result.prompt.length);
    const previous = sum(g.map((t) => t.previous.concat(new Array(n - t.previous.length).fill(0))), a, b, n);
    let vmax = 0;
    for (const v of words.concat(prompt, previous)) vmax = Math.max(vmax, Math.abs(v));
    const doc = $("write-document");
    paint([...doc.querySelectorAll(".w")], words, vmax);
    paint([...doc.querySelectorAll(".pw")], prompt, vmax);
    paint([...doc.querySelectorAll(".gt")], previous, vmax);
    [...$("write-tokens-out").children].forEach((node, t) => node.setAttribute("aria-pressed", String(t >= a && t <= b)));
    let value = 0, delta = 0;
    for (let t = a; t <= b; t++) { value += g[t].value; delta += g[t].delta; }
    const total = (xs) => xs.reduce((s, x) => s + x, 0);
    $("write-facts").textContent = `${a === b ? `token ${a + 1}` : `tokens ${a + 1}–${b + 1}`}: logits ${fixed(value)}` +
      ` = words ${fixed(total(words))} + earlier tokens ${fixed(total(previous))} + prompt ${fixed(total(prompt))}` +
      ` + special and delta ${fixed(value - total(words) - total(previous) - total(prompt))} (delta ${fixed(delta)})`;
  }

  function show(data) {
    result = data;
    const tokens = $("write-tokens-out"), doc = $("write-document");
    tokens.replaceChildren();
    data.generated.forEach((t, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t.token.replace(/\n/g, "↵").replace(/\t/g, "⇥") || "∅";
      button.title = `logit ${t.value.toPrecision(4)}, p ${t.probability.toPrecision(3)}`;
      button.addEventListener("click", (event) => {
        if (event.shiftKey || $("write-span").checked) choose(Math.min(anchor, i), Math.max(anchor, i));
        else { anchor = i; choose(i, i); }
      });
      tokens.append(button);
    });
    doc.replaceChildren();
    data.prompt.forEach((p, i) => { if (p.before) doc.append(span("pw", p.text, i), " "); });
    let position = 0;
    data.words.forEach((w, i) => {
      doc.append(data.text.slice(position, w.start), span("w", data.text.slice(w.start, w.end), i));
      position = w.end;
    });
    doc.append(data.text.slice(position));
    data.prompt.forEach((p, i) => { if (!p.before) doc.append(" ", span("pw", p.text, i)); });
    data.generated.forEach((t, i) => doc.append(span("gt", t.token, i)));
    $("write-result").hidden = false;
    anchor = 0;
    choose(0, data.generated.length - 1);
  }

  async function generate(event) {
    event.preventDefault();
    const error = $("write-error");
    error.hidden = true;
    $("write-status").textContent = "writing and explaining…";
    const continuation = $("write-continuation").value;
    const body = {text: $("write-text").value, model: $("write-model").value, method: $("write-method").value,
                  max_new_tokens: Number($("write-tokens").value) || 1};
    if (continuation) body.continuation = continuation;
    try {
      const reply = await fetch("/api/generate", {method: "POST", headers: {"Content-Type": "application/json"},
                                                  body: JSON.stringify(body)});
      const data = await reply.json();
      if (!reply.ok) throw new Error(data.error || reply.statusText);
      show(data);
      document.body.dataset.written = String(Number(document.body.dataset.written || 0) + 1);
      $("write-status").textContent = "";
    } catch (problem) {
      $("write-status").textContent = "";
      error.textContent = String(problem.message || problem);
      error.hidden = false;
    }
  }

  async function start() {
    const models = await (await fetch("/api/models")).json();
    const writers = models.filter((m) => m.generates);
    if (!writers.length) return;
    for (const m of writers) {
      const option = document.createElement("option");
      option.value = m.id;
      option.textContent = m.name === m.id ? m.id : `${m.name} (${m.id})`;
      $("write-model").append(option);
    }
    document.querySelector(".tab[data-view='write']").hidden = false;
    $("write-controls").addEventListener("submit", generate);
    $("write-all").addEventListener("click", () => { if (result) { anchor = 0; choose(0, result.generated.length - 1); } });
    document.body.dataset.writeReady = "1";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
