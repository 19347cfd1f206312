// A Server-Sent Events server on plain Node `http`, for rtnb's interop tests.
//
//   node sse_server.js        -> prints {"port": N} once listening on 127.0.0.1
//
// GET  /events?count=N&cut_after=K   events with ids 1..N (CRLF line endings,
//        multi-line data, a named event every 5th, comments); resumes after
//        Last-Event-ID; cuts the socket after K events; answers 204 when done.
// POST /chat   a JSON body {"prompt": "..."} streamed back word by word, as
//        LLM APIs do, then "event: done" and the end of the response.
// GET  /json   a JSON answer (not an event stream).
'use strict';
const http = require('http');

function events(req, res, url) {
  const count = Number(url.searchParams.get('count') || 20);
  const cutAfter = Number(url.searchParams.get('cut_after') || 0);
  const last = Number(req.headers['last-event-id'] || 0);
  if (last >= count) {
    res.writeHead(204);
    res.end();
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write('retry: 50\r\n: hello from node\r\n\r\n');
  let id = last;
  let sent = 0;
  const timer = setInterval(() => {
    id += 1;
    sent += 1;
    const body = JSON.stringify({ i: id, from: 'node' });
    let block = `id: ${id}\r\n`;
    if (id % 5 === 0) block += 'event: fifth\r\n';
    if (id % 7 === 0) block += `data: line one\r\ndata: ${body}\r\n\r\n`;
    else block += `data: ${body}\r\n\r\n`;
    res.write(block);
    if (id >= count) {
      clearInterval(timer);
      res.end();
    } else if (cutAfter && sent >= cutAfter) {
      clearInterval(timer);
      // Let the chunk leave first (Node defers chunked writes), then cut.
      setTimeout(() => res.socket && res.socket.destroy(), 20);
    }
  }, 5);
  res.on('close', () => clearInterval(timer));
}

function chat(req, res) {
  let raw = '';
  req.on('data', (c) => {
    raw += c;
  });
  req.on('end', () => {
    let prompt;
    try {
      prompt = JSON.parse(raw).prompt;
    } catch (e) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('body must be JSON like {"prompt": "..."}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
    const words = String(prompt).split(/\s+/).filter(Boolean);
    let i = 0;
    const timer = setInterval(() => {
      if (i < words.length) {
        res.write(`data: ${JSON.stringify({ token: words[i], index: i })}\n\n`);
        i += 1;
      } else {
        clearInterval(timer);
        res.end('event: done\ndata: [DONE]\n\n');
      }
    }, 2);
    res.on('close', () => clearInterval(timer));
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/events') return events(req, res, url);
  if (req.method === 'POST' && url.pathname === '/chat') return chat(req, res);
  if (url.pathname === '/json') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end('{"not": "an event stream"}');
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('no such path');
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0)); // exit with the test process
process.stdin.resume();
