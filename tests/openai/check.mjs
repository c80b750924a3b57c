// check.mjs — drives `l4lm serve` with the official openai client (and plain
// fetch for malformed requests); run by tests/serve_http.sh, which gives it
// the expected texts made by `l4lm run` / `l4lm chat`. Prints ok/FAIL lines.
//   node check.mjs main URL MODEL DIR   the API, 32 concurrent streams, bad requests
//   node check.mjs busy URL MODEL DIR   a 1-slot, queue-1 server: 429, disconnect
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
        ["n_2", "POST", "/v1/completions", JSON.stringify({ model, prompt: "Hi", n: 2 }), 400, "unsupported_parameter", "n"],
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
    for (const [name, method, path, body, status, code, param] of cases2) {
        let r;
        try { r = await fetchJson(method, path, body); } catch (e) { r = { status: 0, text: String(e.cause ?? e) }; }
        const good = r.status === status && isErrorBody(r.json) && (!code || r.json.error.code === code) &&
            (!param || r.json.error.param === param);
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
        await concurrent();
        await badRequests();
    } else {
        await busy();
    }
} catch (e) {
    console.log(`FAIL http_${mode}: ${e.stack ?? e}`);
}
