// rtnb live signaling log: a WebRTC connection's offer, answer, candidates and states.
// Events arrive in batches as custom messages ({type: "events"|"snapshot"}); they also sit
// in the synced "events" trait; the states come as the synced "states" trait. Plain ESM,
// no build step; all text goes in as textContent.
//
// One line per event, oldest first, at most the book's limit in the DOM. The list follows
// the newest event unless the reader scrolled up; it draws at most once per animation frame.

const CHIPS = [
  ["signaling", "signaling", "RTCPeerConnection.signalingState: where the offer/answer exchange is"],
  ["ice gathering", "ICE gathering", "iceGatheringState: collecting this side's candidates"],
  ["ice", "ICE", "iceConnectionState: checking candidate pairs until one works"],
  ["dtls", "DTLS", "the DTLS handshake that encrypts the data channel"],
  ["connection", "connection", "connectionState: ICE and DTLS together"],
];
const GOOD = new Set(["connected", "completed", "complete", "stable", "open"]);
const BAD = new Set(["failed", "closed", "disconnected"]);
const DIRS = {
  out: ["→", "sent to the other peer, through the signaling server"],
  in: ["←", "received from the other peer, through the signaling server"],
  state: ["•", "a state change seen on this side"],
};

const p2 = (n, w = 2) => String(n).padStart(w, "0");

