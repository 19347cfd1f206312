// The reference GraphQL over WebSocket client (graphql-ws) against rtnb's /graphql endpoint.
// Usage: node graphql_ws_client.js URL
// Runs a query, a finite subscription and a bad document; prints one JSON line per outcome:
//   {"op": "hello", "next": {...}} ... {"op": "hello", "complete": true}
//   {"op": "bad", "error": [...]}
// and exits 0 when all three have ended.
const WebSocket = require("ws");
const { createClient } = require("graphql-ws");

const client = createClient({ url: process.argv[2], webSocketImpl: WebSocket, retryAttempts: 0 });

function run(op, payload) {
  return new Promise((resolve) => {
    client.subscribe(payload, {
      next: (value) => console.log(JSON.stringify({ op, next: value })),
      error: (err) => {
        const detail = Array.isArray(err) ? err : { message: String(err && (err.reason || err.message || err)) };
        console.log(JSON.stringify({ op, error: detail }));
        resolve();
      },
      complete: () => {
        console.log(JSON.stringify({ op, complete: true }));
        resolve();
      },
    });
  });
}

(async () => {
  await run("hello", { query: "query { hello(name: \"node\") }" });
  await run("ticks", {
    query: "subscription T($n: Int) { ticks(symbols: [\"MSFT\"], rate: 0, count: $n) { symbol price } }",
    variables: { n: 3 },
  });
  await run("bad", { query: "subscription { ticks { nope } }" });
  await client.dispose();
  process.exit(0);
})();
setTimeout(() => {
  console.log(JSON.stringify({ op: "timeout" }));
  process.exit(2);
}, 15000);
