// The JavaScript Socket.IO v4 client against rtnb's /socket.io/ endpoint.
// Usage: node socketio_client.js URL [TOKEN]
// Prints one JSON line per step, then "ok" (or "error ..." and exits 1).
const { io } = require("socket.io-client");

const [url, token] = process.argv.slice(2);
const socket = io(url, {
  transports: ["polling", "websocket"],
  reconnection: false,
  timeout: 10000,
  query: token ? { token } : {},
});
const say = (obj) => console.log(JSON.stringify(obj));
const fail = (why) => { console.log("error " + why); process.exit(1); };
setTimeout(() => fail("timed out"), 20000);

socket.on("connect_error", (err) => fail("connect_error " + err.message));
socket.on("connect", async () => {
  const echoed = await socket.timeout(5000).emitWithAck("echo", { x: 1 });
  say({ step: "echo", value: echoed });
  const unknown = await socket.timeout(5000).emitWithAck("nope", 1);
  say({ step: "unknown", value: unknown });
  socket.once("message", (m) => say({ step: "message", value: m }));
  socket.emit("message", { hi: "there" });
  const sub = await socket.timeout(5000).emitWithAck("subscribe", { symbols: ["AAPL"], rate: 50 });
  say({ step: "subscribe", value: sub });
  socket.once("tick", (t) => {
    say({ step: "tick", value: t });
    say({ step: "transport", value: socket.io.engine.transport.name });
    socket.disconnect();
    console.log("ok");
    process.exit(0);
  });
});
