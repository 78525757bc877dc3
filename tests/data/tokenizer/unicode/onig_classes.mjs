// Dump, per class, the code points the reference (Oniguruma in HF tokenizers) puts in it.
import { createRequire } from 'node:module';
import fs from 'node:fs';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
// usage: node onig_classes.mjs [TOKENIZER_JSON]  (default: ../tokenizer.json) -> onig_classes.json
const base = JSON.parse(fs.readFileSync(process.argv[2] ?? new URL('../tokenizer.json', import.meta.url), 'utf8'));
const classes = { L: '\\p{L}', M: '\\p{M}', N: '\\p{N}', P: '\\p{P}', S: '\\p{S}', s: '\\s' };
const out = {};
for (const [name, rx] of Object.entries(classes)) {
  const j = { ...base, added_tokens: [], pre_tokenizer: { type: 'Split', pattern: { Regex: rx }, behavior: 'Removed', invert: false } };
  const tok = Tokenizer.fromString(JSON.stringify(j));
  const pt = tok.getPreTokenizer();
  const members = [];
  for (let start = 0; start < 0x110000; start += 0x10000) {
    let s = '';
    const cps = [];
    for (let c = start; c < start + 0x10000; c++) { if (c >= 0xd800 && c <= 0xdfff) continue; s += String.fromCodePoint(c); cps.push(c); }
    const kept = new Set();
    for (const [piece] of pt.preTokenizeString(s)) for (const ch of piece) kept.add(ch.codePointAt(0));
    for (const c of cps) if (!kept.has(c)) members.push(c);
  }
  out[name] = members;
  console.error(name, members.length);
}
fs.writeFileSync('onig_classes.json', JSON.stringify(out));
