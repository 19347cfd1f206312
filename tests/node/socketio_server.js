// A Socket.IO v4 server written with the JavaScript reference implementation, for rtnb interop.
// Usage: node socketio_server.js PORT      (prints "listening" once ready)
//   namespace /      echo (acknowledged with its arguments), chat (to every other client),
//                    push {n}: emits "num" n times with {i}, then "done";
//                    multi: emits "pair" with two arguments; bin: emits "blob" with a Buffer;
//                    bad: writes a malformed Socket.IO packet, then emits "after" 1;
//                    bye: the server disconnects the client;
//                    blast {n, size}: emits n "tick" events as fast as the socket takes them
//   namespace /admin refuses every connection with the error "not allowed"
const { createServer } = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const httpServer = createServer();
const io = new Server(httpServer, { maxHttpBufferSize: 1e7 });

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("chat", (msg) => socket.broadcast.emit("chat", msg));
  socket.on("push", ({ n }) => {
    for (let i = 0; i < n; i++) socket.emit("num", { i });
    socket.emit("done");
  });
  socket.on("multi", () => socket.emit("pair", 1, "two"));
  socket.on("bin", () => socket.emit("blob", Buffer.from([0, 255, 1])));
  socket.on("bad", () => {
    socket.conn.send('2["oops');  // an EVENT packet whose JSON is cut short
    socket.emit("after", 1);
  });
  socket.on("bye", () => socket.disconnect(true));
  socket.on("blast", ({ n, size }) => {
    const pad = "x".repeat(Math.max(0, size - 40));
    let i = 0;
    const more = () => {
      // emit in slices so the socket drains between them
      for (let k = 0; k < 500 && i < n; k++, i++) socket.emit("tick", { i, pad });
      if (i < n) setImmediate(more);
    };
    more();
  });
});

io.of("/admin").use((socket, next) => next(new Error("not allowed")));

httpServer.listen(port, "127.0.0.1", () => console.log("listening"));
