// grammar.mjs — llama.cpp's verdict on strings under a GBNF grammar, as
// tools/grammar_verdict.c gives l4lm's (tests/llamacpp_grammar.sh compares).
//
//   node grammar.mjs MODEL.gguf GRAMMAR.gbnf STRINGS OUT [GRAMMAR STRINGS OUT ...]
//
// MODEL must have SentencePiece byte tokens <0x00>..<0xFF> (stories260K):
// each byte of a string is fed as its byte token to llama.cpp's grammar
// (LlamaGrammarEvaluationState with the sampler's canBeNextToken / accept,
// the checks llama.cpp's grammar sampler makes), and at the end the EOS
// token asks whether the text is complete. OUT gets one line per string, the
// format of grammar_verdict: "accept", "prefix" or "reject N" (N: the first byte
// refused), or the single line "error" when llama.cpp refuses the grammar. STRINGS lines use the escapes \n \t \\ \xHH; empty lines are skipped.
import { readFileSync, writeFileSync } from "node:fs";
import { getLlama, LlamaLogLevel, LlamaGrammarEvaluationState } from "node-llama-cpp";

function unescape(line) {
    const out = [];
    for (let i = 0; i < line.length; i++) {
        const c = line[i], n = line[i + 1];
        if (c === "\\" && n === "n") { out.push(10); i++; }
        else if (c === "\\" && n === "t") { out.push(9); i++; }
        else if (c === "\\" && n === "\\") { out.push(92); i++; }
        else if (c === "\\" && n === "x" && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
            out.push(parseInt(line.slice(i + 2, i + 4), 16));
            i += 3;
        } else out.push(...Buffer.from(c, "utf8"));
    }
    return out;
}

// The verdicts on every line of stringsPath, a line each.
async function verdicts(llama, model, byteTok, eos, grammarPath, stringsPath) {
    let grammar;
    try {
        grammar = await llama.createGrammar({ grammar: readFileSync(grammarPath, "utf8") });
    } catch (e) {
        return "error\n"; // llama.cpp refuses the grammar
    }
    const S = llama._bindings.AddonSampler;
    const lines = readFileSync(stringsPath, "utf8").split("\n").filter((l) => l.length > 0);
    let out = "";
    for (const line of lines) {
        const state = new LlamaGrammarEvaluationState({ model, grammar });
        const bytes = unescape(line);
        let verdict = null;
        for (let i = 0; i < bytes.length && verdict === null; i++) {
            const t = byteTok[bytes[i]];
            if (!S.canBeNextTokenForGrammarEvaluationState(state._state, t)) verdict = `reject ${i}`;
            else S.acceptGrammarEvaluationStateToken(state._state, t);
        }
        if (verdict === null)
            verdict = S.canBeNextTokenForGrammarEvaluationState(state._state, eos) ? "accept" : "prefix";
        out += verdict + "\n";
    }
    return out;
}

async function main() {
    const [modelPath, ...jobs] = process.argv.slice(2);
    if (jobs.length === 0 || jobs.length % 3)
        throw new Error("usage: node grammar.mjs MODEL GRAMMAR STRINGS OUT [...]");
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error, maxThreads: 1,
    });
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    // The byte tokens: ids 3..258 after <unk> <s> </s> in a llama2.c
    // vocabulary, checked on the printable ones.
    const byteTok = new Array(256);
    for (let b = 0; b < 256; b++) {
        const t = 3 + b;
        const text = model.detokenize([t], true);
        if (b >= 0x21 && b < 0x7f && text !== String.fromCharCode(b))
            throw new Error(`token ${t} is "${text}", not byte ${b}`);
        byteTok[b] = t;
    }
    const eos = model.tokens.eos;
    for (let j = 0; j < jobs.length; j += 3)
        writeFileSync(jobs[j + 2], await verdicts(llama, model, byteTok, eos, jobs[j], jobs[j + 1]));
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`grammar.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
