// Document files for the page of doclrp serve: a PDF, Word, HTML, e-mail or text file sent to
// POST /api/upload, its text explained; a PDF's pages drawn with every word's box coloured as the
// text colours the word, beside the text (or switched with it on a narrow screen). Plain
// JavaScript after app.js, whose functions and state it uses. Words go in as textContent only.
"use strict";

const pageView = { result: null, mode: "pages" };

async function uploadDocument(file) {
  showError("");
  let request;
  try {
    request = collectRequest("a");
  } catch (error) {
    showError(error.message);
    return;
  }
  delete request.text;
  const form = new FormData();
  form.append("request", JSON.stringify(request));
  form.append("file", file, file.name);
  $("explain").disabled = true;
  $("status").textContent = `reading ${file.name}…`;
  const started = performance.now();
  try {
    const response = await fetch("/api/upload", { method: "POST", body: form });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    const result = await response.json();
    $("text").value = result.text;
    if ($("compare").checked) { $("compare").checked = false; syncCompare(); }
    pageView.result = result;
    pageView.mode = result.pages.length ? "pages" : "text";
    // Exported as a typed text is: the server keeps this explanation under its text.
    state.shown.a = { result, source: { kind: "explain", request: { ...request, text: result.text } } };
    renderAll();
    const doc = result.document;
    const facts = [doc.kind, doc.pages ? `${doc.pages} page${doc.pages > 1 ? "s" : ""}` : null,
      ...doc.notes, doc.attachments.length ? `attachments: ${doc.attachments.join(", ")}` : null].filter(Boolean);
    $("status").textContent = `${doc.name} (${facts.join("; ")}): done in ` +
      `${((performance.now() - started) / 1000).toFixed(2)} s`;
    markExplained();
    document.body.dataset.uploaded = String(Number(document.body.dataset.uploaded || 0) + 1);
  } catch (error) {
    showError(error.message);
    $("status").textContent = "";
  } finally {
    $("explain").disabled = false;
    $("upload").value = "";
  }
}

// The boxes of every word on the drawn pages, coloured on the scale of the words.
function renderPages() {
  const shown = state.shown.a;
  const result = pageView.result;
  const active = Boolean(result && shown && shown.result === result && result.pages.length);
  $("page-switch").hidden = !active;
  $("doc-area").classList.toggle("paged", active && pageView.mode === "pages");
  const box = $("pages");
  box.hidden = !(active && pageView.mode === "pages");
  for (const button of $("page-switch").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === pageView.mode));
  }
  if (!active) { box.replaceChildren(); return; }
  const d = display();
  const vmax = Math.max(0, ...result.words.map((w) => Math.abs(w.relevance)).filter(Number.isFinite));
  const sheets = new Map();
  box.replaceChildren();
  for (const page of result.pages) {
    const figure = el("figure", "sheet");
    const paper = el("div", "paper");
    const image = el("img");
    image.src = page.src;
    image.width = page.width;
    image.height = page.height;
    image.alt = `page ${page.page + 1}`;
    paper.append(image);
    figure.append(paper, el("figcaption", null, `page ${page.page + 1}`));
    box.append(figure);
    sheets.set(page.page, paper);
  }
  result.words.forEach((word, index) => {
    const parts = word.parts || (word.page === null || word.page === undefined || word.page < 0 ? []
      : [[word.page, ...word.box]]);
    for (const [page, x0, y0, x1, y1] of parts) {
      const paper = sheets.get(page);
      if (!paper) continue;
      const mark = el("span", "bx");
      mark.style.left = `${100 * x0}%`;
      mark.style.top = `${100 * y0}%`;
      mark.style.width = `${100 * (x1 - x0)}%`;
      mark.style.height = `${100 * (y1 - y0)}%`;
      mark.style.backgroundColor = cssColor(colorOf(word.relevance, vmax, d.colormap, d.gamma));
      mark.dataset.index = String(index);
      mark.dataset.relevance = String(word.relevance);
      mark.title = `${word.text} ${fmt(word.relevance)}`;
      mark.tabIndex = 0;
      const show = () => {
        for (const other of box.querySelectorAll(".bx.focus")) other.classList.remove("focus");
        mark.classList.add("focus");
        showHover("a", result, word, index, "word");
      };
      mark.addEventListener("mouseenter", show);
      mark.addEventListener("click", show); // a tap on a phone
      mark.addEventListener("focus", show);
      paper.append(mark);
    }
  });
  const drawn = result.pages.length;
  $("page-note").textContent = result.document.pages > drawn
    ? `the first ${drawn} of ${result.document.pages} pages are drawn; every word is in the text` : "";
}

function wireUpload() {
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (file) uploadDocument(file);
  });
  for (const button of $("page-switch").querySelectorAll("button")) {
    button.addEventListener("click", () => { pageView.mode = button.dataset.mode; renderPages(); });
  }
  afterRender.push(renderPages);
}

document.addEventListener("DOMContentLoaded", wireUpload);
