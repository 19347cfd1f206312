// A WebSocket server written with Node's `ws`, for rtnb interop tests.
// Usage: node ws_server.js PORT
//   /echo       sends each message back with its original frame type
//   /broadcast  the usual snippet: re-sends the received Buffer to the others,
//               so text arrives as BINARY frames (a real-world quirk)
//   /push       sends {"n": i} for i in 0..99 as text, then closes with 1000
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
  } else {
    ws.close(1008, "unknown path");
  }
});

wss.on("listening", () => console.log("listening " + port));
