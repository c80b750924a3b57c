// report.mjs — `make bench` results: medians, ratios and bandwidth from the
// raw runs of bench/bench.sh.
//
//   node report.mjs RUNS.jsonl OUTDIR --n-layer N --node-baseline-kb KB
//        --load "..." --nice N --model TYPE=FILE.gguf ...
//
// RUNS.jsonl has one line per process: engine, type, threads, rep, peak RSS,
// process CPU/wall seconds and the engine's own timings ("run", null when the
// run failed). Writes OUTDIR/bench.json (everything, raw runs included),
// OUTDIR/bench.md (the table, also printed) and OUTDIR/bench.dat (gnuplot's
// input for bench/chart.gp).
//
// Effective decode bandwidth = bytes of the weights one decode step reads ×
// tokens/s. A step reads every weight matrix except the token embedding, of
// which it reads one row (unless the embedding is also the classifier).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(new URL("../tests/llamacpp/package.json", import.meta.url));
const { readGgufFileInfo } = await import(pathToFileURL(require.resolve("node-llama-cpp")));

// Bytes per block and elements per block of the GGML types mkgguf writes.
const TYPE_SIZE = {
    0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32],
    10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 30: [2, 1],
};

async function weightBytesPerToken(file) {
    const info = await readGgufFileInfo(file, { sourceType: "filesystem" });
    const tied = !info.tensorInfo.some((t) => t.name === "output.weight");
    let bytes = 0;
    for (const t of info.tensorInfo) {
        const size = TYPE_SIZE[t.ggmlType];
        if (!size) throw new Error(`${file}: ${t.name} has GGML type ${t.ggmlType}, unknown here`);
        const n = t.dimensions.reduce((a, d) => a * Number(d), 1);
        const rows = t.name === "token_embd.weight" && !tied ? 1 : n / Number(t.dimensions[0]);
        bytes += rows * Number(t.dimensions[0]) / size[1] * size[0];
    }
    return bytes;
}

function parseArgs(argv) {
    const a = { raw: argv[0], out: argv[1], models: {} };
    for (let i = 2; i + 1 < argv.length; i += 2) {
        if (argv[i] === "--model") {
            const [type, file] = argv[i + 1].split("=");
            a.models[type] = file;
        } else a[argv[i].slice(2).replace(/-/g, "_")] = argv[i + 1];
    }
    return a;
}

