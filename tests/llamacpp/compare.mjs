// compare.mjs — run l4lm and judge its greedy steps against llama.cpp's.
//
//   node compare.mjs NAME REF.json TOL L4LM_COMMAND...
//
// REF.json is ref.mjs output. L4LM_COMMAND (e.g. `build/l4lm logits -m M
// --ctx 256 --kv f32`) gets `--ids "..." -n N` appended and must print lines
// "step K id ID top5 ID:LOGIT ...". Prints one line, "ok NAME: ..." or
// "FAIL NAME: ...", and exits 0 either way (tests/run.sh counts the lines).
//
// Rules for every step:
//  * every id in both top-5 lists: |logit difference| <= TOL;
//  * an id in only one list must be a legitimate 5th/6th-place swap: its
//    logit may exceed the other list's 5th logit by at most TOL;
//  * the greedy tokens are equal, or the step is a near-tie: l4lm's choice is
//    within TOL of llama.cpp's best in llama.cpp's own logits. After a
//    near-tie l4lm is restarted on llama.cpp's tokens so far (teacher forcing),
//    so all steps are still compared at the same positions and histories.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const [name, refPath, tolText, ...l4lmCmd] = process.argv.slice(2);
const tol = Number(tolText);

function parseSteps(text) {
    const steps = [];
    for (const line of text.split("\n")) {
        const m = /^step (\d+) id (\d+) top5((?: \d+:\S+)+)\s*$/.exec(line);
        if (!m) continue;
        if (Number(m[1]) !== steps.length) throw new Error(`l4lm step ${m[1]} out of order`);
        const top5 = m[3].trim().split(" ").map((p) => p.split(":").map(Number));
        steps.push({ id: Number(m[2]), top5 });
    }
    return steps;
}

function runL4lm(ids, n) {
    const [cmd, ...args] = l4lmCmd;
    const out = execFileSync(cmd, [...args, "--ids", ids.join(" "), "-n", String(n)],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
    const steps = parseSteps(out);
    if (steps.length !== n) throw new Error(`l4lm printed ${steps.length} steps, expected ${n}`);
    return steps;
}

// One step's top-5 lists: the largest difference, or why they disagree.
function compareTop5(a, b) {
    const ma = new Map(a), mb = new Map(b);
    let worst = 0;
    for (const [id, la] of a)
        if (mb.has(id)) worst = Math.max(worst, Math.abs(la - mb.get(id)));
    for (const [x, other, otherMap] of [[a, b, mb], [b, a, ma]]) {
        const fifth = other[other.length - 1][1];
        for (const [id, l] of x)
            if (!otherMap.has(id) && l > fifth + tol)
                return `id ${id} (logit ${l}) is in one top-5 only, above the other's 5th (${fifth})`;
    }
    return worst;
}

function judge() {
    const ref = JSON.parse(readFileSync(refPath, "utf8"));
    const n = ref.generated_ids.length;
    let worst = 0, worstStep = 0, ties = 0;
    for (let k = 0; k < n;) {
        const steps = runL4lm(ref.prompt_ids.concat(ref.generated_ids.slice(0, k)), n - k);
        for (const s of steps) {
            const r = ref.top5[k];
            const d = compareTop5(r, s.top5);
            if (typeof d === "string") return `FAIL ${name}: step ${k}: ${d}`;
            if (d > tol) return `FAIL ${name}: step ${k}: |dlogit| ${d.toExponential(3)} > tol ${tol}`;
            if (d > worst) [worst, worstStep] = [d, k];
            k++;
            if (s.id === ref.generated_ids[k - 1]) continue;
            const mine = r.find(([id]) => id === s.id);
            const gap = mine ? r[0][1] - mine[1] : Infinity;
            if (gap > tol)
                return `FAIL ${name}: step ${k - 1}: l4lm chose ${s.id}, llama.cpp ${r[0][0]} ` +
                    `(llama.cpp logit gap ${gap.toFixed(6)} > tol ${tol})`;
            ties++;
            break; /* resume l4lm on llama.cpp's tokens */
        }
    }
    return `ok ${name}: ${n - ties}/${n} greedy tokens equal` +
        (ties ? ` (${ties} near-tie${ties > 1 ? "s" : ""} within tol, re-synced)` : "") +
        `, max |dlogit| ${worst.toExponential(2)} at step ${worstStep} (tol ${tol})`;
}

let line;
try {
    line = judge();
} catch (e) {
    const err = e.stderr ? String(e.stderr).trim().slice(0, 300) : e.message;
    line = `FAIL ${name}: ${err}`;
}
console.log(line);
