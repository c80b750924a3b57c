// fake_upstream.mjs — a tiny OpenAI-style `POST /v1/completions` server for
// tests/gateway.sh. It streams a recorded answer (ids and text taken from
// `l4lm serve-shm`) as server-sent events, and misbehaves on request: a
// prompt containing one of these words picks the failure.
//   #hang     accept, read the request, never answer
//   #die      stream two chunks, then the process kills itself (SIGKILL)
//   #slow     one chunk every 400 ms
//   #http500  answer 500 with an OpenAI-style error body
//   #badjson  stream a chunk that is not JSON
// Usage: node fake_upstream.mjs PORTFILE ANSWER.json LOG
// The port it listens on is written to PORTFILE; LOG gets one line per event
// ("request {json}", "aborted", "finished").
import fs from 'node:fs';
import http from 'node:http';

const [portFile, answerFile, logFile] = process.argv.slice(2);
const answer = JSON.parse(fs.readFileSync(answerFile, 'utf8'));
const log = (s) => fs.appendFileSync(logFile, s + '\n');

// The recorded text split over the ids: any split concatenates to the same text.
function chunks() {
    const text = Buffer.from(answer.text, 'utf8');
    const n = answer.ids.length, out = [];
    let at = 0;
    for (let i = 0; i < n; i++) {
        let end = i === n - 1 ? text.length : Math.floor(((i + 1) * text.length) / n);
        while (end < text.length && (text[end] & 0xc0) === 0x80) end++; // whole characters
        out.push({ tokens: [answer.ids[i]], text: text.subarray(at, Math.max(at, end)).toString() });
        at = Math.max(at, end);
    }
    return out;
}

const event = (res, obj) => res.write('data: ' + JSON.stringify(obj) + '\n\n');
const chunk = (c, fin) => ({
    id: 'cmpl-fake', object: 'text_completion', model: 'fake',
    choices: [{ index: 0, text: c.text, tokens: c.tokens, finish_reason: fin }],
});

function stream(req, res, body) {
    const p = body.prompt;
    if (p.includes('#hang')) return; // never answer
    if (p.includes('#http500')) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'the fake is broken', type: 'server_error' } }));
        return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (p.includes('#badjson')) {
        res.write('data: {"choices": [\n\n');
        return;
    }
    // The request must carry the client's prompt and options (unless it asks for a failure).
    if (!p.includes('#') && (body.prompt !== answer.prompt || body.max_tokens !== answer.max_tokens ||
        body.stream !== true || String(body.seed) !== String(answer.seed))) {
        event(res, { error: { message: 'request does not match the recording' } });
        res.end();
        return;
    }
    const all = chunks(), slow = p.includes('#slow'), die = p.includes('#die');
    let i = 0;
    const next = () => {
        if (die && i === 2) process.kill(process.pid, 'SIGKILL');
        if (i === all.length) {
            event(res, chunk({ tokens: [], text: '' }, answer.finish));
            res.end('data: [DONE]\n\n');
            log('finished');
            return;
        }
        event(res, chunk(all[i++], null));
        setTimeout(next, slow ? 400 : 2);
    };
    next();
}

const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
        let body;
        try {
            body = JSON.parse(data);
        } catch {
            res.writeHead(400).end('{"error":{"message":"bad json"}}');
            return;
        }
        log('request ' + JSON.stringify(body));
        res.on('close', () => { if (!res.writableFinished) log('aborted'); });
        if (req.url !== '/v1/completions' || req.method !== 'POST') {
            res.writeHead(404).end('{"error":{"message":"no such path"}}');
            return;
        }
        stream(req, res, body);
    });
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
