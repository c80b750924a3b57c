// ref.mjs — llama.cpp as the reference: greedy generation with raw top-5 logits.
//
//   node ref.mjs MODEL.gguf "1 2 3" N_GEN [--ctx N] [--kv f32|f16|q8_0] [--fa on|off]
//                [--threads N] [--one-by-one]
//
// Loads MODEL with the prebuilt CPU llama.cpp shipped in node-llama-cpp (never
// builds or downloads anything), evaluates the prompt ids as given (no BOS is
// added), then takes N_GEN greedy steps. Prints one JSON object:
//   {"prompt_ids":[...], "generated_ids":[...], "top5":[[[id,logit],...x5], ...]}
// top5[k] are the five largest raw logits (before softmax) that chose
// generated_ids[k]. Defaults: --ctx 512, --kv f32, --fa off (the closest
// llama.cpp gets to plain fp32 arithmetic), --threads 2. --one-by-one feeds
// the prompt a token at a time, so every product takes llama.cpp's
// matrix-vector path (a batch of prompt tokens may take its matrix-matrix
// kernels, which round F16/BF16 activations differently).
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
    process.stderr.write(`ref.mjs: ${msg}\n` +
        "usage: node ref.mjs MODEL \"ID ID ...\" N_GEN [--ctx N] [--kv f32|f16|q8_0] [--fa on|off]\n" +
        "                    [--threads N] [--one-by-one]\n");
    process.exit(2);
}

function parseArgs(argv) {
    if (argv.length < 3) usage("missing arguments");
    const a = { model: argv[0], ctx: 512, kv: "f32", fa: "off", threads: 2 };
    a.ids = argv[1].trim().split(/\s+/).filter((s) => s.length > 0).map(Number);
    a.nGen = Number(argv[2]);
    if (a.ids.length === 0 || !a.ids.every(Number.isInteger)) usage("bad prompt ids");
    if (!Number.isInteger(a.nGen) || a.nGen < 1) usage("bad N_GEN");
    const valued = { "--ctx": "ctx", "--kv": "kv", "--fa": "fa", "--threads": "threads" };
    for (let i = 3; i < argv.length; i++) {
        const key = valued[argv[i]];
        if (argv[i] === "--one-by-one") a.oneByOne = true;
        else if (!key) usage(`unknown option ${argv[i]}`);
        else if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
        else a[key] = argv[++i];
    }
    a.ctx = Number(a.ctx);
    a.threads = Number(a.threads);
    if (!Number.isInteger(a.ctx) || a.ctx < 1 || !Number.isInteger(a.threads) || a.threads < 1)
        usage("bad --ctx/--threads");
    if (!["f32", "f16", "q8_0"].includes(a.kv) || !["on", "off"].includes(a.fa)) usage("bad --kv/--fa");
    if (a.ids.length + a.nGen > a.ctx) usage("prompt + N_GEN exceeds --ctx");
    return a;
}

// What to ask for after each evaluated token: the greedy choice (no sampler
// options = temperature 0 = argmax) and the top-5 raw logits.
const NEXT = { generateNext: { token: true, logits: { filter: { tokens: [], includeTop: 5 } } } };

function top5(next) {
    if (!next.logits) throw new Error("llama.cpp returned no logits");
    return [...next.logits.entries()].slice(0, 5).map(([id, l]) => [id, l]);
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: a.threads,
    });
    const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
    const kvType = a.kv.toUpperCase(); /* llama.cpp quantises V only with --fa on */
    const context = await model.createContext({
        contextSize: a.ctx, batchSize: Math.min(512, a.ctx), sequences: 1,
        threads: a.threads, flashAttention: a.fa === "on",
        experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType,
    });
    const seq = context.getSequence();
    const input = a.ids.slice(0, -1);
    if (a.oneByOne)
        for (const id of input.splice(0)) await seq.controlledEvaluate([id]);
    input.push([a.ids[a.ids.length - 1], NEXT]);
    let res = await seq.controlledEvaluate(input);
    const out = { prompt_ids: a.ids, generated_ids: [], top5: [] };
    for (let k = 0; ; k++) {
        const next = res[res.length - 1].next;
        out.generated_ids.push(next.token);
        out.top5.push(top5(next));
        if (k + 1 === a.nGen) break;
        res = await seq.controlledEvaluate([[next.token, NEXT]]);
    }
    process.stdout.write(JSON.stringify(out) + "\n");
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`ref.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
