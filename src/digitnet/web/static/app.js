// digitnet's page: draw, send the picture to /api/predict, show what comes back.
// Plain JavaScript, no libraries: everything the page needs is in this file.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const strokes = [];          // every stroke drawn so far, for undo: [{width, points: [[x, y], ...]}]
let current = null;          // the stroke being drawn
let inFlight = false, queued = false, lastSent = 0;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function drawStroke(stroke) {
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = stroke.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const [x0, y0] = stroke.points[0];
  if (stroke.points.length === 1) {          // a dot
    ctx.beginPath();
    ctx.arc(x0, y0, stroke.width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  for (const [x, y] of stroke.points.slice(1)) ctx.lineTo(x, y);
  ctx.stroke();
}

function redraw() {
  clearPad();
  strokes.forEach(drawStroke);
}

function position(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  current = {width: Number(document.getElementById("pen").value), points: [position(event)]};
  strokes.push(current);
  drawStroke(current);
});

pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  current.points.push(position(event));
  redraw();
  if (performance.now() - lastSent > 150) predict();   // live, but not on every mouse move
});

function endStroke() {
  if (!current) return;
  current = null;
  predict();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  redraw();
  strokes.length ? predict() : showNothing();
});
document.getElementById("clear").addEventListener("click", () => {
  strokes.length = 0;
  redraw();
  showNothing();
});

async function predict() {
  if (!strokes.length) return;
  if (inFlight) { queued = true; return; }      // one request at a time; the latest picture wins
  inFlight = true;
  document.body.dataset.state = "busy";     // for tests and screen readers: an answer is coming
  lastSent = performance.now();
  try {
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({image: pad.toDataURL("image/png")}),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    show(body);
  } catch (error) {
    document.getElementById("message").textContent = String(error.message || error);
  } finally {
    inFlight = false;
    if (queued) { queued = false; predict(); } else { document.body.dataset.state = "idle"; }
  }
}

function drawBoxes(digits) {
  // A box and its reading around each digit of a number, on a layer above the pad (the pad's
  // own pixels are what is sent to the network, so nothing is drawn on them).
  const layer = document.getElementById("boxes");
  const g = layer.getContext("2d");
  g.clearRect(0, 0, layer.width, layer.height);
  layer.dataset.count = String(digits.length > 1 ? digits.length : 0);
  if (digits.length < 2) return;
  g.strokeStyle = "#1a9c5b";
  g.fillStyle = "#1a9c5b";
  g.lineWidth = 2;
  g.font = "bold 16px system-ui";
  digits.forEach((d) => {
    const [left, top, right, bottom] = d.box;
    // A digit the network is unsure of is boxed in orange, its reading followed by "?".
    const sure = d.confidence >= UNSURE_BELOW;
    g.strokeStyle = g.fillStyle = sure ? "#1a9c5b" : "#b26a00";
    g.strokeRect(left - 3, top - 3, right - left + 6, bottom - top + 6);
    g.fillText(d.label + (sure ? "" : "?"), left, Math.max(14, top - 6));
  });
}

function showNothing() {
  drawBoxes([]);
  const prediction = document.getElementById("prediction");
  prediction.classList.remove("unsure");
  prediction.dataset.number = "";
  prediction.textContent = "?";
  prediction.dataset.digit = "";
  document.getElementById("confidence").textContent = "";
  document.getElementById("message").textContent = "";
  renderBars(new Array(classes.length).fill(0), -1);
  paintGrid(document.getElementById("seen"), new Array(28 * 28).fill(0), 28, 5);
  document.getElementById("layers").innerHTML = "";
}

let classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

function renderBars(probabilities, top) {
  const bars = document.getElementById("bars");
  bars.innerHTML = "";
  probabilities.forEach((p, i) => {
    const row = document.createElement("div");
    row.className = "bar" + (i === top ? " top" : "");
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    row.querySelector(".name").textContent = classes[i];
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
    bars.appendChild(row);
  });
}

function paintGrid(canvas, values, columns, cell) {
  // values in [0, max]: brighter = larger. One square per value.
  const rows = Math.ceil(values.length / columns);
  canvas.width = columns * cell;
  canvas.height = rows * cell;
  const g = canvas.getContext("2d");
  const max = Math.max(1e-6, ...values);
  g.fillStyle = "#000";
  g.fillRect(0, 0, canvas.width, canvas.height);
  values.forEach((v, i) => {
    const level = Math.round(255 * Math.min(1, v / max));
    g.fillStyle = `rgb(${level}, ${level}, ${level})`;
    g.fillRect((i % columns) * cell, Math.floor(i / columns) * cell, cell, cell);
  });
}

// Below this top probability the page says the network is unsure (the command line's
// --min-confidence; `digitnet evaluate` shows what each threshold costs).
const UNSURE_BELOW = 0.6;