function median(xs) {
    const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
    if (s.length === 0) return null;
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// Medians of one engine's runs of one case.
function summarise(runs) {
    const ok = runs.filter((r) => r.run);
    const m = (f) => median(ok.map(f));
    return {
        runs: runs.length, failed: runs.length - ok.length,
        prefill_tps: m((r) => r.run.prefill_tps), decode_tps: m((r) => r.run.decode_tps),
        rss_mb: m((r) => r.rss_kb / 1024), minor_faults: m((r) => r.minor_faults),
        process_cpu_per_wall: m((r) => r.process_cpu_s / r.process_wall_s),
        prefill_cpu_per_wall: m((r) => r.run.prefill_cpu_per_wall),
        decode_cpu_per_wall: m((r) => r.run.decode_cpu_per_wall),
        decode_extra_threads: m((r) => r.run.decode_extra_threads),
    };
}

const ratio = (p, q) => (p != null && q ? p / q : null);
const fix = (x, d) => (x == null ? "-" : x.toFixed(d));

function table(cases, a) {
    const head = "| type | thr | prefill l4lm | prefill llama.cpp | ratio | decode l4lm | decode llama.cpp | " +
        "ratio | decode GB/s l4lm | decode GB/s llama.cpp | RSS MB l4lm | RSS MB llama.cpp |";
    const rows = cases.map((c) => `| ${c.type.toUpperCase()} | ${c.threads}${c.starved ? "*" : ""} | ` +
        `${fix(c.l4lm.prefill_tps, 1)} | ${fix(c.llamacpp.prefill_tps, 1)} | ${fix(c.prefill_ratio, 2)} | ` +
        `${fix(c.l4lm.decode_tps, 2)} | ${fix(c.llamacpp.decode_tps, 2)} | ${fix(c.decode_ratio, 2)} | ` +
        `${fix(c.l4lm_decode_gbps, 1)} | ${fix(c.llamacpp_decode_gbps, 1)} | ` +
        `${fix(c.l4lm.rss_mb, 0)} | ${fix(c.llamacpp.rss_mb, 0)} |`);
    return [
        `TinyLlama-1.1B shape, ${a.n_layer} layers, random weights; prefill ${cases[0].n_prompt} tokens ` +
        `(one batch), decode ${cases[0].n_gen} tokens greedy; tok/s medians of ${cases[0].l4lm.runs} ` +
        "interleaved runs; ratio = l4lm / llama.cpp.",
        "", head, head.replace(/[^|]+/g, "---"), ...rows, "",
        `llama.cpp RSS includes node itself: ${fix(a.node_baseline_kb / 1024, 0)} MB with ` +
        "node-llama-cpp loaded and no model. Load average before / after: " + a.load + ".",
        "Does each engine use its threads? CPU time / wall time, and for llama.cpp the worker " +
        "threads it started beside the calling one: " + cases.map((c) =>
            `${c.type.toUpperCase()} ${c.threads}t llama.cpp prefill ${fix(c.llamacpp.prefill_cpu_per_wall, 2)} ` +
            `decode ${fix(c.llamacpp.decode_cpu_per_wall, 2)} (+${fix(c.llamacpp.decode_extra_threads, 0)} ` +
            `workers), l4lm whole process ${fix(c.l4lm.process_cpu_per_wall, 2)}`).join("; ") + ".",
        ...(cases.some((c) => c.starved) ? ["* starved: llama.cpp's threads spin while they wait, so " +
            "its decode CPU time / wall time is the CPU the machine gave; here it was under 3/4 of the " +
            "thread count. Another session was busy (Linux autogroup splits the CPU per session, so nice " +
            "does not help): these rows do not measure the engines."] : []),
    ].join("\n") + "\n";
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const runs = readFileSync(a.raw, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const keys = [...new Set(runs.map((r) => `${r.type} ${r.threads}`))];
    const cases = [];
    for (const key of keys) {
        const [type, threads] = key.split(" ");
        const mine = runs.filter((r) => `${r.type} ${r.threads}` === key);
        const c = { type, threads: Number(threads), weight_bytes_per_token: await weightBytesPerToken(a.models[type]) };
        const done = mine.find((r) => r.run);
        c.n_prompt = done ? done.run.n_prompt : null;
        c.n_gen = done ? done.run.n_gen : null;
        c.l4lm = summarise(mine.filter((r) => r.engine === "l4lm"));
        c.llamacpp = summarise(mine.filter((r) => r.engine === "llama.cpp"));
        const llamaRun = mine.find((r) => r.engine === "llama.cpp" && r.run);
        c.llamacpp.log = llamaRun ? llamaRun.run.llama_log : null;
        c.prefill_ratio = ratio(c.l4lm.prefill_tps, c.llamacpp.prefill_tps);
        c.decode_ratio = ratio(c.l4lm.decode_tps, c.llamacpp.decode_tps);
        c.starved = c.llamacpp.decode_cpu_per_wall != null && c.llamacpp.decode_cpu_per_wall < 0.75 * c.threads;
        c.l4lm_decode_gbps = c.l4lm.decode_tps && (c.weight_bytes_per_token * c.l4lm.decode_tps) / 1e9;
        c.llamacpp_decode_gbps = c.llamacpp.decode_tps && (c.weight_bytes_per_token * c.llamacpp.decode_tps) / 1e9;
        cases.push(c);
    }
    const llamaRun = runs.find((r) => r.engine === "llama.cpp" && r.run);
    const md = table(cases, a);
    process.stdout.write(md);
    writeFileSync(`${a.out}/bench.md`, md);
    writeFileSync(`${a.out}/bench.json`, JSON.stringify({
        date: new Date().toISOString(), n_layer: Number(a.n_layer), nice: Number(a.nice),
        load_average_before_after: a.load, node_baseline_rss_mb: a.node_baseline_kb / 1024,
        llamacpp_config: llamaRun && {
            batch_size: llamaRun.run.batch_size, context_size: llamaRun.run.context_size,
            flash_attention_option: llamaRun.run.flash_attention_option,
            cpu_variant: llamaRun.run.cpu_variant, threads: [...new Set(runs.filter((r) => r.run &&
                r.engine === "llama.cpp").map((r) => `${r.threads}->${r.run.threads}`))],
        },
        cases, runs,
    }, null, 1) + "\n");
    const dat = cases.map((c) => `"${c.type.toUpperCase()} ${c.threads}t" ` +
        [c.l4lm.prefill_tps, c.llamacpp.prefill_tps, c.l4lm.decode_tps, c.llamacpp.decode_tps]
            .map((x) => (x == null ? "NaN" : x.toFixed(2))).join(" "));
    writeFileSync(`${a.out}/bench.dat`,
        "# case prefill_l4lm prefill_llamacpp decode_l4lm decode_llamacpp (tok/s)\n" + dat.join("\n") + "\n");
}

main().catch((e) => {
    process.stderr.write(`report.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
