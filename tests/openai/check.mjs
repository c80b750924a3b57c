// check.mjs — drives `l4lm serve` with the official openai client (and plain
// fetch for malformed requests); run by tests/serve_http.sh, which gives it
// the expected texts made by `l4lm run` / `l4lm chat`. Prints ok/FAIL lines.
//   node check.mjs main URL MODEL DIR   the API, 32 concurrent streams, bad requests
//   node check.mjs busy URL MODEL DIR   a 1-slot, queue-1 server: 429, disconnect
// The main mode also checks logprobs (both endpoints, stream and not) against
// DIR/lp_*.json, a double-precision log-softmax of the model's logits made
// by tests/test_logprobs --dump, and /tokenize, /detokenize against
// `l4lm tokenize` (DIR/tok_*.txt).
import fs from "node:fs";
import OpenAI from "openai";

const [mode, url, model, dir] = process.argv.slice(2);
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
const cases = JSON.parse(fs.readFileSync(dir + "/cases.json", "utf8"));
const sampling = { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05 };

const report = (name, good, why) => console.log(good ? `ok ${name}${why ? " " + why : ""}` : `FAIL ${name}: ${why}`);
const show = (s) => JSON.stringify(s.length > 120 ? s.slice(0, 120) + "..." : s);
const differ = (got, want) => `got ${show(got)}, want ${show(want)}`;

// The completion `l4lm run` printed: its output is the prompt, the text, a newline.
function runText(c) {
    const out = fs.readFileSync(`${dir}/${c.file}`, "utf8");
    if (!out.startsWith(c.prompt) || !out.endsWith("\n")) throw new Error(`${c.file}: not prompt + text + newline`);
    return out.slice(c.prompt.length, -1);
}

async function streamCompletion(c, extra = {}) {
    const t0 = performance.now();
    let text = "", ttft = null, finish = null, usage = null;
    const stream = await client.completions.create({
        model, prompt: c.prompt, max_tokens: c.n, seed: c.seed, stream: true,
        stream_options: { include_usage: true }, ...sampling, ...extra,
    });
    for await (const chunk of stream) {
        const ch = chunk.choices[0];
        if (ch?.text && ttft === null) ttft = performance.now() - t0;
        text += ch?.text ?? "";
        finish = ch?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
    }
    return { text, ttft, finish, usage };
}

async function fetchJson(method, path, body, headers = { "Content-Type": "application/json" }) {
    const r = await fetch(url + path, { method, body, headers });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { }
    return { status: r.status, json, text };
}

// An OpenAI error body: {"error":{"message","type","param","code"}}.
const isErrorBody = (j) => j && j.error && typeof j.error.message === "string" && j.error.message.length > 0 &&
    typeof j.error.type === "string" && "param" in j.error && "code" in j.error;

async function apiChecks() {
    const c = cases.completions[0];
    const want = runText(c);
    const s = await streamCompletion(c);
    report("http_stream_completion", s.text === want && s.finish && s.usage?.completion_tokens > 0,
        s.text === want ? `finish ${s.finish}, usage ${JSON.stringify(s.usage)}` : differ(s.text, want));

    const r = await client.completions.create({ model, prompt: c.prompt, max_tokens: c.n, seed: c.seed, ...sampling });
    const u = r.usage;
    report("http_completion", r.choices[0].text === want && r.object === "text_completion" &&
        u.total_tokens === u.prompt_tokens + u.completion_tokens && u.completion_tokens <= c.n &&
        ["stop", "length"].includes(r.choices[0].finish_reason),
        r.choices[0].text === want ? "" : differ(r.choices[0].text, want));

    // Stop strings: the text up to the first occurrence of a two-word stop string (held back while streaming).
    const words = want.split(" ");
    const stop = " " + words.slice(3, 5).join(" ");
    const cut = want.indexOf(stop);
    const ss = await streamCompletion(c, { stop: [stop, "zzzz"] });
    const sn = await client.completions.create({ model, prompt: c.prompt, max_tokens: c.n, seed: c.seed, stop, ...sampling });
    report("http_stop_strings", cut > 0 && ss.text === want.slice(0, cut) && ss.finish === "stop" &&
        sn.choices[0].text === want.slice(0, cut) && sn.choices[0].finish_reason === "stop",
        `stop ${JSON.stringify(stop)}: stream ${differ(ss.text, want.slice(0, cut))}, finish ${ss.finish}; ` +
        `whole ${show(sn.choices[0].text)}`);

    const chat = cases.chat;
    const chatWant = fs.readFileSync(`${dir}/${chat.file}`, "utf8").replace(/\n$/, "");
    const messages = [{ role: "user", content: chat.user }];
    let ctext = "", cfinish = null, role = null;
    const cs = await client.chat.completions.create({ model, messages, max_tokens: chat.n, seed: chat.seed, stream: true, ...sampling });
    for await (const chunk of cs) {
        const ch = chunk.choices[0];
        role = ch?.delta?.role ?? role;
        ctext += ch?.delta?.content ?? "";
        cfinish = ch?.finish_reason ?? cfinish;
    }
    const cr = await client.chat.completions.create({ model, messages, max_tokens: chat.n, seed: chat.seed, ...sampling });
    const chatOk = chat.compare ? ctext === chatWant && cr.choices[0].message.content === chatWant : ctext.length > 0;
    report("http_stream_chat", chatOk && role === "assistant" && cfinish && cr.object === "chat.completion" &&
        cr.choices[0].message.role === "assistant" && cr.usage.prompt_tokens > 0,
        chatOk ? (chat.compare ? "(equals l4lm chat)" : "(l4lm chat absent: not compared)") : differ(ctext, chatWant));

    const models = await client.models.list();
    report("http_models", models.data.length === 1 && models.data[0].id === model, JSON.stringify(models.data));
}