function show(result) {
  const prediction = document.getElementById("prediction");
  const confidence = document.getElementById("confidence");
  const message = document.getElementById("message");
  drawBoxes(result.digits || []);
  message.textContent = "";
  prediction.classList.toggle("unsure", false);
  if (result.status === "no digit") {
    prediction.textContent = "–";
    prediction.dataset.digit = "";
    confidence.textContent = "";
    message.textContent = `no digit: ${result.reason}`;
    renderBars(new Array(classes.length).fill(0), -1);
  } else if (result.status === "several digits") {
    prediction.textContent = result.number;
    prediction.dataset.digit = "";
    prediction.dataset.number = result.number;
    confidence.textContent = `${result.digits.length} digits`;
    renderBars(result.probabilities, -1);
  } else {
    prediction.textContent = result.label;
    prediction.dataset.digit = String(result.digit);
    prediction.dataset.number = "";
    const sure = result.confidence >= UNSURE_BELOW;
    prediction.classList.toggle("unsure", !sure);
    confidence.textContent = `${(100 * result.confidence).toFixed(1)}% sure` + (sure ? "" : " (unsure)");
    if (!sure) message.textContent = "The network is unsure: it has seen few digits like this one.";
    renderBars(result.probabilities, result.digit);
  }
  paintGrid(document.getElementById("seen"), result.input.flat(), 28, 5);
  const layers = document.getElementById("layers");
  layers.innerHTML = "";
  result.activations.forEach((values, i) => {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    const columns = Math.ceil(Math.sqrt(values.length));
    paintGrid(canvas, values, columns, Math.max(2, Math.floor(160 / columns)));
    const active = values.filter((v) => v > 0).length;
    figure.appendChild(canvas);
    const caption = document.createElement("figcaption");
    caption.textContent = `hidden layer ${i + 1}: ${active} of ${values.length} units active`;
    figure.appendChild(caption);
    layers.appendChild(figure);
  });
}

// ---- Inspect the model: curves, confusion matrix, mistakes ----

function lineChart(canvas, series) {
  const g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 46, bottom = 24, top = 10, right = 10;
  g.clearRect(0, 0, W, H);
  series = series.filter((s) => s.values.some((v) => v !== null));   // e.g. no validation split
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  if (!all.length) { g.fillStyle = "#5f6b7a"; g.fillText("no history recorded", left, H / 2); return; }
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const n = Math.max(...series.map((s) => s.values.length));
  const x = (i) => left + (n > 1 ? i / (n - 1) : 0.5) * (W - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
  g.strokeStyle = "#c9d1dc"; g.fillStyle = "#5f6b7a"; g.font = "11px system-ui";
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, H - bottom); g.lineTo(W - right, H - bottom); g.stroke();
  g.fillText(hi.toFixed(4), 2, top + 8);
  g.fillText(lo.toFixed(4), 2, H - bottom);
  g.fillText(`epoch 1 … ${n}`, left + 4, H - 6);
  series.forEach((s, k) => {
    g.strokeStyle = s.color; g.lineWidth = 2; g.beginPath();
    let started = false;
    s.values.forEach((v, i) => {
      if (v === null) return;
      started ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v));
      started = true;
    });
    g.stroke();
    g.fillStyle = s.color;
    g.fillText(s.name, W - right - 110, top + 12 + 14 * k);
  });
}

function gallery(title, images) {
  document.getElementById("gallery-title").textContent = title;
  const box = document.getElementById("gallery");
  box.innerHTML = "";
  images.forEach((im) => {
    const figure = document.createElement("figure");
    figure.innerHTML = `<img alt=""><figcaption></figcaption>`;
    figure.querySelector("img").src = im.png;
    figure.querySelector("img").alt = `test image ${im.index}`;
    figure.querySelector("figcaption").textContent = `${classes[im.true]}→${classes[im.predicted]}`;
    box.appendChild(figure);
  });
  if (!images.length) box.textContent = "none";
}

async function loadInspection() {
  const info = await (await fetch("/api/model")).json();
  classes = info.classes;
  const accuracy = info.metrics && info.metrics.test_accuracy;
  document.getElementById("model-info").textContent =
    `${info.file}: ${info.sizes.join("-")} on ${info.dataset}` +
    (accuracy ? `, ${(100 * accuracy).toFixed(2)}% test accuracy` : "") +
    (info.preset ? ` (preset ${info.preset})` : "");
  showNothing();

  const history = await (await fetch("/api/history")).json();
  lineChart(document.getElementById("loss-chart"), [
    {name: "train", color: "#2f6fde", values: history.map((h) => h.train_loss)},
    {name: "validation", color: "#e07b00", values: history.map((h) => h.val_loss)},
  ]);
  lineChart(document.getElementById("accuracy-chart"), [
    {name: "train", color: "#2f6fde", values: history.map((h) => h.train_accuracy)},
    {name: "validation", color: "#e07b00", values: history.map((h) => h.val_accuracy)},
  ]);

  const response = await fetch("/api/evaluation?limit=60");
  const ev = await response.json();
  if (!response.ok) { document.getElementById("test-accuracy").textContent = ev.detail; return; }
  document.getElementById("test-accuracy").textContent =
    `${(100 * ev.accuracy).toFixed(2)}% of ${ev.total.toLocaleString()} test images`;
  const table = document.getElementById("confusion");
  const header = "<tr><th></th>" + ev.classes.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  table.innerHTML = header;
  const max = Math.max(...ev.confusion_matrix.flat().filter((_, i) => i % (ev.classes.length + 1) !== 0), 1);
  ev.confusion_matrix.forEach((row, t) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th>${ev.classes[t]}</th>`;
    row.forEach((count, p) => {
      const td = document.createElement("td");
      td.textContent = count;
      td.dataset.true = t;
      td.dataset.predicted = p;
      if (t === p) td.className = "diag";
      else if (count) td.style.background = `rgba(224, 60, 49, ${0.12 + 0.6 * count / max})`;
      td.addEventListener("click", () => showCell(td, t, p));
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  gallery("Most confident mistakes", ev.misclassified);
}

async function showCell(td, t, p) {
  document.querySelectorAll("#confusion td.selected").forEach((cell) => cell.classList.remove("selected"));
  td.classList.add("selected");
  const cell = await (await fetch(`/api/test-images?true=${t}&predicted=${p}&limit=60`)).json();
  gallery(`True ${classes[t]}, read as ${classes[p]}: ${cell.count} test images` +
          (cell.count > cell.images.length ? ` (first ${cell.images.length})` : ""), cell.images);
}

clearPad();
loadInspection().catch((error) => {
  document.getElementById("model-info").textContent = `could not load the model: ${error}`;
});
