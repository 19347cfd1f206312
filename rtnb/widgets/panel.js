// rtnb connection panel controls: header, counters, send box, pause/clear. Plain ESM, no build step.
// Actions go to Python as custom messages: {type: "send", text} | {type: "pause", paused} |
// {type: "clear"} | {type: "disconnect"} | {type: "retry"} | {type: "filter", text}.

const FINAL = new Set(["closed", "failed"]);
const TIPS = {
  received:
    "messages received since the connection opened (the table below shows the same count)",
  sent: "messages sent since the connection opened",
  "msg/s": "received per second, over the last 5 s",
  in: "bytes received (payloads)",
  out: "bytes sent (payloads)",
  reconnects: "times the connection came back after a drop",
  errors: "errors seen (the last one is shown below)",
};

function human(n) {
  const units = ["B", "KB", "MB", "GB"];
  let v = Number(n || 0);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

function count(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function checkJson(text) {
  const t = text.trimStart();
  if (!t) return "nothing to send: type a message first";
  if (t[0] !== "{" && t[0] !== "[") return null;
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    return `not valid JSON: ${err.message}; fix it or remove the braces to send text`;
  }
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "rtnb-panel-controls";
  root.innerHTML = `
    <div class="rtnb-panel-head">
      <span class="rtnb-dot"></span>
      <span class="rtnb-panel-name"></span>
      <span class="rtnb-panel-kind"></span>
      <span class="rtnb-panel-url"></span>
      <span class="rtnb-panel-state"></span>
    </div>
    <div class="rtnb-panel-counters"></div>
    <div class="rtnb-panel-error"></div>
    <div class="rtnb-panel-actions">
      <input class="rtnb-send-input" type="text" spellcheck="false"
        placeholder='message text or JSON, e.g. {"type": "subscribe", "channel": "AAPL"}'>
      <button class="rtnb-send-button" type="button">Send</button>
      <span class="rtnb-panel-oneway"></span>
      <button class="rtnb-pause-button" type="button">Pause</button>
      <button class="rtnb-clear-button" type="button">Clear</button>
      <button class="rtnb-conn-button" type="button">Disconnect</button>
    </div>
    <div class="rtnb-panel-tools">
      <input class="rtnb-filter-input" type="text" spellcheck="false"
        placeholder="filter: symbol=AAPL, symbol~AA or text (Enter)">
      <span class="rtnb-panel-since"></span>
    </div>
    <div class="rtnb-panel-feedback"></div>`;
  el.appendChild(root);
  const $ = (sel) => root.querySelector(sel);
  const dot = $(".rtnb-dot");
  const input = $(".rtnb-send-input");
  const sendBtn = $(".rtnb-send-button");
  const pauseBtn = $(".rtnb-pause-button");
  const clearBtn = $(".rtnb-clear-button");
  const connBtn = $(".rtnb-conn-button");
  const filterInput = $(".rtnb-filter-input");
  const since = $(".rtnb-panel-since");
  const feedback = $(".rtnb-panel-feedback");

  function header() {
    const state = model.get("state");
    dot.style.background = (model.get("state_colours") || {})[state] || "#8c959f";
    dot.title = state;
    $(".rtnb-panel-name").textContent = model.get("name");
    $(".rtnb-panel-kind").textContent = model.get("kind");
    $(".rtnb-panel-url").textContent = model.get("url");
    const st = $(".rtnb-panel-state");
    st.textContent = state;
    st.className = `rtnb-panel-state rtnb-state-${state}`;
    const final = FINAL.has(state);
    // an ended connection says so loudly: a badge, and the panel's border in its colour
    st.textContent = final ? `${state} · not updating` : state;
    st.title = final ? "the connection ended: the views keep their last state" : "";
    root.classList.toggle("rtnb-ended", final);
    root.classList.toggle("rtnb-ended-failed", state === "failed");
    const oneWay = !model.get("can_send");
    // a one-way kind gets a note instead of the box; a finished connection a disabled one
    for (const node of [input, sendBtn]) node.style.display = oneWay ? "none" : "";
    const oneway = $(".rtnb-panel-oneway");
    oneway.textContent = oneWay ? (model.get("send_refusal") || "cannot send").split(":")[0] : "";
    oneway.style.display = oneWay ? "" : "none";
    const sendWhy = oneWay
      ? model.get("send_refusal") || "this kind cannot send"
      : final
        ? `the connection is ${state}: nothing can be sent (Reconnect opens it again)`
        : "";
    input.disabled = sendBtn.disabled = Boolean(sendWhy);
    sendBtn.title = sendWhy || "send the text (Enter)";
    const paused = model.get("paused");
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.classList.toggle("rtnb-active", paused);
    pauseBtn.disabled = final && !paused;
    pauseBtn.title = pauseBtn.disabled
      ? `the connection is ${state}: nothing more will arrive`
      : paused
        ? "show the newest messages again"
        : "freeze the table; messages keep arriving";
    connBtn.textContent = state === "failed" ? "Retry" : state === "closed" ? "Reconnect" : "Disconnect";
    connBtn.title = final
      ? "open the connection again with the same kind, URL and options"
      : "close the connection (the views keep what they show)";
    connBtn.classList.toggle("rtnb-retry", final);
    $(".rtnb-panel-tools").style.display = model.get("has_table") ? "" : "none";
    if (document.activeElement !== filterInput) filterInput.value = model.get("filter_text") || "";
    newSince();
  }

  function newSince() {
    const n = model.get("new_since_pause") || 0;
    since.textContent = model.get("paused") ? `paused · ${count(n)} new since pause` : "";
  }

  function counters() {
    const c = model.get("counters") || {};
    const items = [
      ["received", count(c.received)],
      ["sent", count(c.sent)],
      ["msg/s", Number(c.rate || 0).toFixed(1)],
      ["in", human(c.bytes_in)],
      ["out", human(c.bytes_out)],
      ["reconnects", count(c.reconnects)],
      ["errors", count(c.errors)],
    ];
    $(".rtnb-panel-counters").innerHTML = items
      .map(([k, v]) => `<span class="rtnb-counter" title="${TIPS[k]}"><b>${v}</b> ${k}</span>`)
      .join("");
    const err = $(".rtnb-panel-error");
    err.textContent = c.last_error ? `last error: ${c.last_error}` : "";
    err.style.display = c.last_error ? "" : "none";
  }

  function showFeedback(ok, text) {
    feedback.textContent = text;
    feedback.className = `rtnb-panel-feedback ${ok ? "rtnb-ok" : "rtnb-bad"}`;
  }

  function onFeedback() {
    const f = model.get("feedback") || {};
    if (f.text) showFeedback(f.ok, f.text);
  }

  function send() {
    const text = input.value;
    const problem = checkJson(text);
    if (problem) {
      showFeedback(false, problem);
      input.classList.add("rtnb-invalid");
      return;
    }
    input.classList.remove("rtnb-invalid");
    showFeedback(true, "sending…");
    model.send({ type: "send", text });
  }

  const onKey = (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      send();
    }
  };
  const onInput = () => input.classList.remove("rtnb-invalid");
  const onPause = () => model.send({ type: "pause", paused: !model.get("paused") });
  const onClear = () => model.send({ type: "clear" });
  const onConn = () => {
    const final = FINAL.has(model.get("state"));
    showFeedback(true, final ? "reconnecting…" : "disconnecting…");
    model.send({ type: final ? "retry" : "disconnect" });
  };
  const onFilterKey = (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      model.send({ type: "filter", text: filterInput.value });
    }
  };

  input.addEventListener("keydown", onKey);
  input.addEventListener("input", onInput);
  sendBtn.addEventListener("click", send);
  pauseBtn.addEventListener("click", onPause);
  clearBtn.addEventListener("click", onClear);
  connBtn.addEventListener("click", onConn);
  filterInput.addEventListener("keydown", onFilterKey);
  const headTraits = [
    "state", "name", "kind", "url", "can_send", "send_refusal", "paused", "has_table", "filter_text",
  ];
  for (const t of headTraits) model.on(`change:${t}`, header);
  model.on("change:counters", counters);
  model.on("change:feedback", onFeedback);
  model.on("change:new_since_pause", newSince);
  header();
  counters();

  return () => {
    input.removeEventListener("keydown", onKey);
    input.removeEventListener("input", onInput);
    sendBtn.removeEventListener("click", send);
    pauseBtn.removeEventListener("click", onPause);
    clearBtn.removeEventListener("click", onClear);
    connBtn.removeEventListener("click", onConn);
    filterInput.removeEventListener("keydown", onFilterKey);
    model.off("change:new_since_pause", newSince);
    for (const t of headTraits) model.off(`change:${t}`, header);
    model.off("change:counters", counters);
    model.off("change:feedback", onFeedback);
    root.remove();
  };
}

export default { render };