// As test_logprobs.c: half a float ulp of the value plus the float log of the sum.
const close = (got, want) => typeof got === "number" && Math.abs(got - want) <= 1e-6 + 1.2e-7 * Math.abs(want);
const utf8 = (s) => [...Buffer.from(s, "utf8")];
const greedy = { temperature: 0, repeat_penalty: 1, max_tokens: 8 };

// Compare n tokens' logprobs (as {piece, logprob, top: [[piece, logprob]]}) with the reference steps.
function compareSteps(got, ref, what) {
    if (got.length === 0 || got.length > ref.length) return `${what}: ${got.length} tokens`;
    for (let i = 0; i < got.length; i++) {
        const g = got[i], r = ref[i];
        if (g.piece !== r.piece || !close(g.logprob, r.logprob))
            return `${what} token ${i}: ${JSON.stringify([g.piece, g.logprob])}, want ${JSON.stringify([r.piece, r.logprob])}`;
        if (g.top.length !== r.top.length) return `${what} token ${i}: ${g.top.length} alternatives, want ${r.top.length}`;
        const want = new Map(r.top.map(([, p, l]) => [p, l]));
        for (const [p, l] of g.top)
            if (!want.has(p) || !close(l, want.get(p))) return `${what} token ${i}: alternative ${JSON.stringify([p, l])} not in the reference`;
    }
    return "";
}

// Legacy completions logprobs -> steps; also checks the shape, offsets and that the tokens spell the text.
function legacySteps(lp, text, promptLen) {
    const steps = lp.tokens.map((t, i) => ({ piece: t, logprob: lp.token_logprobs[i], top: Object.entries(lp.top_logprobs[i]) }));
    let off = promptLen, bad = "";
    lp.tokens.forEach((t, i) => { if (lp.text_offset[i] !== off) bad = `text_offset[${i}] ${lp.text_offset[i]}, want ${off}`; off += t.length; });
    if (lp.tokens.join("") !== text) bad = `tokens ${JSON.stringify(lp.tokens.join(""))} do not spell ${JSON.stringify(text)}`;
    return { steps, bad };
}

const chatSteps = (content) => content.map((e) => ({
    piece: e.token, logprob: e.logprob, top: e.top_logprobs.map((t) => [t.token, t.logprob]),
    bytesOk: JSON.stringify(e.bytes) === JSON.stringify(utf8(e.token)) && e.top_logprobs.every((t) => JSON.stringify(t.bytes) === JSON.stringify(utf8(t.token))),
}));

