// report.mjs — `make bench` results: medians, ratios against the native
// llama.cpp anchor, targets and bandwidth from the raw runs of bench/bench.sh.
//
//   node report.mjs RUNS.jsonl OUTDIR --n-layer N --node-baseline-kb KB --load "..."
//        --nice N --bandwidth BW.jsonl --peak PEAK.jsonl --native COMMIT --commit COMMIT
//        --machine "CPU, N cores" --model CASE=FILE.gguf ...
//
// RUNS.jsonl has one line per process: engine (l4lm, native = llama-bench,
// node = node-llama-cpp), case (mkgguf's type, or lq-TYPE for llama-quantize's
// file), threads, rep, phase (both, or prefill / decode for llama-bench), fa
// (llama-bench's flash attention 0/1), peak RSS, process CPU/wall seconds and
// the engine's own output ("run", null when the run failed). BW.jsonl holds
// bench/bwprobe's lines (read GB/s per thread count; the best is kept),
// PEAK.jsonl bench/peakprobe's (GOP/s per kernel, class and thread count).
// Writes OUTDIR/bench.json (everything, raw runs included), OUTDIR/bench.md
// (the tables, also printed) and OUTDIR/bench.dat (gnuplot's input for
// bench/chart.gp).
//
// The anchor per row and phase is the faster of llama-bench's fa 0 / fa 1
// medians. Targets: prefill >= 1.25x the anchor, decode >= 1.0x, and l4lm's
// 1-thread decode >= 85 % of the measured read bandwidth; misses are marked.
// Effective decode bandwidth = bytes of the weights one decode step reads ×
// tokens/s. A step reads every weight matrix except the token embedding, of
// which it reads one row (unless the embedding is also the classifier).
// Prefill arithmetic = multiply-adds per prompt token × 2 ops × tokens/s,
// set against the measured peak of the class the file's layers run in (f32
// for F32/F16 weights, the bf16 dot for BF16 where the CPU has one, as both
// engines then use it, else f32; the int8 dot for quantised ones): every layer
// matrix once per token (q, k, v, o, gate, up, down), attention's QK and PV
// at the positions a causal prompt uses (token i sees i + 1), and the
// classifier once per prompt (both engines compute the last token's logits
// only).
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

const FLOAT_TYPES = new Set([0, 1, 30]); // F32, F16, BF16: their products run in f32

// What the report needs of a file: bytes one decode step reads, multiply-adds
// per prompt token of an n_prompt-token prefill, and the peak class.
async function fileFacts(file, nPrompt) {
    const info = await readGgufFileInfo(file, { sourceType: "filesystem" });
    const tied = !info.tensorInfo.some((t) => t.name === "output.weight");
    let bytes = 0, layerMacs = 0, qDim = 0, nLayer = 0, classifierMacs = 0;
    const layerBytesByType = {};
    for (const t of info.tensorInfo) {
        const size = TYPE_SIZE[t.ggmlType];
        if (!size) throw new Error(`${file}: ${t.name} has GGML type ${t.ggmlType}, unknown here`);
        const dims = t.dimensions.map(Number);
        const n = dims.reduce((a, d) => a * d, 1);
        const rows = t.name === "token_embd.weight" && !tied ? 1 : n / dims[0];
        const tensorBytes = rows * dims[0] / size[1] * size[0];
        bytes += tensorBytes;
        if (t.name.startsWith("blk.") && dims.length >= 2 && dims[1] > 1) {
            layerMacs += n;
            layerBytesByType[t.ggmlType] = (layerBytesByType[t.ggmlType] ?? 0) + tensorBytes;
        }
        if (/^blk\.\d+\.attn_q\.weight$/.test(t.name)) nLayer++, qDim = dims[1];
        if (t.name === (tied ? "token_embd.weight" : "output.weight")) classifierMacs = n;
    }
    const attentionMacs = nLayer * 2 * qDim * (nPrompt + 1) / 2;
    const mainType = Object.entries(layerBytesByType).sort((x, y) => y[1] - x[1])[0]?.[0];
    return {
        bytes, macs: layerMacs + attentionMacs + classifierMacs / nPrompt,
        peakClass: FLOAT_TYPES.has(Number(mainType)) ? "f32" : "i8", bf16: Number(mainType) === 30,
    };
}

