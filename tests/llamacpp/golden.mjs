// golden.mjs — proves the harness: ref.mjs output for stories260K must match
// the stored llama.cpp run (F32 KV cache, no flash attention).
//
//   node golden.mjs REF_OUT.json ../shared/reference/CASE.json
//
// Prints "ok llamacpp_harness: ..." or "FAIL llamacpp_harness: ...".
import { readFileSync } from "node:fs";

const TOL = 1e-4; // same library, same settings: only thread/batch rounding
const out = JSON.parse(readFileSync(process.argv[2], "utf8"));
const gold = JSON.parse(readFileSync(process.argv[3], "utf8")).llamacpp_f32_kv_no_flash_attn;
const steps = gold.top5_logits_first_64_steps;
let worst = 0, why = "";
if (String(out.prompt_ids) !== String(gold.prompt_ids)) why = "prompt ids differ";
if (String(out.generated_ids) !== String(gold.generated_ids.slice(0, out.generated_ids.length)))
    why = "greedy ids differ";
if (out.top5.length < steps.length) why = `only ${out.top5.length} steps, need ${steps.length}`;
steps.forEach((s, k) => s.forEach(([id, logit], j) => {
    if (!out.top5[k]) return;
    if (out.top5[k][j][0] !== id) why = `step ${k}: top-5 order differs`;
    worst = Math.max(worst, Math.abs(out.top5[k][j][1] - logit));
}));
if (!why && worst > TOL) why = `max |dlogit| ${worst} > ${TOL}`;
console.log(why ? `FAIL llamacpp_harness: ${why}` :
    `ok llamacpp_harness: stories260K greedy ids and top-5 logits match the stored llama.cpp ` +
    `run, max |dlogit| ${worst.toExponential(2)} (tol ${TOL})`);