async function logprobChecks() {
    const ref = JSON.parse(fs.readFileSync(dir + "/lp_completion.json", "utf8")).steps;
    const prompt = "Once upon a time";
    const r = await client.completions.create({ model, prompt, logprobs: 5, return_tokens: true, ...greedy });
    const ch = r.choices[0], lp = legacySteps(ch.logprobs, ch.text, prompt.length);
    const ids = JSON.stringify(ch.tokens) === JSON.stringify(ref.slice(0, ch.tokens.length).map((s) => s.id));
    let why = lp.bad || (ids ? "" : `ids ${JSON.stringify(ch.tokens)}`) || compareSteps(lp.steps, ref, "completion");
    report("http_logprobs_completion", !why, why || `${lp.steps.length} tokens, first ${JSON.stringify(ch.logprobs.tokens[0])} ${ch.logprobs.token_logprobs[0]}`);

    let text = "", steps = [], offsets = [];
    const s = await client.completions.create({ model, prompt, logprobs: 5, stream: true, ...greedy });
    for await (const chunk of s) {
        const c = chunk.choices[0];
        text += c?.text ?? "";
        if (c?.logprobs) {
            steps.push(...legacySteps(c.logprobs, c.logprobs.tokens.join(""), 0).steps);
            offsets.push(...c.logprobs.text_offset);
        }
    }
    why = compareSteps(steps, ref, "stream") || (offsets[0] === prompt.length ? "" : `text_offset ${offsets}`) ||
        (steps.map((x) => x.piece).join("") === text ? "" : "tokens do not spell the text");
    report("http_logprobs_completion_stream", !why && steps.length === lp.steps.length, why || `${steps.length} tokens`);

    const cref = JSON.parse(fs.readFileSync(dir + "/lp_chat.json", "utf8")).steps;
    const messages = [{ role: "user", content: "Tell me a story" }];
    const cr = await client.chat.completions.create({ model, messages, logprobs: true, top_logprobs: 5, ...greedy });
    const cs = chatSteps(cr.choices[0].logprobs.content);
    why = compareSteps(cs, cref, "chat") || (cs.every((x) => x.bytesOk) ? "" : "bytes differ from the token's UTF-8");
    report("http_logprobs_chat", !why, why || `${cs.length} tokens, first ${JSON.stringify(cs[0].piece)} ${cs[0].logprob}`);

    const ss = await client.chat.completions.create({ model, messages, logprobs: true, top_logprobs: 5, stream: true, ...greedy });
    steps = [];
    for await (const chunk of ss) steps.push(...chatSteps(chunk.choices[0]?.logprobs?.content ?? []));
    why = compareSteps(steps, cref, "chat stream");
    report("http_logprobs_chat_stream", !why && steps.length === cs.length, why || `${steps.length} tokens`);

    const plain = await client.chat.completions.create({ model, messages, logprobs: true, ...greedy });
    const pc = plain.choices[0].logprobs.content;
    report("http_logprobs_chat_no_top", pc.length > 0 && pc.every((e) => e.top_logprobs.length === 0) && close(pc[0].logprob, cref[0].logprob),
        JSON.stringify(pc[0]));
}

async function tokenizeChecks() {
    const text = "Once upon a time, Lily met a café cat.";
    const want = (f) => fs.readFileSync(`${dir}/${f}`, "utf8").trim().split(" ").map(Number);
    const bos = await fetchJson("POST", "/tokenize", JSON.stringify({ content: text, add_special: true, parse_special: false }));
    const plain = await fetchJson("POST", "/tokenize", JSON.stringify({ content: text }));
    const ok = (r, w) => r.status === 200 && JSON.stringify(r.json.tokens) === JSON.stringify(w);
    report("http_tokenize", ok(bos, want("tok_bos.txt")) && ok(plain, want("tok_nobos.txt")),
        `with BOS ${bos.text.slice(0, 200)}; without ${plain.text.slice(0, 200)}`);
    const wp = await fetchJson("POST", "/tokenize", JSON.stringify({ content: text, with_pieces: true }));
    report("http_tokenize_pieces", wp.status === 200 && JSON.stringify(wp.json.tokens.map((t) => t.id)) === JSON.stringify(want("tok_nobos.txt")) &&
        wp.json.tokens.every((t) => typeof t.piece === "string" || Array.isArray(t.piece)), wp.text.slice(0, 200));
    let bad = [];
    for (const t of [text, "Lily's 日本 — naïve ☃ x", "  two  spaces", ""]) {
        const ids = (await fetchJson("POST", "/tokenize", JSON.stringify({ content: t, add_special: true }))).json.tokens;
        const back = await fetchJson("POST", "/detokenize", JSON.stringify({ tokens: ids }));
        if (back.status !== 200 || back.json.content !== t) bad.push(`${JSON.stringify(t)} -> ${back.text.slice(0, 100)}`);
    }
    report("http_detokenize_round_trip", bad.length === 0, bad.join("; "));
}

