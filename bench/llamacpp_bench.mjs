// llamacpp_bench.mjs — one timed llama.cpp run for `make bench` (bench/bench.sh).
//
//   node llamacpp_bench.mjs MODEL.gguf "ID ID ..." N_GEN [--threads N] [--ctx N]
//   node llamacpp_bench.mjs --baseline
//
// Loads MODEL with the prebuilt CPU llama.cpp in node-llama-cpp (installed for
// the cross-check tests under tests/llamacpp; never builds or downloads),
// evaluates the prompt ids as one batch (prefill, no BOS added), then decodes
// N_GEN greedy tokens one evaluation at a time, like `l4lm run --temp 0`.
// Everything else is left at llama.cpp's / node-llama-cpp's defaults: F16 KV
// cache, flash attention "auto", batch size = min(512, ctx), mmap, weight
// repacking. Prints one JSON line: speeds, CPU time / wall time of each phase
// (proves the thread count is real), and the llama.cpp log lines that say
// what the defaults resolved to.
//
// --baseline loads the package and the CPU backend but no model, so its peak
// RSS is what node itself costs before llama.cpp holds any weights.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(new URL("../tests/llamacpp/package.json", import.meta.url));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(require.resolve("node-llama-cpp")));

function usage(msg) {
    process.stderr.write(`llamacpp_bench.mjs: ${msg}\n` +
        "usage: node llamacpp_bench.mjs MODEL \"ID ID ...\" N_GEN [--threads N] [--ctx N]\n" +
        "       node llamacpp_bench.mjs --baseline\n");
    process.exit(2);
}

function parseArgs(argv) {
    if (argv[0] === "--baseline") return { baseline: true, threads: 1 };
    if (argv.length < 3) usage("missing arguments");
    const a = { model: argv[0], threads: 1, ctx: 512 };
    a.ids = argv[1].trim().split(/\s+/).map(Number);
    a.nGen = Number(argv[2]);
    for (let i = 3; i + 1 < argv.length; i += 2) {
        if (argv[i] === "--threads") a.threads = Number(argv[i + 1]);
        else if (argv[i] === "--ctx") a.ctx = Number(argv[i + 1]);
        else usage(`unknown option ${argv[i]}`);
    }
    if ((argv.length - 3) % 2) usage(`${argv[argv.length - 1]} needs a value`);
    const ints = [a.threads, a.ctx, a.nGen, ...a.ids];
    if (!ints.every((v) => Number.isInteger(v) && v >= 0) || a.threads < 1 || a.nGen < 1)
        usage("bad ids, N_GEN, --threads or --ctx");
    if (a.ids.length + a.nGen > a.ctx) usage("prompt + N_GEN exceeds --ctx");
    return a;
}

// llama.cpp log lines worth keeping: how the defaults resolved.
const KEEP = /flash_attn|Flash Attention|n_batch|n_ubatch|type_k|type_v|REPACK|buffer size|n_threads/i;

// Which of the prebuilt CPU variants (sse42 ... zen4) the loader picked.
function cpuVariant() {
    const m = readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/);
    return m ? m[0] : null;
}

// Threads of this process now (node's own plus ggml's compute workers).
const nThreads = () => readdirSync("/proc/self/task").length;

// Wall seconds and CPU seconds (all threads of this process) of an async
// step, and the most threads seen beyond those alive before it: ggml starts
// threads-1 workers for each graph it computes, so this shows the thread
// count really used even when a shared machine starves the process of CPU.
async function timed(fn) {
    const before = nThreads();
    let peak = before;
    const probe = setInterval(() => { peak = Math.max(peak, nThreads()); }, 5);
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    const value = await fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    clearInterval(probe);
    return { value, wall, cpu: (c.user + c.system) / 1e6, extra: peak - before };
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const log = [];
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, maxThreads: a.threads, logLevel: LlamaLogLevel.info,
        logger: (level, msg) => { if (KEEP.test(msg)) log.push(msg.trim()); },
    });
    if (a.baseline) {
        process.stdout.write(JSON.stringify({ baseline: true }) + "\n");
        await llama.dispose();
        return;
    }
    const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: a.ctx, sequences: 1, threads: a.threads });
    const seq = context.getSequence();
    const NEXT = { generateNext: { token: true } };
    const prompt = a.ids.slice(0, -1).concat([[a.ids[a.ids.length - 1], NEXT]]);
    const pre = await timed(() => seq.controlledEvaluate(prompt));
    let tok = pre.value[pre.value.length - 1].next.token;
    const generated = [];
    const dec = await timed(async () => {
        for (let k = 0; k < a.nGen; k++) {
            const res = await seq.controlledEvaluate([[tok, NEXT]]);
            generated.push(tok);
            tok = res[0].next.token;
        }
    });
    process.stdout.write(JSON.stringify({
        n_prompt: a.ids.length, n_gen: a.nGen,
        prefill_tps: a.ids.length / pre.wall, decode_tps: a.nGen / dec.wall,
        prefill_cpu_per_wall: pre.cpu / pre.wall, decode_cpu_per_wall: dec.cpu / dec.wall,
        prefill_extra_threads: pre.extra, decode_extra_threads: dec.extra,
        threads: context.currentThreads, context_size: context.contextSize,
        batch_size: context.batchSize, flash_attention_option: context.flashAttention,
        cpu_variant: cpuVariant(),
        generated_ids: generated, llama_log: log,
    }) + "\n");
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`llamacpp_bench.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
