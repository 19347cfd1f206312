// rtnb connection panel controls: header, counters, send box, pause/clear. Plain ESM, no build step.
// Actions go to Python as custom messages: {type: "send", text} | {type: "pause", paused} | {type: "clear"}.

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
    </div>
    <div class="rtnb-panel-feedback"></div>`;
  el.appendChild(root);
  const $ = (sel) => root.querySelector(sel);
  const dot = $(".rtnb-dot");
  const input = $(".rtnb-send-input");
  const sendBtn = $(".rtnb-send-button");
  const pauseBtn = $(".rtnb-pause-button");
  const clearBtn = $(".rtnb-clear-button");
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
    const canSend = model.get("can_send");
    for (const node of [input, sendBtn]) node.style.display = canSend ? "" : "none";
    const oneway = $(".rtnb-panel-oneway");
    oneway.textContent = canSend ? "" : (model.get("send_refusal") || "cannot send").split(":")[0];
    oneway.style.display = canSend ? "none" : "";
    pauseBtn.textContent = model.get("paused") ? "Resume" : "Pause";
    pauseBtn.classList.toggle("rtnb-active", model.get("paused"));
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
      .map(([k, v]) => `<span class="rtnb-counter"><b>${v}</b> ${k}</span>`)
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

  input.addEventListener("keydown", onKey);
  input.addEventListener("input", onInput);
  sendBtn.addEventListener("click", send);
  pauseBtn.addEventListener("click", onPause);
  clearBtn.addEventListener("click", onClear);
  const headTraits = ["state", "name", "kind", "url", "can_send", "send_refusal", "paused"];
  for (const t of headTraits) model.on(`change:${t}`, header);
  model.on("change:counters", counters);
  model.on("change:feedback", onFeedback);
  header();
  counters();

  return () => {
    input.removeEventListener("keydown", onKey);
    input.removeEventListener("input", onInput);
    sendBtn.removeEventListener("click", send);
    pauseBtn.removeEventListener("click", onPause);
    clearBtn.removeEventListener("click", onClear);
    for (const t of headTraits) model.off(`change:${t}`, header);
    model.off("change:counters", counters);
    model.off("change:feedback", onFeedback);
    root.remove();
  };
}

export default { render };