// 32 streaming clients at once, each with its own prompt and seed.
async function concurrent() {
    const t0 = performance.now();
    const results = await Promise.all(cases.completions.map((c) => streamCompletion(c).catch((e) => ({ error: e }))));
    const wall = (performance.now() - t0) / 1000;
    let bad = [], tokens = 0;
    results.forEach((r, i) => {
        const want = runText(cases.completions[i]);
        if (r.error) bad.push(`#${i}: ${r.error.message}`);
        else if (r.text !== want) bad.push(`#${i}: ${differ(r.text, want)}`);
        else if (!r.finish || !r.usage) bad.push(`#${i}: no finish_reason or usage`);
        else tokens += r.usage.completion_tokens;
    });
    const ttft = results.filter((r) => r.ttft !== null && r.ttft !== undefined).map((r) => r.ttft).sort((a, b) => a - b);
    const pct = (p) => ttft.length ? ttft[Math.min(ttft.length - 1, Math.ceil(p * ttft.length) - 1)].toFixed(0) : "n/a";
    report(`http_concurrent_${results.length}`, bad.length === 0 && results.length === 32,
        bad.length ? bad.slice(0, 3).join("; ") :
            `${tokens} tokens in ${wall.toFixed(2)} s: ${(tokens / wall).toFixed(0)} tok/s, TTFT p50 ${pct(0.5)} ms p99 ${pct(0.99)} ms`);
}

