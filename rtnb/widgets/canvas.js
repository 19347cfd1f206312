// rtnb canvas plot: points arrive as float64 buffers ({type: "points"|"reset", lines: [[index, n]]},
// buffers x0, y0, x1, y1, ...); drawn on requestAnimationFrame, only when something changed.
// Plain ESM, no build step.

class Line {
  constructor() {
    this.x = new Float64Array(1024);
    this.y = new Float64Array(1024);
    this.off = 0; // first live point
    this.end = 0; // one past the last point
  }
  get length() {
    return this.end - this.off;
  }
  push(xs, ys) {
    const n = xs.length;
    if (this.end + n > this.x.length) {
      const live = this.length;
      let cap = this.x.length;
      while (live + n > cap * 0.75) cap *= 2;
      const nx = new Float64Array(cap);
      const ny = new Float64Array(cap);
      nx.set(this.x.subarray(this.off, this.end));
      ny.set(this.y.subarray(this.off, this.end));
      this.x = nx;
      this.y = ny;
      this.off = 0;
      this.end = live;
    }
    this.x.set(xs, this.end);
    this.y.set(ys, this.end);
    this.end += n;
  }
  trim(cutoff) {
    while (this.off < this.end && this.x[this.off] < cutoff) this.off++;
  }
  clear() {
    this.off = this.end = 0;
  }
}

function f64(view) {
  // A DataView over a slice of the message; copy into an aligned Float64Array.
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return new Float64Array(bytes.slice().buffer);
}

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

