// rtnb live table: rows arrive in batches as custom messages ({type: "rows"|"reset"|"detail"}),
// the current rows also sit in the synced "rows" trait. Plain ESM, no build step.

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

function clock(ts) {
  const d = new Date(ts * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function count(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function render({ model, el }) {
  let rows = (model.get("rows") || []).slice();
  let info = model.get("info") || {};
  let expanded = null; // seq of the opened row
  const details = new Map(); // seq -> pretty payload text
  let frame = 0;
  let lastSeen = info.seen || 0;
  let lastAt = performance.now();
  let rate = 0;

  const root = document.createElement("div");
  root.className = "rtnb-table";
  root.innerHTML = `
    <div class="rtnb-table-bar">
      <span class="rtnb-table-name"></span>
      <span class="rtnb-table-info"></span>
      <span class="rtnb-table-badge rtnb-table-paused">paused</span>
      <span class="rtnb-table-filter"></span>
    </div>
    <div class="rtnb-table-error"></div>
    <div class="rtnb-table-scroll"><table>
      <thead></thead><tbody></tbody>
    </table></div>
    <div class="rtnb-table-detail" style="display:none">
      <div class="rtnb-table-detail-bar"><span></span><button type="button" title="close">×</button></div>
      <pre></pre>
    </div>`;
  el.appendChild(root);
  const scroll = root.querySelector(".rtnb-table-scroll");
  const thead = root.querySelector("thead");
  const tbody = root.querySelector("tbody");
  const nameEl = root.querySelector(".rtnb-table-name");
  const infoEl = root.querySelector(".rtnb-table-info");
  const pausedEl = root.querySelector(".rtnb-table-paused");
  const filterEl = root.querySelector(".rtnb-table-filter");
  const errorEl = root.querySelector(".rtnb-table-error");
  // The opened message's payload lives in its own pane, so it stays readable
  // after its row scrolls out of a fast table.
  const detailEl = root.querySelector(".rtnb-table-detail");
  const detailTitle = detailEl.querySelector("span");
  const detailText = detailEl.querySelector("pre");
  const detailClose = detailEl.querySelector("button");

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function visibleColumns() {
    const cols = model.get("columns") || [];
    const meta = model.get("meta") || [];
    const dataCol = cols.length === 0 || rows.some((r) => r.kind !== "json");
    return { cols, meta, dataCol };
  }

  function draw() {
    frame = 0;
    const { cols, meta, dataCol } = visibleColumns();
    scroll.style.maxHeight = `${model.get("height")}px`;
    nameEl.textContent = model.get("name");
    const shown = rows.length;
    const filtered = model.get("filter_text");
    infoEl.textContent =
      `${count(shown)} rows · ${count(info.seen)} messages` +
      (filtered ? ` · ${count(info.matched)} matched` : "") +
      (rate > 0 ? ` · ${rate >= 1000 ? (rate / 1000).toFixed(1) + "k" : rate.toFixed(0)} msg/s` : "");
    pausedEl.style.display = model.get("paused") ? "" : "none";
    filterEl.textContent = filtered ? `filter: ${filtered}` : "";
    filterEl.style.display = filtered ? "" : "none";
    errorEl.textContent = model.get("error") || "";

    const head = ["#", "time", ""]
      .map((h) => `<th class="rtnb-narrow">${esc(h)}</th>`)
      .concat(meta.map((m) => `<th>${esc(m)}</th>`))
      .concat(cols.map((c) => `<th>${esc(c)}</th>`))
      .concat(dataCol ? ["<th>data</th>"] : []);
    const headHtml = `<tr>${head.join("")}</tr>`;
    if (thead.innerHTML !== headHtml) thead.innerHTML = headHtml;

    const span = head.length;
    const ordered = model.get("newest_first") ? rows.slice().reverse() : rows;
    const out = [];
    for (const r of ordered) {
      const cls = `rtnb-row rtnb-${r.dir} rtnb-kind-${r.kind}` + (r.seq === expanded ? " rtnb-open" : "");
      let tr = `<tr class="${cls}" data-seq="${r.seq}"><td class="rtnb-seq">${r.seq}</td>`;
      tr += `<td class="rtnb-time">${clock(r.ts)}</td>`;
      tr += `<td class="rtnb-dir" title="${r.dir === "in" ? "received" : "sent"}">${r.dir === "in" ? "↓" : "↑"}</td>`;
      for (const m of meta) tr += `<td>${esc(r[m] ?? "")}</td>`;
      for (const c of cols) {
        const v = r.cells[c];
        tr += v === undefined ? "<td></td>" : `<td class="rtnb-cell">${esc(v)}</td>`;
      }
      if (dataCol) tr += `<td class="rtnb-data">${esc(r.data)}</td>`;
      out.push(tr + "</tr>");
    }
    detailEl.style.display = expanded === null ? "none" : "";
    if (expanded !== null) {
      detailTitle.textContent = `message #${expanded}`;
      detailText.textContent = details.get(expanded) ?? "loading…";
    }
    if (!out.length) {
      out.push(`<tr class="rtnb-empty"><td colspan="${span}">waiting for messages…</td></tr>`);
    }
    tbody.innerHTML = out.join("");
  }

  function keepBound(limit) {
    if (rows.length > limit) rows = rows.slice(rows.length - limit);
  }

  function onCustom(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "rows") {
      const last = rows.length ? rows[rows.length - 1].seq : -1;
      const limit = model.get("max_rows") || 200;
      for (const r of msg.rows) if (r.seq > last) rows.push(r);
      keepBound(limit);
      updateInfo(msg.info);
      schedule();
    } else if (msg.type === "reset") {
      rows = msg.rows.slice();
      updateInfo(msg.info);
      schedule();
    } else if (msg.type === "detail") {
      details.set(msg.seq, msg.text);
      if (details.size > 50) details.delete(details.keys().next().value);
      schedule();
    }
  }

  function updateInfo(next) {
    if (!next) return;
    const now = performance.now();
    const dt = (now - lastAt) / 1000;
    if (dt >= 0.5) {
      rate = Math.max(0, (next.seen - lastSeen) / dt);
      lastSeen = next.seen;
      lastAt = now;
    }
    info = next;
  }

  function onClick(ev) {
    const tr = ev.target.closest("tr.rtnb-row");
    if (!tr) return;
    const seq = Number(tr.dataset.seq);
    expanded = expanded === seq ? null : seq;
    if (expanded !== null && !details.has(seq)) model.send({ type: "detail", seq });
    schedule();
  }

  function onCloseDetail() {
    expanded = null;
    schedule();
  }

  const onTrait = () => schedule();
  model.on("msg:custom", onCustom);
  for (const name of ["columns", "meta", "paused", "newest_first", "height", "filter_text", "error"]) {
    model.on(`change:${name}`, onTrait);
  }
  tbody.addEventListener("click", onClick);
  detailClose.addEventListener("click", onCloseDetail);
  draw();
  model.send({ type: "hello" });

  return () => {
    if (frame) cancelAnimationFrame(frame);
    model.off("msg:custom", onCustom);
    for (const name of ["columns", "meta", "paused", "newest_first", "height", "filter_text", "error"]) {
      model.off(`change:${name}`, onTrait);
    }
    tbody.removeEventListener("click", onClick);
    detailClose.removeEventListener("click", onCloseDetail);
    root.remove();
  };
}

export default { render };
