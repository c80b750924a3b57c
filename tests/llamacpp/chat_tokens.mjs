// chat_tokens.mjs — llama.cpp's tokens of a rendered chat, for tests/llamacpp_chat.sh.
//
//   node chat_tokens.mjs MODEL.gguf TEXTFILE
//
// Prints two lines of space-separated ids, each with BOS first when the
// vocabulary asks for it (as llama_tokenize with add_special does): the text
// tokenized with special tokens parsed (the chat markers become their
// tokens), then tokenized as plain text.
import { readFileSync } from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

async function main() {
    const [modelPath, textPath] = process.argv.slice(2);
    if (!modelPath || !textPath) throw new Error("usage: node chat_tokens.mjs MODEL TEXTFILE");
    const text = readFileSync(textPath, "utf8");
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error,
    });
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
    for (const special of [true, false])
        process.stdout.write([...bos, ...model.tokenize(text, special)].join(" ") + "\n");
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`chat_tokens.mjs: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
});
