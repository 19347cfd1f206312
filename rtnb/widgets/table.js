// rtnb live table: rows arrive in batches as custom messages ({type: "rows"|"reset"|"detail"}),
// the current rows also sit in the synced "rows" trait. Plain ESM, no build step.
//
// Cheap at any message rate: the table keeps every row in memory but puts only the
// rows in sight in the DOM (a fixed pool of <tr>, updated in place), draws at most
// once per animation frame and only when something changed, and not at all while it
// is scrolled out of sight or its tab is hidden (it catches up when it shows again).
// While a row is pressed nothing moves, so a click opens the row that was aimed at.
// Rows with a "mark" ("cut" / "resume") say where the stream broke and came back.

const OVERSCAN = 3; // rows drawn beyond each edge of the visible part
const PRESS_HOLD_MS = 2000; // a lost pointerup never freezes the table for longer

const p2 = (n, w = 2) => String(n).padStart(w, "0");

function clock(ts) {
  const d = new Date(ts * 1000);
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${p2(d.getMilliseconds(), 3)}`;
}

function count(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function shortRate(rate) {
  return rate >= 1000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0);
}

// A cell's text as its column shows it: numbers with the column's decimals, epoch
// times as clock times (the raw value stays in the payload pane and the tooltip).
function formatCell(text, fmt) {
  if (!fmt || text === undefined || text === "") return text ?? "";
  const v = Number(text);
  if (!Number.isFinite(v)) return text;
  if (fmt.time) return clock(fmt.time === "ms" ? v / 1000 : v);
  return v.toFixed(Math.min(20, fmt.decimals || 0));
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const MARKS = { cut: ["✂", "cut"], resume: ["⟳", "resumed"] };

function render({ model, el }) {
  let rows = (model.get("rows") || []).slice(); // oldest first
  let info = model.get("info") || {};
  let expanded = null; // seq of the opened row
  const details = new Map(); // seq -> pretty payload text
  let frame = 0;
  let dirty = true;
  let lastSeen = info.seen || 0;
  let lastAt = performance.now();
  let rate = 0;
  let inView = true; // IntersectionObserver says the table is on screen
  let pressed = false; // a row is held down: freeze what is shown
  let pressTimer = 0;
  let added = 0; // rows that arrived since the last draw (to keep a scrolled view still)
  let rowH = 22; // measured from the first drawn row
  let layoutKey = ""; // columns + formats the pool was built for
  let lastSeq = -1; // the newest message row held, and the newest mark (they never repeat)
  let lastMark = 0;
  let extraCount = 0; // rows with fields outside the columns (or a non-JSON payload)
  let cols = [];
  let meta = [];
  let formats = {};
  let pinned = [];
  let dataCol = false;
  const pool = []; // the <tr> elements in the DOM, reused
  let measureRow = true; // measure a drawn row's height (after a new layout)
  const frameTasks = []; // layout reads deferred to the start of the next frame

  const root = document.createElement("div");
  root.className = "rtnb-table";
  root.innerHTML = `
    <div class="rtnb-table-bar">
      <span class="rtnb-table-name"></span>
      <span class="rtnb-table-badge rtnb-table-ended"></span>
      <span class="rtnb-table-info"></span>
      <span class="rtnb-table-badge rtnb-table-paused">paused</span>
      <span class="rtnb-table-filter"></span>
    </div>
    <div class="rtnb-table-error"></div>
    <div class="rtnb-table-scroll"><table>
      <thead></thead><tbody><tr class="rtnb-spacer"><td></td></tr><tr class="rtnb-spacer"><td></td></tr></tbody>
    </table></div>
    <div class="rtnb-table-detail" style="display:none">
      <div class="rtnb-table-detail-bar"><span></span><button type="button" title="close">×</button></div>
      <pre></pre>
    </div>`;
  el.appendChild(root);
  const scroll = root.querySelector(".rtnb-table-scroll");
  const thead = root.querySelector("thead");
  const tbody = root.querySelector("tbody");
  const [topSpacer, bottomSpacer] = tbody.querySelectorAll("tr.rtnb-spacer");
  const emptyRow = document.createElement("tr");
  emptyRow.className = "rtnb-empty";
  emptyRow.innerHTML = "<td>waiting for messages…</td>";
  const nameEl = root.querySelector(".rtnb-table-name");
  const infoEl = root.querySelector(".rtnb-table-info");
  const pausedEl = root.querySelector(".rtnb-table-paused");
  const endedEl = root.querySelector(".rtnb-table-ended");
  const filterEl = root.querySelector(".rtnb-table-filter");
  const errorEl = root.querySelector(".rtnb-table-error");
  // The opened message's payload lives in its own pane, so it stays readable
  // after its row scrolls out of a fast table.
  const detailEl = root.querySelector(".rtnb-table-detail");
  const detailTitle = detailEl.querySelector("span");
  const detailText = detailEl.querySelector("pre");
  const detailClose = detailEl.querySelector("button");

  function schedule() {
    dirty = true;
    if (!frame && inView && !document.hidden && !pressed) frame = requestAnimationFrame(draw);
  }

  function extraOf(r) {
    // fields of an odd message that have no column, shown in its data cell
    if (r.data) return r.data;
    const shown = new Set(cols);
    let out = "";
    for (const k in r.cells) if (!shown.has(k)) out += `${out ? " " : ""}${k}=${r.cells[k]}`;
    return out.length > 160 ? out.slice(0, 159) + "…" : out;
  }

  function noteRows(list, sign) {
    for (const r of list) {
      if (r.mark) continue;
      if (sign > 0) r._x = extraOf(r);
      if (r._x) extraCount += sign;
    }
  }

  function relayout() {
    // columns, formats or pins changed: new header, and the pool is rebuilt
    cols = model.get("columns") || [];
    meta = model.get("meta") || [];
    formats = model.get("formats") || {};
    pinned = model.get("pinned") || [];
    const hadData = dataCol && layoutKey !== "";
    extraCount = 0;
    noteRows(rows, 1);
    dataCol = cols.length === 0 || extraCount > 0 || hadData;
    const key = JSON.stringify([cols, meta, formats, pinned, dataCol]);
    if (key === layoutKey) return;
    layoutKey = key;
    const head = document.createElement("tr");
    const th = (text, cls, title) => {
      const h = document.createElement("th");
      h.textContent = text;
      if (cls) h.className = cls;
      if (title) h.title = title;
      head.appendChild(h);
      return h;
    };
    th("#", "rtnb-narrow", "the message's number on this connection, from 1 (its seq + 1)");
    th("time", "rtnb-narrow");
    th("", "rtnb-narrow");
    for (const m of meta) th(m);
    for (const c of cols) {
      const isPinned = pinned.includes(c);
      const num = formats[c] && !formats[c].time;
      const h = th(c, `rtnb-col${num ? " rtnb-num" : ""}${isPinned ? " rtnb-pinned" : ""}`,
        isPinned ? "pinned: click to unpin" : "click to pin this column");
      h.dataset.col = c;
    }
    if (dataCol) th("data", "rtnb-datahead");
    thead.replaceChildren(head);
    topSpacer.firstChild.colSpan = bottomSpacer.firstChild.colSpan = head.children.length;
    emptyRow.firstChild.colSpan = head.children.length;
    for (const tr of pool) tr.remove();
    pool.length = 0;
    measureRow = true;
  }

  function makeRow() {
    const tr = document.createElement("tr");
    const td = (cls) => {
      const d = document.createElement("td");
      if (cls) d.className = cls;
      tr.appendChild(d);
    };
    td("rtnb-seq");
    td("rtnb-time");
    td("rtnb-dir");
    for (let i = 0; i < meta.length; i++) td("");
    for (const c of cols) td(formats[c] ? (formats[c].time ? "rtnb-cell rtnb-when" : "rtnb-cell rtnb-num") : "rtnb-cell");
    if (dataCol) td("rtnb-data");
    tr._seq = -1;
    return tr;
  }

  function fillMark(tr, r) {
    const key = `mark${r.n}`;
    if (tr._seq === key) return;
    tr._seq = key;
    tr._open = false;
    delete tr.dataset.seq;
    tr.className = `rtnb-mark rtnb-mark-${r.mark}`;
    const td = tr.children;
    const [icon, label] = MARKS[r.mark] || ["•", r.mark];
    setText(td[0], icon);
    setText(td[1], clock(r.ts));
    const text = td[2];
    text.colSpan = td.length - 2;
    text.className = "rtnb-mark-text";
    const b = document.createElement("b");
    b.textContent = label;
    text.replaceChildren(b, ` · ${r.text}`);
    text.title = `${label}: ${r.text}`;
    for (let i = 3; i < td.length; i++) td[i].style.display = "none";
    tr._mark = true;
  }

  function fill(tr, r) {
    if (r.mark) return fillMark(tr, r);
    const open = r.seq === expanded;
    if (tr._seq === r.seq && tr._open === open) return; // same row: nothing to do
    const td = tr.children;
    if (tr._mark) {
      // a pooled row that showed a mark: back to one cell per column
      tr._mark = false;
      td[2].colSpan = 1;
      td[2].className = "rtnb-dir";
      td[2].textContent = "";
      for (let i = 3; i < td.length; i++) td[i].style.display = "";
    }
    tr._seq = r.seq;
    tr._open = open;
    tr.dataset.seq = r.seq;
    tr.className = `rtnb-row rtnb-${r.dir} rtnb-kind-${r.kind}` + (open ? " rtnb-open" : "");
    setText(td[0], String(r.seq + 1));
    setText(td[1], clock(r.ts));
    const dir = r.dir === "in" ? "↓" : "↑";
    if (td[2].textContent !== dir) {
      td[2].textContent = dir;
      td[2].title = r.dir === "in" ? "received" : "sent";
    }
    let k = 3;
    for (const m of meta) setText(td[k++], String(r[m] ?? ""));
    for (const c of cols) {
      const raw = r.cells[c];
      const fmt = formats[c];
      const cell = td[k++];
      setText(cell, formatCell(raw, fmt));
      if (fmt && fmt.time) cell.title = raw ?? "";
    }
    if (dataCol) setText(td[k], r._x || "");
  }

  function draw() {
    frame = 0;
    for (const task of frameTasks.splice(0)) task();
    if (!dirty || pressed) return;
    dirty = false;
    // Layout reads first, then only writes: no forced layout of the page in between.
    const scrollTop = scroll.scrollTop;
    const atBottom = scrollTop + scroll.clientHeight >= scroll.scrollHeight - rowH;
    const height = model.get("height");
    const maxH = `${height}px`;
    if (scroll.style.maxHeight !== maxH) scroll.style.maxHeight = maxH;
    setText(nameEl, model.get("name"));
    const filtered = model.get("filter_text");
    // the connection's counters, as the panel shows them (the table also reads sent ones)
    const received = info.received ?? info.seen;
    setText(
      infoEl,
      `${count(rows.length)} rows · ${count(received)} received` +
        (info.sent ? ` · ${count(info.sent)} sent` : "") +
        (filtered ? ` · ${count(info.matched)} matched` : "") +
        (rate > 0 ? ` · ${shortRate(rate)} msg/s` : ""),
    );
    pausedEl.style.display = model.get("paused") ? "" : "none";
    const ended = model.get("ended") || "";
    endedEl.style.display = ended ? "" : "none";
    setText(endedEl, ended);
    endedEl.classList.toggle("rtnb-failed", ended === "failed");
    endedEl.title = model.get("ended_detail") || "";
    setText(filterEl, filtered ? `filter: ${filtered}` : "");
    filterEl.style.display = filtered ? "" : "none";
    setText(errorEl, model.get("error") || "");
    // the data column comes with the first odd row and then stays (no flicker)
    if (!dataCol && extraCount > 0) {
      layoutKey = "";
      relayout();
    }

    detailEl.style.display = expanded === null ? "none" : "";
    if (expanded !== null) {
      setText(detailTitle, `message #${expanded + 1} (seq ${expanded})`);
      setText(detailText, details.get(expanded) ?? "loading…");
    }

    const n = rows.length;
    if (!n) {
      for (const tr of pool) tr.remove();
      pool.length = 0;
      if (!emptyRow.isConnected) tbody.appendChild(emptyRow);
      topSpacer.firstChild.style.height = bottomSpacer.firstChild.style.height = "0px";
      added = 0;
      return;
    }
    if (emptyRow.isConnected) emptyRow.remove();
    const newestFirst = model.get("newest_first");
    // A reader scrolled into the table keeps looking at the same rows as new ones
    // arrive on top; at the bottom of an oldest-first table, it follows the newest.
    let top = scrollTop;
    if (newestFirst && top > 0) top = Math.min(top + added * rowH, n * rowH);
    added = 0;
    const visible = Math.ceil(height / rowH) + 2 * OVERSCAN;
    let first = Math.max(0, Math.floor(top / rowH) - OVERSCAN);
    first = Math.min(first, Math.max(0, n - visible));
    const shown = Math.min(visible, n - first);
    while (pool.length < shown) {
      const tr = makeRow();
      bottomSpacer.before(tr);
      pool.push(tr);
    }
    while (pool.length > shown) pool.pop().remove();
    for (let i = 0; i < shown; i++) {
      const idx = first + i;
      fill(pool[i], rows[newestFirst ? n - 1 - idx : idx]);
    }
    topSpacer.firstChild.style.height = `${first * rowH}px`;
    bottomSpacer.firstChild.style.height = `${(n - first - shown) * rowH}px`;
    if (top !== scrollTop) scroll.scrollTop = top;
    if (measureRow) {
      // once per layout, in the next frame's read phase (no forced layout now)
      measureRow = false;
      const probe = pool[0];
      frameTasks.push(() => {
        const measured = probe.isConnected ? probe.getBoundingClientRect().height : 0;
        if (measured > 4 && Math.abs(measured - rowH) > 0.5) {
          rowH = measured;
          schedule();
        }
      });
      schedule();
    }
    if (!newestFirst && atBottom) scroll.scrollTop = scroll.scrollHeight;
  }

  function noteNewest(list) {
    for (const r of list) {
      if (r.mark) lastMark = Math.max(lastMark, r.n);
      else lastSeq = Math.max(lastSeq, r.seq);
    }
  }

  function keepBound(limit) {
    const excess = rows.length - limit;
    if (excess > 0) noteRows(rows.splice(0, excess), -1);
  }

  function onCustom(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "rows") {
      // a batch may overlap the snapshot a reset brought: keep only what is new
      const fresh = msg.rows.filter((r) => (r.mark ? r.n > lastMark : r.seq > lastSeq));
      noteNewest(fresh);
      noteRows(fresh, 1);
      for (const r of fresh) rows.push(r);
      added += fresh.length;
      keepBound(model.get("max_rows") || 200);
      updateInfo(msg.info);
      schedule();
    } else if (msg.type === "reset") {
      rows = msg.rows.slice();
      lastSeq = -1;
      lastMark = 0;
      noteNewest(rows);
      added = 0;
      relayout();
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
    if (dt >= 1) {
      rate = Math.max(0, (next.seen - lastSeen) / dt);
      lastSeen = next.seen;
      lastAt = now;
    }
    info = next;
  }

  function release() {
    if (!pressed) return;
    pressed = false;
    clearTimeout(pressTimer);
    pressTimer = 0;
    if (dirty) schedule();
  }

  function onPointerDown(ev) {
    if (!ev.target.closest("tr.rtnb-row")) return;
    pressed = true; // hold the rows still until the button comes up
    clearTimeout(pressTimer);
    pressTimer = setTimeout(release, PRESS_HOLD_MS);
  }

  function onClick(ev) {
    const tr = ev.target.closest("tr.rtnb-row");
    if (!tr) return;
    const seq = Number(tr.dataset.seq);
    expanded = expanded === seq ? null : seq;
    if (expanded !== null && !details.has(seq)) model.send({ type: "detail", seq });
    for (const row of pool) row._seq = row._seq === seq || row._open ? -1 : row._seq;
    schedule();
  }

  function onHeadClick(ev) {
    const th = ev.target.closest("th[data-col]");
    if (!th) return;
    const col = th.dataset.col;
    const now = model.get("pinned") || [];
    model.set("pinned", now.includes(col) ? now.filter((c) => c !== col) : [...now, col]);
    model.save_changes();
  }

  function onCloseDetail() {
    const was = expanded;
    expanded = null;
    for (const row of pool) if (row._seq === was) row._seq = -1;
    schedule();
  }

  function onVisibility() {
    if (!document.hidden) schedule();
  }

  const onLayoutTrait = () => {
    relayout();
    schedule();
  };
  const onTrait = () => schedule();
  const layoutTraits = ["columns", "meta", "formats", "pinned"];
  const plainTraits = ["paused", "newest_first", "height", "filter_text", "error", "ended", "ended_detail", "name"];
  model.on("msg:custom", onCustom);
  for (const name of layoutTraits) model.on(`change:${name}`, onLayoutTrait);
  for (const name of plainTraits) model.on(`change:${name}`, onTrait);
  tbody.addEventListener("pointerdown", onPointerDown);
  window.addEventListener("pointerup", release);
  window.addEventListener("pointercancel", release);
  tbody.addEventListener("click", onClick);
  thead.addEventListener("click", onHeadClick);
  scroll.addEventListener("scroll", onTrait, { passive: true });
  detailClose.addEventListener("click", onCloseDetail);
  document.addEventListener("visibilitychange", onVisibility);
  const seen = new IntersectionObserver((entries) => {
    inView = entries[entries.length - 1].isIntersecting;
    if (inView && dirty) schedule();
  });
  seen.observe(root);
  noteNewest(rows);
  relayout();
  draw();
  model.send({ type: "hello" });

  return () => {
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(pressTimer);
    seen.disconnect();
    model.off("msg:custom", onCustom);
    for (const name of layoutTraits) model.off(`change:${name}`, onLayoutTrait);
    for (const name of plainTraits) model.off(`change:${name}`, onTrait);
    tbody.removeEventListener("pointerdown", onPointerDown);
    window.removeEventListener("pointerup", release);
    window.removeEventListener("pointercancel", release);
    tbody.removeEventListener("click", onClick);
    thead.removeEventListener("click", onHeadClick);
    scroll.removeEventListener("scroll", onTrait);
    detailClose.removeEventListener("click", onCloseDetail);
    document.removeEventListener("visibilitychange", onVisibility);
    root.remove();
  };
}

export default { render };