function parseArgs(argv) {
    const a = { raw: argv[0], out: argv[1], models: {} };
    for (let i = 2; i + 1 < argv.length; i += 2) {
        if (argv[i] === "--model") {
            const [name, file] = argv[i + 1].split("=");
            a.models[name] = file;
        } else a[argv[i].slice(2).replace(/-/g, "_")] = argv[i + 1];
    }
    return a;
}

const TARGET = { prefill: 1.25, decode: 1.0, bandwidth: 0.85 };

const readLines = (file) => readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

function median(xs) {
    const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
    if (s.length === 0) return null;
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const cpuPerWall = (r) => (r.process_wall_s > 0 ? r.process_cpu_s / r.process_wall_s : NaN);

// Medians of some runs: f picks the tok/s of a run that worked.
function summarise(runs, f) {
    const ok = runs.filter((r) => r.run);
    return {
        runs: runs.length, failed: runs.length - ok.length, tps: median(ok.map(f)),
        cpu_per_wall: median(runs.map(cpuPerWall)), rss_mb: median(runs.map((r) => r.rss_kb / 1024)),
    };
}

// One row: a file at a thread count, every engine and phase.
function buildCase(mine, facts, bw, peaks, threads) {
    const bytes = facts.bytes;
    const by = (e, ph, fa) => mine.filter((r) => r.engine === e && (ph == null || r.phase === ph) &&
        (fa == null || r.fa === fa));
    const c = {};
    for (const phase of ["prefill", "decode"]) {
        const key = `${phase}_tps`;
        const l4lm = summarise(by("l4lm"), (r) => r.run[key]);
        const node = summarise(by("node"), (r) => r.run[key]);
        const fa = [0, 1].map((f) => summarise(by("native", phase, f), (r) => r.run.avg_ts));
        const best = fa[1].tps != null && (fa[0].tps == null || fa[1].tps > fa[0].tps) ? 1 : 0;
        const ratio = l4lm.tps != null && fa[best].tps ? l4lm.tps / fa[best].tps : null;
        c[phase] = {
            l4lm, native_fa0: fa[0], native_fa1: fa[1], node, anchor_fa: fa[best].tps == null ? null : best,
            anchor_tps: fa[best].tps, ratio, target: TARGET[phase],
            miss: ratio == null || ratio < TARGET[phase],
        };
    }
    const p = c.prefill;
    const gops = (t) => (t ? (2 * facts.macs * t) / 1e9 : null);
    // Both engines multiply BF16 weights with the CPU's bf16 dot where it has one.
    const peakClass = facts.bf16 && peaks[threads]?.bf16 ? "bf16" : facts.peakClass;
    const peak = peaks[threads]?.[peakClass] ?? null;
    const ofPeak = (g) => (g != null && peak ? g / peak.gops : null);
    p.macs_per_token = facts.macs;
    p.l4lm_gops = gops(p.l4lm.tps);
    p.anchor_gops = gops(p.anchor_tps);
    p.peak_class = peakClass;
    p.peak_gops = peak && peak.gops;
    p.peak_kernel = peak && peak.kernel;
    p.l4lm_of_peak = ofPeak(p.l4lm_gops);
    p.anchor_of_peak = ofPeak(p.anchor_gops);
    p.target_of_peak = ofPeak(p.anchor_gops && p.anchor_gops * TARGET.prefill);
    const d = c.decode;
    const gbps = (t) => (t ? (bytes * t) / 1e9 : null);
    d.l4lm_gbps = gbps(d.l4lm.tps);
    d.anchor_gbps = gbps(d.anchor_tps);
    d.read_gbps = bw[threads]?.read_gbps ?? null;
    d.read_gbps_4k = bw[threads]?.read_gbps_4k || null; // what a mapped file's pages get
    d.l4lm_of_read = d.l4lm_gbps != null && d.read_gbps ? d.l4lm_gbps / d.read_gbps : null;
    d.bandwidth_miss = threads === 1 && (d.l4lm_of_read == null || d.l4lm_of_read < TARGET.bandwidth);
    // llama.cpp's threads spin while they wait, so its CPU / wall time is the
    // CPU the machine gave (the whole process: loading too, small at 22
    // layers). One starved run can pick the wrong flash-attention anchor, so
    // the row's least counts.
    const nat = by("native").map(cpuPerWall).filter(Number.isFinite);
    c.native_min_cpu_per_wall = nat.length ? Math.min(...nat) : null;
    c.starved = c.native_min_cpu_per_wall != null && c.native_min_cpu_per_wall < 0.75 * threads;
    return c;
}

const fix = (x, d) => (x == null ? "-" : x.toFixed(d));
const label = (name) => (name.startsWith("lq-") ? `${name.slice(3).toUpperCase()} lq` : name.toUpperCase());
const miss = (m) => (m ? " ✗" : "");
// The two llama-bench columns, the anchor (the faster) in bold.
const faCols = (p, d) => [p.native_fa0, p.native_fa1].map((s, f) =>
    (p.anchor_fa === f ? `**${fix(s.tps, d)}**` : fix(s.tps, d)));
const cpus = (p, nodeOn) => [p.l4lm.cpu_per_wall, p.native_fa0.cpu_per_wall, p.native_fa1.cpu_per_wall,
    ...(nodeOn ? [p.node.cpu_per_wall] : [])].map((x) => fix(x, 2)).join(" / ");

const CLASS_NAME = { f32: "f32", i8: "int8 dot", bf16: "bf16 dot" };
const pct = (x) => (x == null ? "-" : `${Math.round(100 * x)} %`);
const plural = (t) => `${t} thread${t > 1 ? "s" : ""}`;

// "1 thread: f32 212 GOP/s (fma 512-bit), ...; 2 threads: ..."
function peakNote(peaks) {
    const parts = Object.keys(peaks).map((t) => `${plural(t)}: ` + Object.entries(peaks[t])
        .map(([cls, p]) => `${CLASS_NAME[cls] ?? cls} ${fix(p.gops, 0)} GOP/s (${p.kernel})`).join(", "));
    return parts.length ? parts.join("; ") : "not measured";
}

function bwNote(bw) {
    const parts = Object.keys(bw).map((t) => `${plural(t)} ${fix(bw[t].read_gbps, 1)} GB/s (${bw[t].how}; ` +
        `on 4 KiB pages ${fix(bw[t].read_gbps_4k, 1)}, the first probe's plain loop ${fix(bw[t].plain_gbps, 1)})`);
    return parts.length ? parts.join(", ") : "not measured";
}

function tables(cases, a, nodeOn) {
    const nodeH = nodeOn ? " node |" : "";
    const nodeV = (s, d) => (nodeOn ? ` ${fix(s.tps, d)} |` : "");
    const row0 = (c) => `| ${label(c.name)} | ${c.threads}${c.starved ? "*" : ""} |`;
    const ph = (h) => [h, h.replace(/[^|]+/g, "---")];
    const cpuH = `CPU/wall l4lm / fa0 / fa1${nodeOn ? " / node" : ""}`;
    const pre = ph(`| file | thr | l4lm | native fa0 | native fa1 |${nodeH} l4lm / native (≥ ${TARGET.prefill}) | ` +
        `${cpuH} | RSS MB l4lm / native${nodeOn ? " / node" : ""} |`);
    const preRows = cases.map((c) => { const p = c.prefill; return `${row0(c)} ${fix(p.l4lm.tps, 1)} | ` +
        `${faCols(p, 1).join(" | ")} |${nodeV(p.node, 1)} ${fix(p.ratio, 2)}${miss(p.miss)} | ${cpus(p, nodeOn)} | ` +
        [p.l4lm.rss_mb, median([p.native_fa0.rss_mb, p.native_fa1.rss_mb]), ...(nodeOn ? [p.node.rss_mb] : [])]
            .map((x) => fix(x, 0)).join(" / ") + " |"; });
    const dec = ph(`| file | thr | l4lm | native fa0 | native fa1 |${nodeH} l4lm / native (≥ ${TARGET.decode}) | ` +
        `GB/s l4lm | GB/s native | read GB/s | l4lm / read (1t ≥ ${TARGET.bandwidth}) | ${cpuH} |`);
    const decRows = cases.map((c) => { const d = c.decode; return `${row0(c)} ${fix(d.l4lm.tps, 2)} | ` +
        `${faCols(d, 2).join(" | ")} |${nodeV(d.node, 2)} ${fix(d.ratio, 2)}${miss(d.miss)} | ` +
        `${fix(d.l4lm_gbps, 1)} | ${fix(d.anchor_gbps, 1)} | ${fix(d.read_gbps, 1)} | ` +
        `${fix(d.l4lm_of_read, 2)}${miss(d.bandwidth_miss)} | ${cpus(d, nodeOn)} |`; });
    const ari = ph(`| file | thr | mul-adds / token (M) | GOP/s l4lm | GOP/s native | peak GOP/s | ` +
        `l4lm / peak | native / peak | ${TARGET.prefill}× native needs |`);
    const ariRows = cases.map((c) => { const p = c.prefill; return `${row0(c)} ${fix(p.macs_per_token / 1e6, 1)} | ` +
        `${fix(p.l4lm_gops, 1)} | ${fix(p.anchor_gops, 1)} | ${fix(p.peak_gops, 0)} ${CLASS_NAME[p.peak_class]} | ` +
        `${pct(p.l4lm_of_peak)} | ${pct(p.anchor_of_peak)} | ${pct(p.target_of_peak)} |`; });
    const n = cases[0].prefill.l4lm.runs;
    return [
        `Run ${a.date} on ${a.machine}, l4lm commit ${a.commit}. ` +
        `TinyLlama-1.1B shape, ${a.n_layer} layers, random weights; prefill ${a.n_prompt} tokens (one batch), ` +
        `decode ${a.n_gen} tokens after a ${a.n_prompt}-token prompt; F16 KV cache; tok/s medians of ${n} ` +
        `interleaved run${n > 1 ? "s" : ""}${n < 3 ? " (fewer than 3: a check of the harness, not a measurement)" : ""}, ` +
        "each a fresh process. native = llama.cpp's llama-bench built with GGML_NATIVE from " +
        `the source in node-llama-cpp (commit ${a.native}), flash attention off (fa0) / on (fa1); the faster ` +
        "(bold) is the anchor of the ratios. l4lm and llama-bench each run one untimed warm-up" +
        (nodeOn ? "; node = the prebuilt library in npm node-llama-cpp, no warm-up." : ".") +
        " Files: mkgguf's pure files (every matrix in the one type; Q4_K_M mixed as llama.cpp mixes it) and " +
        "llama.cpp's llama-quantize files from mkgguf's F16 (lq). ✗ = target missed.",
        "", "Prefill, tok/s:", "", ...pre, ...preRows, "",
        "Prefill arithmetic (GOP/s = 2 × multiply-adds per token × tok/s, native = the anchor; peak = " +
        "bench/peakprobe's best for the class the file's layers run in: f32 for F16 weights, the bf16 dot " +
        "for BF16 ones where the CPU has it (both engines use it), the " +
        `int8 dot for quantised ones, a loose ceiling there: unpacking and the per-block scales cost on top; ` +
        `the last column is what ${TARGET.prefill}× the anchor would take):`,
        "", ...ari, ...ariRows, "", "Decode, tok/s:", "", ...dec, ...decRows, "",
        `Multiply-adds per prompt token: every layer matrix once, attention's QK and PV at the positions ` +
        `a causal ${a.n_prompt}-token prompt uses, the classifier once per prompt (both engines compute ` +
        `the last token's logits only). Peaks (bench/peakprobe, many independent chains in registers, ` +
        `the best of 5 passes timed by the threads' CPU time): ${peakNote(a.peaks)}.`, "",
        `read GB/s: bench/bwprobe, the best of its ways to read (load width, independent streams, software ` +
        `prefetch, page size) streaming a ${a.bw_mib} MiB buffer, before and after the runs: ${bwNote(a.bw)}. ` +
        "GB/s = bytes of weights one decode step reads × tok/s. CPU/wall: process CPU time / wall time " +
        "(whole process, loading included)." +
        (nodeOn ? ` node RSS includes node itself: ${fix(a.node_baseline_kb / 1024, 0)} MB with ` +
            "node-llama-cpp loaded and no model." : "") +
        ` Load average before / after: ${a.load}.`,
        ...misses(cases),
        ...failures(cases),
        ...(cases.some((c) => c.starved) ? ["", "* starved: llama-bench's threads spin while they wait, so " +
            "its CPU / wall time is the CPU the machine gave; in one of its runs it was under 3/4 of the " +
            "thread count. Another session was busy (Linux autogroup splits the CPU per session, so nice " +
            "does not help): these rows do not measure the engines."] : []),
    ].join("\n") + "\n";
}

// A line naming the rows that miss a target, each with what explains it:
// how much of the peak l4lm's prefill uses and how much the target would.
function misses(cases) {
    const out = [];
    for (const c of cases) {
        const row = `${label(c.name)} ${c.threads}t`, p = c.prefill, d = c.decode;
        if (p.miss) out.push(`${row} prefill ${fix(p.ratio, 2)}×: l4lm at ${pct(p.l4lm_of_peak)} of the ` +
            `${CLASS_NAME[p.peak_class]} peak, the anchor at ${pct(p.anchor_of_peak)}; ${TARGET.prefill}× needs ` +
            `${pct(p.target_of_peak)}`);
        if (d.miss) out.push(`${row} decode ${fix(d.ratio, 2)}×`);
        if (d.bandwidth_miss) out.push(`${row} decode reads ${fix(d.l4lm_gbps, 1)} GB/s, ${pct(d.l4lm_of_read)} ` +
            `of the read bandwidth` + (d.read_gbps_4k && d.l4lm_gbps != null ? ` (${pct(d.l4lm_gbps / d.read_gbps_4k)} ` +
            `of the best on 4 KiB pages)` : ""));
    }
    return out.length ? ["", "Targets missed:", "", ...out.map((l) => `- ${l}`)] : ["", "Every target met."];
}

// A line naming the rows with failed runs (their medians use the others).
function failures(cases) {
    const bad = [];
    for (const c of cases)
        for (const ph of ["prefill", "decode"])
            for (const e of ["l4lm", "native_fa0", "native_fa1", "node"])
                if (c[ph][e].failed) bad.push(`${label(c.name)} ${c.threads}t ${e.startsWith("native") ? `${ph} ` : ""}${e} ×${c[ph][e].failed}`);
    return bad.length ? ["", `Failed runs (see bench.json): ${[...new Set(bad)].join(", ")}.`] : [];
}

// llama-bench prints its whole configuration; bench.json keeps it once.
const NATIVE_KEYS = ["n_prompt", "n_gen", "n_depth", "n_threads", "flash_attn", "type_k", "type_v", "avg_ts"];
function trimRun(r) {
    if (r.engine !== "native" || !r.run) return r;
    return { ...r, run: Object.fromEntries(NATIVE_KEYS.map((k) => [k, r.run[k]])) };
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const runs = readLines(a.raw);
    // The best line of bwprobe per thread count (it runs before and after),
    // and the best kernel of peakprobe per thread count and class.
    const bw = {};
    for (const b of readLines(a.bandwidth)) {
        a.bw_mib = b.buffer_mib;
        const keep = bw[b.threads];
        bw[b.threads] = {
            read_gbps: Math.max(keep?.read_gbps ?? 0, b.read_gbps),
            how: keep && keep.read_gbps >= b.read_gbps ? keep.how : b.how ?? "?",
            read_gbps_4k: Math.max(keep?.read_gbps_4k ?? 0, b.read_gbps_4k ?? 0),
            plain_gbps: Math.max(keep?.plain_gbps ?? 0, b.plain_gbps ?? 0),
        };
    }
    const peaks = {};
    for (const k of a.peak ? readLines(a.peak) : []) {
        const byClass = (peaks[k.threads] ??= {});
        if (!byClass[k.class] || k.gops > byClass[k.class].gops) byClass[k.class] = { gops: k.gops, kernel: k.kernel };
    }
    a.bw = bw;
    a.peaks = peaks;
    a.date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const nodeOn = runs.some((r) => r.engine === "node");
    const l4lmRun = runs.find((r) => r.engine === "l4lm" && r.run);
    a.n_prompt = l4lmRun ? l4lmRun.run.n_prompt : 128;
    a.n_gen = l4lmRun ? l4lmRun.run.n_gen : 64;
    const keys = [...new Set(runs.map((r) => `${r.case} ${r.threads}`))];
    const cases = [];
    for (const key of keys) {
        const [name, threads] = key.split(" ");
        const mine = runs.filter((r) => `${r.case} ${r.threads}` === key);
        const facts = await fileFacts(a.models[name], a.n_prompt);
        cases.push({ name, threads: Number(threads), weight_bytes_per_token: facts.bytes,
            ...buildCase(mine, facts, bw, peaks, Number(threads)) });
    }
    const md = tables(cases, a, nodeOn);
    process.stdout.write(md);
    writeFileSync(`${a.out}/bench.md`, md);
    const nativeRun = runs.find((r) => r.engine === "native" && r.run);
    const nodeRun = runs.find((r) => r.engine === "node" && r.run);
    writeFileSync(`${a.out}/bench.json`, JSON.stringify({
        date: new Date().toISOString(), machine: a.machine, commit: a.commit, n_layer: Number(a.n_layer),
        nice: Number(a.nice), load_average_before_after: a.load, read: bw, peaks, targets: TARGET,
        files: a.models,
        native_config: nativeRun && nativeRun.run, node_baseline_rss_mb: a.node_baseline_kb / 1024,
        node_config: nodeRun && {
            batch_size: nodeRun.run.batch_size, context_size: nodeRun.run.context_size,
            flash_attention_option: nodeRun.run.flash_attention_option, cpu_variant: nodeRun.run.cpu_variant,
            llama_log: nodeRun.run.llama_log,
        },
        cases, runs: runs.map(trimRun),
    }, null, 1) + "\n");
    const dat = cases.map((c) => `"${label(c.name)} ${c.threads}t" ` +
        [c.prefill.l4lm.tps, c.prefill.anchor_tps, c.prefill.node.tps,
            c.decode.l4lm.tps, c.decode.anchor_tps, c.decode.node.tps]
            .map((x) => (x == null ? "NaN" : x.toFixed(2))).join(" "));
    writeFileSync(`${a.out}/bench.dat`, "# case prefill: l4lm native node; decode: l4lm native node (tok/s)\n" +
        dat.join("\n") + "\n");
}

main().catch((e) => {
    process.stderr.write(`report.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