function clock(ts) {
  const d = new Date(ts * 1000);
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${p2(d.getMilliseconds(), 3)}`;
}

function tone(value) {
  if (!value) return "rtnb-sig-none";
  if (GOOD.has(value)) return "rtnb-sig-good";
  if (BAD.has(value)) return "rtnb-sig-bad";
  return "rtnb-sig-wait"; // new, checking, connecting, gathering, have-local-offer, ...
}

function span(cls, text, title) {
  const s = document.createElement("span");
  s.className = cls;
  if (text !== undefined) s.textContent = text;
  if (title) s.title = title;
  return s;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function render({ model, el }) {
  let events = (model.get("events") || []).slice(); // oldest first
  let states = model.get("states") || {};
  let t0 = model.get("t0") || 0;
  let frame = 0;
  let follow = true; // at the bottom: keep showing the newest
  const nodes = new Map(); // event number -> its line in the DOM

  const root = document.createElement("div");
  root.className = "rtnb-signaling rtnb-signaling-log";
  const bar = document.createElement("div");
  bar.className = "rtnb-sig-bar";
  const nameEl = span("rtnb-sig-name");
  const endedEl = span("rtnb-sig-badge");
  const countEl = span("rtnb-sig-count");
  const chipsEl = span("rtnb-sig-chips");
  const chipEls = new Map();
  for (const [key, label, title] of CHIPS) {
    const chip = span("rtnb-sig-chip rtnb-sig-none", undefined, title);
    chip.dataset.state = key;
    chip.append(span("rtnb-sig-chip-name", label), span("rtnb-sig-chip-value", "–"));
    chipsEl.appendChild(chip);
    chipEls.set(key, chip);
  }
  bar.append(nameEl, endedEl, chipsEl, countEl);
  const errorEl = document.createElement("div");
  errorEl.className = "rtnb-sig-error";
  const scroll = document.createElement("div");
  scroll.className = "rtnb-sig-scroll";
  const list = document.createElement("div");
  list.className = "rtnb-sig-list";
  const empty = document.createElement("div");
  empty.className = "rtnb-sig-empty";
  empty.textContent = "waiting for signaling…";
  scroll.append(list);
  root.append(bar, errorEl, scroll);
  el.appendChild(root);

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function makeLine(e) {
    const first = t0 || (events.length ? events[0].t : e.t);
    const [arrow, dirTitle] = DIRS[e.dir] || ["?", e.dir];
    const line = e.detail ? document.createElement("details") : document.createElement("div");
    line.className = `rtnb-sig-event rtnb-sig-${DIRS[e.dir] ? e.dir : "other"}`;
    const head = e.detail ? document.createElement("summary") : document.createElement("div");
    head.className = "rtnb-sig-head";
    const kind = document.createElement("b");
    kind.className = "rtnb-sig-type";
    kind.textContent = e.type;
    head.append(
      span("rtnb-sig-time", clock(e.t)),
      span("rtnb-sig-rel", `+${Math.max(0, e.t - first).toFixed(3)} s`),
      span("rtnb-sig-dir", arrow, dirTitle),
      kind,
      span("rtnb-sig-summary", e.summary),
    );
    line.appendChild(head);
    if (e.detail) {
      head.title = "click to see the whole message";
      const pre = document.createElement("pre");
      pre.className = "rtnb-sig-detail";
      pre.textContent = e.detail;
      line.appendChild(pre);
    }
    return line;
  }

  function draw() {
    frame = 0;
    const maxH = `${model.get("height") || 360}px`;
    if (scroll.style.maxHeight !== maxH) scroll.style.maxHeight = maxH;
    setText(nameEl, `${model.get("name") || ""} · signaling`);
    const ended = model.get("ended") || "";
    endedEl.style.display = ended ? "" : "none";
    setText(endedEl, ended);
    endedEl.classList.toggle("rtnb-sig-failed", ended === "failed");
    endedEl.title = model.get("ended_detail") || "";
    setText(errorEl, model.get("error") || "");
    setText(countEl, `${events.length} event${events.length === 1 ? "" : "s"}`);
    for (const [key, chip] of chipEls) {
      const value = states[key] || "";
      const cls = `rtnb-sig-chip ${tone(value)}`;
      if (chip.className !== cls) chip.className = cls;
      setText(chip.lastChild, value || "–");
    }
    // the lines: reuse each event's node (an opened <details> stays open), in order
    const present = new Set();
    let prev = null;
    for (const e of events) {
      present.add(e.n);
      let node = nodes.get(e.n);
      if (!node) {
        node = makeLine(e);
        nodes.set(e.n, node);
      }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== node) list.insertBefore(node, want);
      prev = node;
    }
    for (const [n, node] of nodes) {
      if (!present.has(n)) {
        node.remove();
        nodes.delete(n);
      }
    }
    if (!events.length && !empty.isConnected) list.appendChild(empty);
    if (events.length && empty.isConnected) empty.remove();
    if (follow) scroll.scrollTop = scroll.scrollHeight;
  }

  function keepBound() {
    const excess = events.length - (model.get("limit") || 100);
    if (excess > 0) events.splice(0, excess);
  }

  function onCustom(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "events") {
      const last = events.length ? events[events.length - 1].n : -1;
      for (const e of msg.events) if (e.n > last) events.push(e);
    } else if (msg.type === "snapshot") {
      events = msg.events.slice();
    } else {
      return;
    }
    keepBound();
    schedule();
  }

  function onScroll() {
    follow = scroll.scrollTop + scroll.clientHeight >= scroll.scrollHeight - 8;
  }

  const onStates = () => {
    states = model.get("states") || {};
    t0 = model.get("t0") || t0;
    schedule();
  };
  const traits = ["name", "height", "ended", "ended_detail", "error"];
  model.on("msg:custom", onCustom);
  model.on("change:states", onStates);
  model.on("change:t0", onStates);
  for (const name of traits) model.on(`change:${name}`, schedule);
  scroll.addEventListener("scroll", onScroll, { passive: true });
  draw();
  model.send({ type: "hello" });

  return () => {
    if (frame) cancelAnimationFrame(frame);
    model.off("msg:custom", onCustom);
    model.off("change:states", onStates);
    model.off("change:t0", onStates);
    for (const name of traits) model.off(`change:${name}`, schedule);
    scroll.removeEventListener("scroll", onScroll);
    root.remove();
  };
}

export default { render };
