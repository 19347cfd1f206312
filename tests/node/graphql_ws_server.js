// A GraphQL over WebSocket server on the reference stack (graphql-js + graphql-ws + ws),
// for rtnb's graphql client interop tests.
// Usage: node graphql_ws_server.js PORT     (prints "listening" when ready)
//   query { hello }                          -> {"hello": "world"}
//   subscription { count(to: N) }            -> {"count": 1} ... {"count": N}, then complete
//   subscription { forever }                 -> {"forever": n} every 20 ms until the client stops
//   subscription { broken }                  -> one result with errors (a resolver that throws)
const { GraphQLSchema, GraphQLObjectType, GraphQLString, GraphQLInt } = require("graphql");
const { WebSocketServer } = require("ws");
const { useServer } = require("graphql-ws/use/ws");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: { hello: { type: GraphQLString, resolve: () => "world" } },
  }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      count: {
        type: GraphQLInt,
        args: { to: { type: GraphQLInt } },
        subscribe: async function* (_root, { to }) {
          for (let i = 1; i <= to; i++) yield { count: i };
        },
      },
      forever: {
        type: GraphQLInt,
        subscribe: async function* () {
          for (let i = 0; i < 100000; i++) {
            yield { forever: i };
            await sleep(20);
          }
        },
      },
      broken: {
        type: GraphQLInt,
        subscribe: async function* () {
          yield { broken: 1 };
        },
        resolve: () => {
          throw new Error("the resolver broke");
        },
      },
    },
  }),
});

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: "127.0.0.1", port, path: "/graphql" });
useServer({ schema }, wss);
wss.on("listening", () => console.log("listening"));
