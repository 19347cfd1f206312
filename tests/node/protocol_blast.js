// Sends N application-protocol messages as fast as the socket takes them, for benchmarks.
// Usage: node protocol_blast.js PORT     (prints "listening" when ready)
//   /jsonrpc?n=N   N JSON-RPC 2.0 notifications {"method": "tick", "params": {...}}, then close 1000
//   /graphql?n=N   graphql-transport-ws: connection_init -> connection_ack, subscribe -> N `next`
//                  messages for that id, then `complete` and close 1000
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  handleProtocols: (protocols) => (protocols.has("graphql-transport-ws") ? "graphql-transport-ws" : false),
});

function tick(i) {
  return { t: 1700000000 + i / 1000, symbol: "AAPL", price: 187.25 + (i % 100) / 100 };
}

function pump(ws, n, frame, done) {
  const frames = [];
  for (let i = 0; i < 1000; i++) frames.push(frame(i));
  let i = 0;
  const go = () => {
    while (i < n) {
      if (ws.bufferedAmount > 1 << 20) return setImmediate(go);
      ws.send(frames[i % 1000]);
      i++;
    }
    done();
  };
  go();
}

wss.on("connection", (ws, req) => {
  const url = new URL(req.url, "http://x");
  const n = Number(url.searchParams.get("n") || 100000);
  if (url.pathname === "/jsonrpc") {
    const note = (i) => JSON.stringify({ jsonrpc: "2.0", method: "tick", params: tick(i) });
    pump(ws, n, note, () => ws.close(1000, "done"));
  } else if (url.pathname === "/graphql") {
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.type === "connection_init") ws.send(JSON.stringify({ type: "connection_ack" }));
      else if (msg.type === "subscribe") {
        const next = (i) => JSON.stringify({ id: msg.id, type: "next", payload: { data: { ticks: tick(i) } } });
        pump(ws, n, next, () => {
          ws.send(JSON.stringify({ id: msg.id, type: "complete" }));
          ws.close(1000, "done");
        });
      }
    });
  } else {
    ws.close(1008, "unknown path");
  }
});
wss.on("listening", () => console.log("listening"));