async function badRequests() {
    const huge = JSON.stringify({ model, prompt: "x".repeat(2 << 20) });
    const cases2 = [
        ["broken_json", "POST", "/v1/completions", '{"prompt": "Once", ', 400, "invalid_json"],
        ["not_object", "POST", "/v1/completions", "[1,2]", 400],
        ["negative_max_tokens", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", max_tokens: -1 }), 400, "invalid_value", "max_tokens"],
        ["unknown_model", "POST", "/v1/completions", JSON.stringify({ model: "gpt-9", prompt: "Hi" }), 404, "model_not_found", "model"],
        ["n_2", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", n: 2 }), 400, "unsupported_parameter", "n", "'n' must be 1"],
        ["logprobs_21", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", logprobs: 21 }), 400, "invalid_value", "logprobs"],
        ["top_logprobs_21", "POST", "/v1/chat/completions", JSON.stringify({ model, messages: [{ role: "user", content: "Hi" }], logprobs: true, top_logprobs: 21 }), 400, "invalid_value", "top_logprobs"],
        ["top_logprobs_alone", "POST", "/v1/chat/completions", JSON.stringify({ model, messages: [{ role: "user", content: "Hi" }], top_logprobs: 2 }), 400, "invalid_value", "top_logprobs"],
        ["logprobs_string", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", logprobs: "5" }), 400, "invalid_value", "logprobs"],
        ["tokenize_no_content", "POST", "/tokenize", JSON.stringify({ text: "Hi" }), 400, "invalid_value", "content"],
        ["tokenize_too_long", "POST", "/tokenize", JSON.stringify({ content: "x".repeat(16 * 256 + 1) }), 400, "context_length_exceeded", "content"],
        ["tokenize_huge_body", "POST", "/tokenize", JSON.stringify({ content: "x".repeat(2 << 20) }), 413, "request_too_large"],
        ["detokenize_bad_id", "POST", "/detokenize", JSON.stringify({ tokens: [1, 512] }), 400, "invalid_value", "tokens"],
        ["detokenize_negative", "POST", "/detokenize", JSON.stringify({ tokens: [-1] }), 400, "invalid_value", "tokens"],
        ["detokenize_not_array", "POST", "/detokenize", JSON.stringify({ tokens: "1 2" }), 400, "invalid_value", "tokens"],
        ["detokenize_beyond_context", "POST", "/detokenize", JSON.stringify({ tokens: Array(257).fill(1) }), 400, "context_length_exceeded", "tokens"],
        ["detokenize_too_many_values", "POST", "/detokenize", JSON.stringify({ tokens: Array(300000).fill(1) }), 400, "json_too_complex"],
        ["tokenize_get", "GET", "/tokenize", undefined, 405],
        ["temperature_9", "POST", "/v1/chat/completions", JSON.stringify({ model, messages: [{ role: "user", content: "Hi" }], temperature: 9 }), 400, "invalid_value", "temperature"],
        ["five_stops", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", stop: ["a", "b", "c", "d", "e"] }), 400, "invalid_value", "stop"],
        ["stream_not_bool", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", stream: "yes" }), 400, "invalid_type", "stream"],
        ["prompt_number", "POST", "/v1/completions", JSON.stringify({ model, prompt: 5 }), 400, "invalid_value", "prompt"],
        ["message_no_role", "POST", "/v1/chat/completions", JSON.stringify({ model, messages: [{ content: "Hi" }] }), 400, "invalid_value", "messages"],
        ["no_messages", "POST", "/v1/chat/completions", JSON.stringify({ model, messages: [] }), 400, "invalid_value", "messages"],
        ["prompt_too_long", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Once upon a time ".repeat(200) }), 400, "context_length_exceeded"],
        ["huge_body", "POST", "/v1/completions", huge, 413, "request_too_large"],
        ["wrong_method", "GET", "/v1/completions", undefined, 405],
        ["wrong_path", "POST", "/v1/nothing", "{}", 404],
        ["unknown_model_get", "GET", "/v1/models/gpt-9", undefined, 404, "model_not_found"],
    ];
    for (const [name, method, path, body, status, code, param, message] of cases2) {
        let r;
        try { r = await fetchJson(method, path, body); } catch (e) { r = { status: 0, text: String(e.cause ?? e) }; }
        const good = r.status === status && isErrorBody(r.json) && (!code || r.json.error.code === code) &&
            (!param || r.json.error.param === param) && (!message || r.json.error.message.includes(message));
        report(`http_bad_${name}`, good, good ? `${status}` : `HTTP ${r.status} ${r.text.slice(0, 200)}`);
    }
    // still serving, and it says so
    const c = cases.completions[1];
    const s = await streamCompletion(c);
    const h = await fetchJson("GET", "/health");
    report("http_still_serving", s.text === runText(c) && h.status === 200 && h.json.status === "ok",
        `health ${h.text}`);
}

// A server with one slot and a queue of one: 429 past it, and a disconnect frees the slot.
async function busy() {
    const long = { model, prompt: "Once upon a time", max_tokens: 400, ignore_eos: true, seed: 1 };
    const rs = await Promise.all(Array.from({ length: 6 }, () =>
        fetchJson("POST", "/v1/completions", JSON.stringify(long))));
    const n429 = rs.filter((r) => r.status === 429 && isErrorBody(r.json) && r.json.error.code === "rate_limit_exceeded").length;
    const n200 = rs.filter((r) => r.status === 200 && r.json.usage.completion_tokens === 400).length;
    report("http_queue_429", n429 >= 1 && n200 >= 2 && n429 + n200 === 6,
        `${n200} served whole, ${n429} refused with 429 (statuses ${rs.map((r) => r.status).join(" ")})`);

    const before = (await fetchJson("GET", "/health")).json.requests_cancelled;
    const ac = new AbortController();
    const stream = await client.completions.create({ ...long, max_tokens: 1000, stream: true }, { signal: ac.signal });
    let got = "";
    try {
        for await (const chunk of stream) {
            got += chunk.choices[0]?.text ?? "";
            if (got.length > 0) ac.abort();
        }
    } catch { }
    const t0 = performance.now();
    let h;
    for (let i = 0; i < 50; i++) {
        h = (await fetchJson("GET", "/health")).json;
        if (h.requests_cancelled > before && h.slots_processing === 0) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    report("http_disconnect_cancels", h.requests_cancelled > before && h.slots_processing === 0 && h.slots_idle === 1,
        `slot freed ${(performance.now() - t0).toFixed(0)} ms after the client went; health ${JSON.stringify(h)}`);
    const after = await fetchJson("POST", "/v1/completions", JSON.stringify({ ...long, max_tokens: 8 }));
    report("http_busy_still_serving", after.status === 200 && after.json.usage.completion_tokens === 8, after.text.slice(0, 200));
}

try {
    if (mode === "main") {
        await apiChecks();
        await logprobChecks();
        await tokenizeChecks();
        await concurrent();
        await badRequests();
    } else {
        await busy();
    }
} catch (e) {
    console.log(`FAIL http_${mode}: ${e.stack ?? e}`);
}
