// WebRTC data-channel demo in the article's style: a WebSocket for signaling,
// RTCPeerConnection for the data channel. No libraries, no build step.
//
// Query options (for links and tests): mode=bot|room, room=NAME, role=offer|answer,
// autostart=1, token=T (passed on to the signaling WebSocket).
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

// What tests and curious users can inspect from the console.
const demo = (window.rtnbDemo = { received: [], state: "closed", errors: [], log: [] });

let peerConnection = null;
let signaling = null;
let dataChannel = null;
let role = "offer";

function show(kind, text) {
  demo.log.push(`${kind}: ${text}`);
  if (demo.log.length > 1000) demo.log.shift(); // bounded, like the page's log below
  const line = document.createElement("div");
  line.className = kind;
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  const log = $("log");
  log.append(line);
  while (log.childNodes.length > 500) log.firstChild.remove();
  log.scrollTop = log.scrollHeight;
}

function setState(state) {
  demo.state = state;
  $("state").textContent = state;
  const open = state === "open";
  for (const id of ["send", "subscribe", "unsubscribe"]) $(id).disabled = !open;
}

function signalingUrl(mode) {
  // Relative to this page, so it also works behind jupyter-server-proxy.
  const path = mode === "bot" ? "../webrtc/bot" : `../webrtc/signal?room=${encodeURIComponent($("room").value)}`;
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const token = params.get("token");
  if (token) url.searchParams.set("token", token);
  return url.href;
}

function send(message) {
  if (signaling && signaling.readyState === WebSocket.OPEN) signaling.send(JSON.stringify(message));
}

function watchChannel(channel) {
  dataChannel = channel;
  channel.binaryType = "arraybuffer";
  channel.onopen = () => { setState("open"); show("sys", `data channel "${channel.label}" open`); };
  channel.onclose = () => { setState("closed"); show("sys", "data channel closed"); };
  channel.onmessage = (event) => {
    const data = typeof event.data === "string" ? event.data : `<${event.data.byteLength} bytes>`;
    demo.received.push(data);
    if (demo.received.length > 1000) demo.received.shift();
    show("in", data);
  };
}

function newPeerConnection() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  // Trickle every candidate, and null at the end (end of candidates).
  pc.onicecandidate = (event) => send({ type: "candidate", candidate: event.candidate });
  pc.ondatachannel = (event) => watchChannel(event.channel);
  pc.onconnectionstatechange = () => {
    show("sys", `connection ${pc.connectionState}`);
    if (pc.connectionState === "failed") setState("failed");
  };
  return pc;
}

async function makeOffer() {
  peerConnection = newPeerConnection();
  watchChannel(peerConnection.createDataChannel("chat"));
  const offer = await peerConnection.createOffer();
  await peerConnection.setLocalDescription(offer);
  send({ type: "offer", sdp: peerConnection.localDescription });
  show("sys", "offer sent");
}

async function onSignal(data) {
  if (data.type === "offer") {
    // This page never rolls back: in glare rtnb yields and answers our offer.
    if (peerConnection && peerConnection.signalingState === "have-local-offer") return;
    if (peerConnection) peerConnection.close();
    peerConnection = newPeerConnection();
    await peerConnection.setRemoteDescription(data.sdp);
    const answer = await peerConnection.createAnswer();
    await peerConnection.setLocalDescription(answer);
    send({ type: "answer", sdp: answer });
    show("sys", "answered an offer");
  } else if (data.type === "answer") {
    if (peerConnection && peerConnection.signalingState === "have-local-offer") {
      await peerConnection.setRemoteDescription(data.sdp);
    }
  } else if (data.type === "candidate") {
    if (peerConnection && data.candidate) await peerConnection.addIceCandidate(data.candidate);
  } else if (data.type === "bye") {
    show("sys", "the peer left");
    resetPeer();
    if (role === "offer") await makeOffer(); // held by the relay for the next peer
  } else if (data.type === "error") {
    demo.errors.push(data.error);
    show("err", data.error);
  } else if (data.type === "room") {
    show("sys", `in room ${data.room} with ${data.peers} other peer(s)`);
  }
}

function resetPeer() {
  // Detach first: the old channel's late "close" must not touch the next session.
  if (dataChannel) {
    dataChannel.onopen = dataChannel.onclose = dataChannel.onmessage = null;
    dataChannel.close();
  }
  if (peerConnection) {
    peerConnection.onicecandidate = peerConnection.ondatachannel = null;
    peerConnection.onconnectionstatechange = null;
    peerConnection.close();
  }
  dataChannel = null;
  peerConnection = null;
  setState("closed");
}

function connect() {
  hangup();
  const mode = document.querySelector("input[name=mode]:checked").value;
  role = mode === "bot" ? "offer" : $("role").value;
  setState("connecting");
  const ws = (signaling = new WebSocket(signalingUrl(mode)));
  const current = () => ws === signaling; // false once hung up or replaced
  // Process signaling messages one after another, in order.
  let queue = Promise.resolve();
  ws.onmessage = (event) => {
    queue = queue.then(() => current() && onSignal(JSON.parse(event.data))).catch((err) => {
      demo.errors.push(String(err));
      show("err", String(err));
    });
  };
  ws.onopen = () => {
    show("sys", `signaling open: ${ws.url.replace(/token=[^&]*/, "token=…")}`);
    if (role === "offer") queue = queue.then(() => current() && makeOffer());
  };
  ws.onclose = (event) => show("sys", `signaling closed (${event.code}${event.reason ? ": " + event.reason : ""})`);
  $("hangup").disabled = false;
}

function hangup() {
  resetPeer();
  if (signaling) {
    signaling.onmessage = signaling.onopen = null;
    signaling.close();
  }
  signaling = null;
  $("hangup").disabled = true;
}

function sendText(text) {
  if (!dataChannel || dataChannel.readyState !== "open") return false;
  dataChannel.send(text);
  show("out", text);
  return true;
}
demo.send = sendText;

$("connect").onclick = connect;
$("hangup").onclick = hangup;
$("send").onclick = () => sendText($("text").value);
$("subscribe").onclick = () => sendText(JSON.stringify({ type: "subscribe", symbols: "AAPL,MSFT", rate: 2 }));
$("unsubscribe").onclick = () => sendText(JSON.stringify({ type: "unsubscribe" }));

if (params.get("mode")) {
  for (const input of document.querySelectorAll("input[name=mode]")) input.checked = input.value === params.get("mode");
}
if (params.get("room")) $("room").value = params.get("room");
if (params.get("role")) $("role").value = params.get("role");
if (params.get("autostart") === "1") connect();
