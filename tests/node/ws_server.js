// A WebSocket server written with Node's `ws`, for rtnb interop tests.
// Usage: node ws_server.js PORT
//   /echo       sends each message back with its original frame type
//   /broadcast  the usual snippet: re-sends the received Buffer to the others,
//               so text arrives as BINARY frames (a real-world quirk)
//   /push       sends {"n": i} for i in 0..99 as text, then closes with 1000
//   /blast?n=N&size=S  sends N JSON text messages of about S bytes as fast as the
//               socket takes them, then closes with 1000 (for benchmarks)
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: "127.0.0.1", port });

wss.on("connection", (ws, req) => {
  const path = req.url.split("?")[0];
  if (path === "/echo") {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (path === "/broadcast") {
    ws.on("message", (message) => {
      wss.clients.forEach((client) => {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(message);
      });
    });
  } else if (path === "/push") {
    for (let i = 0; i < 100; i++) ws.send(JSON.stringify({ n: i }));
    ws.close(1000, "done");
  } else if (path === "/blast") {
    const q = new URL(req.url, "http://x").searchParams;
    blast(ws, Number(q.get("n") || 100000), Number(q.get("size") || 60));
  } else {
    ws.close(1008, "unknown path");
  }
});

function blast(ws, n, size) {
  const head = JSON.stringify({ seq: 0, price: 123.45, symbol: "AAPL", pad: "" });
  const pad = "x".repeat(Math.max(0, size - head.length - 6));
  const frames = [];
  for (let i = 0; i < 1000; i++) {
    frames.push(JSON.stringify({ seq: 100000 + i, price: 123.45, symbol: "AAPL", pad }));
  }
  let i = 0;
  const pump = () => {
    while (i < n) {
      if (ws.bufferedAmount > 1 << 20) return setImmediate(pump);
      ws.send(frames[i % 1000]);
      i++;
    }
    ws.close(1000, "done");
  };
  pump();
}

wss.on("listening", () => console.log("listening " + port));
