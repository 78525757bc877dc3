// Reference ids for test cases, with Hugging Face's own tokenizers (npm tokenizers@0.23.2).
// usage: node encode.mjs TOKENIZER_JSON < cases.jsonl > golden.jsonl   (input lines: {"id", "text"})
import { createRequire } from 'node:module';
import readline from 'node:readline';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const tok = Tokenizer.fromFile(process.argv[2]);
for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  const { id, text } = JSON.parse(line);
  const enc = await tok.encode(text, null, { addSpecialTokens: false });
  if ((await tok.decode(enc.getIds(), false)) !== text) throw new Error('round-trip failed: ' + id);
  console.log(JSON.stringify({ id, text, ids: enc.getIds() }));
}