function timeLabel(t, step) {
  const d = new Date(t * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  const hms = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return step < 1 ? `${hms}.${p(d.getMilliseconds(), 3).slice(0, 1)}` : hms;
}

function numLabel(v, step) {
  const digits = Math.max(0, Math.min(8, -Math.floor(Math.log10(step))));
  return Math.abs(v) >= 1e6 ? v.toExponential(2) : v.toFixed(digits);
}

// Axis limits that fit [lo, hi] closely with a little headroom and change rarely:
// the same rule as rtnb.series.autoscale (kept while the data fills 60% of them).
const HEADROOM = 0.06;
const MIN_FILL = 0.6;
function autoscale(lo, hi, current) {
  const span = hi - lo;
  if (current && current[0] <= lo && hi <= current[1] && current[1] > current[0]
      && span >= MIN_FILL * (current[1] - current[0])) return current;
  if (span <= 0) {
    const pad = Math.abs(lo) * 0.001 || 1;
    return [lo - pad, hi + pad];
  }
  return [lo - HEADROOM * span, hi + HEADROOM * span];
}

function render({ model, el }) {
  const lines = [];
  let dirty = true;
  let frame = 0;
  let frames = 0;
  let ylim = null;
  let width = 0; // the plot's box width, from the ResizeObserver
  // A long line is costly to draw: after a draw of d ms the next waits 4d, so drawing
  // takes at most a fifth of the page's main thread whatever the points and the rate.
  let nextDraw = 0;
  let later = 0;
  let inView = true;

  const root = document.createElement("div");
  root.className = "rtnb-canvas";
  root.innerHTML = `<div class="rtnb-canvas-head"><span class="rtnb-canvas-title"></span>
    <span class="rtnb-canvas-legend"></span><span class="rtnb-canvas-info"></span>
    <span class="rtnb-canvas-ended"></span></div>
    <div class="rtnb-canvas-error"></div>`;
  const canvas = document.createElement("canvas");
  root.appendChild(canvas);
  el.appendChild(root);
  const titleEl = root.querySelector(".rtnb-canvas-title");
  const legendEl = root.querySelector(".rtnb-canvas-legend");
  const infoEl = root.querySelector(".rtnb-canvas-info");
  const endedEl = root.querySelector(".rtnb-canvas-ended");
  const ctx = canvas.getContext("2d");

  function line(i) {
    while (lines.length <= i) lines.push(new Line());
    return lines[i];
  }

  function trimAll() {
    // time windows slide with the newest point of any line
    const secs = model.get("window_seconds");
    if (!(secs > 0)) return;
    let latest = -Infinity;
    for (const l of lines) if (l.length) latest = Math.max(latest, l.x[l.end - 1]);
    for (const l of lines) l.trim(latest - secs);
  }

  function onCustom(msg, buffers) {
    if (!msg || (msg.type !== "points" && msg.type !== "reset")) return;
    if (msg.type === "reset") for (const l of lines) l.clear();
    msg.lines.forEach(([index, , cutoff], k) => {
      const l = line(index);
      l.push(f64(buffers[2 * k]), f64(buffers[2 * k + 1]));
      if (cutoff !== null && cutoff !== undefined) l.trim(cutoff); // the Series' own window
    });
    trimAll();
    schedule();
  }

  function schedule() {
    dirty = true;
    // nothing is drawn while the plot is out of sight or its tab hidden; it catches up after
    if (frame || later || !inView || document.hidden) return;
    const wait = nextDraw - performance.now();
    if (wait > 0) later = setTimeout(() => ((later = 0), schedule()), wait);
    else frame = requestAnimationFrame(draw);
  }

  function legend() {
    const labels = model.get("labels") || [];
    const colours = model.get("colours") || [];
    legendEl.innerHTML = "";
    labels.forEach((label, i) => {
      const item = document.createElement("span");
      item.className = "rtnb-canvas-key";
      const sw = document.createElement("i");
      sw.style.background = colours[i] || "#888";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(label));
      legendEl.appendChild(item);
    });
    titleEl.textContent = model.get("title");
    root.querySelector(".rtnb-canvas-error").textContent = model.get("error") || "";
    const ended = model.get("ended") || "";
    endedEl.textContent = ended;
    endedEl.style.display = ended ? "" : "none";
    endedEl.classList.toggle("rtnb-failed", ended === "failed");
    endedEl.title = model.get("ended_detail") || "";
  }

  function draw() {
    frame = 0;
    if (!dirty) return;
    dirty = false;
    frames++;
    const started = performance.now();
    const dpr = window.devicePixelRatio || 1;
    root.style.maxWidth = `${model.get("plot_width") + 18}px`;
    // the width comes from the ResizeObserver: reading it here would force a layout
    const cssW = Math.max(160, width > 18 ? Math.min(model.get("plot_width"), width - 18) : model.get("plot_width"));
    const cssH = model.get("plot_height");
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      canvas.style.width = `${cssW}px`;
      canvas.style.height = `${cssH}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const isTime = model.get("x_is_time");
    const left = 74, right = 12, top = 8, bottom = 24;
    const w = cssW - left - right, h = cssH - top - bottom;

    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, total = 0;
    for (const l of lines) {
      if (!l.length) continue;
      total += l.length;
      x0 = Math.min(x0, l.x[l.off]);
      x1 = Math.max(x1, l.x[l.end - 1]);
      for (let i = l.off; i < l.end; i++) {
        const v = l.y[i];
        if (v < y0) y0 = v;
        if (v > y1) y1 = v;
      }
    }
    infoEl.textContent = `${total.toLocaleString("en-US")} points`;
    ctx.font = "11px system-ui, sans-serif";
    if (!total) {
      ctx.fillStyle = "#8c959f";
      ctx.textAlign = "center";
      ctx.fillText("waiting for data…", left + w / 2, top + h / 2);
      return;
    }
    // x follows the data (a window that has not filled yet is not squeezed to the
    // right); y fits the data with a little headroom.
    if (x1 <= x0) x1 = x0 + 1;
    ylim = autoscale(y0, y1, ylim);
    [y0, y1] = ylim;
    const sx = w / (x1 - x0), sy = h / (y1 - y0);
    const X = (v) => left + (v - x0) * sx;
    const Y = (v) => top + h - (v - y0) * sy;

    // grid and labels
    ctx.strokeStyle = "#e1e4e8";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#57606a";
    const ystep = niceStep(y1 - y0, Math.max(2, Math.floor(h / 45)));
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = Math.ceil(y0 / ystep) * ystep; v <= y1; v += ystep) {
      const py = Math.round(Y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, py);
      ctx.lineTo(left + w, py);
      ctx.stroke();
      ctx.fillText(numLabel(v, ystep), left - 6, py);
    }
    const target = Math.max(2, Math.floor(w / 90));
    const xstep = isTime
      ? TIME_STEPS.find((s) => s >= (x1 - x0) / target) || 86400
      : niceStep(x1 - x0, target);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let v = Math.ceil(x0 / xstep) * xstep; v <= x1; v += xstep) {
      const px = Math.round(X(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, top + h);
      ctx.stroke();
      ctx.fillText(isTime ? timeLabel(v, xstep) : numLabel(v, xstep), px, top + h + 6);
    }
    const yLabel = model.get("y_label");
    if (yLabel) {
      ctx.save();
      ctx.translate(12, top + h / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(yLabel, 0, 0);
      ctx.restore();
    }
    ctx.strokeStyle = "#8c959f";
    ctx.beginPath();
    ctx.moveTo(left + 0.5, top);
    ctx.lineTo(left + 0.5, top + h + 0.5);
    ctx.lineTo(left + w, top + h + 0.5);
    ctx.stroke();

    // lines: above ~2 points per pixel column, draw each column's min..max span (M4-style)
    const colours = model.get("colours") || [];
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, w, h);
    ctx.clip();
    ctx.lineWidth = 1.3;
    ctx.lineJoin = "round";
    lines.forEach((l, i) => {
      if (!l.length) return;
      ctx.strokeStyle = colours[i] || "#888";
      ctx.beginPath();
      if (l.length <= 2 * w) {
        ctx.moveTo(X(l.x[l.off]), Y(l.y[l.off]));
        for (let k = l.off + 1; k < l.end; k++) ctx.lineTo(X(l.x[k]), Y(l.y[k]));
      } else {
        let col = Math.floor(X(l.x[l.off]));
        let lo = l.y[l.off], hi = lo, first = lo, last = lo;
        ctx.moveTo(col, Y(first));
        for (let k = l.off + 1; k <= l.end; k++) {
          const c = k < l.end ? Math.floor(X(l.x[k])) : Infinity;
          if (c !== col) {
            ctx.lineTo(col, Y(first));
            ctx.lineTo(col, Y(lo));
            ctx.lineTo(col, Y(hi));
            ctx.lineTo(col, Y(last));
            if (k === l.end) break;
            col = c;
            lo = hi = first = last = l.y[k];
          } else {
            const v = l.y[k];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            last = v;
          }
        }
      }
      ctx.stroke();
    });
    ctx.restore();
    canvas.dataset.frames = String(frames);
    canvas.dataset.points = String(total);
    const took = performance.now() - started;
    canvas.dataset.drawMs = took.toFixed(2);
    nextDraw = took > 4 ? performance.now() + 4 * took : 0;
  }

  const onTraits = () => {
    legend();
    trimAll();
    schedule();
  };
  const traits = [
    "labels",
    "colours",
    "title",
    "window_seconds",
    "window_points",
    "x_is_time",
    "plot_height",
    "y_label",
    "error",
    "ended",
    "ended_detail",
  ];
  for (const t of traits) model.on(`change:${t}`, onTraits);
  model.on("msg:custom", onCustom);
  const resize = new ResizeObserver((entries) => {
    const box = entries[entries.length - 1].borderBoxSize?.[0];
    width = box ? box.inlineSize : entries[entries.length - 1].contentRect.width + 18;
    schedule();
  });
  resize.observe(root);
  const seen = new IntersectionObserver((entries) => {
    inView = entries[entries.length - 1].isIntersecting;
    if (inView && dirty) schedule();
  });
  seen.observe(root);
  const onVisibility = () => {
    if (!document.hidden && dirty) schedule();
  };
  document.addEventListener("visibilitychange", onVisibility);
  legend();
  schedule();
  model.send({ type: "hello" });

  return () => {
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(later);
    resize.disconnect();
    seen.disconnect();
    document.removeEventListener("visibilitychange", onVisibility);
    model.off("msg:custom", onCustom);
    for (const t of traits) model.off(`change:${t}`, onTraits);
    root.remove();
  };
}

export default { render };
