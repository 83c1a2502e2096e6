/*
 * encoder.c: an encoder's configuration and weights found in a GGUF file,
 * and the weight conversions every backend uses (encoder.h).
 */
#include <stdio.h>
#include <string.h>

#include "embed/encoder.h"

#include "base/banned.h"

/* ---- element conversions ------------------------------------------------ */

float enc_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
	if (e == 0) {
		if (m == 0) {
			x = sign;
		} else { /* subnormal: normalise */
			e = 127 - 15 + 1;
			while (!(m & 0x400)) {
				m <<= 1;
				e--;
			}
			x = sign | (e << 23) | ((m & 0x3ff) << 13);
		}
	} else if (e == 31) {
		x = sign | 0x7f800000u | (m << 13);
	} else {
		x = sign | ((e + 127 - 15) << 23) | (m << 13);
	}
	float f;
	memcpy(&f, &x, sizeof(f));
	return f;
}

uint16_t enc_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof(x));
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;
	if (ax >= 0x7f800000u) /* inf, nan */
		return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
	if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
		if (ax < 0x33000000u)
			return (uint16_t)sign;
		uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e; /* 14..24 */
		uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rest > half || (rest == half && (h & 1)))
			h++;
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((ax >> 13) - ((127 - 15) << 10));
	uint32_t rest = ax & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

static float bf16_to_f32(uint16_t b)
{
	uint32_t x = (uint32_t)b << 16;
	float f;
	memcpy(&f, &x, sizeof(f));
	return f;
}

#define Q8_0_BLOCK 32
#define Q8_0_BYTES 34 /* a half scale, then 32 signed bytes */

void enc_tensor_f32(const struct enc_tensor *t, uint64_t first, uint64_t n, float *out)
{
	const unsigned char *p = t->data;
	switch (t->type) {
	case GGUF_GGML_F32:
		memcpy(out, p + first * 4, n * 4);
		break;
	case GGUF_GGML_F16:
	case GGUF_GGML_BF16: {
		float (*conv)(uint16_t) = t->type == GGUF_GGML_F16 ? enc_f16_to_f32 : bf16_to_f32;
		for (uint64_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + (first + i) * 2, 2);
			out[i] = conv(h);
		}
		break;
	}
	case GGUF_GGML_Q8_0:
		BASE_ASSERT(first % Q8_0_BLOCK == 0);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t j = first + i;
			const unsigned char *blk = p + (j / Q8_0_BLOCK) * Q8_0_BYTES;
			uint16_t d;
			memcpy(&d, blk, 2);
			out[i] = enc_f16_to_f32(d) * (float)(int8_t)blk[2 + j % Q8_0_BLOCK];
		}
		break;
	default:
		BASE_ASSERT(!"enc_tensor_f32: a type enc_model_load refuses");
	}
}

/* ---- loading ------------------------------------------------------------- */

static bool type_ok(uint32_t type)
{
	return type == GGUF_GGML_F32 || type == GGUF_GGML_F16 || type == GGUF_GGML_BF16 || type == GGUF_GGML_Q8_0;
}

/*
 * Find a tensor and check its shape: ne1 = 0 means a vector of ne0.
 * Optional tensors that are absent leave t->data NULL.
 */
static int tensor(const struct gguf *g, const char *name, uint64_t ne0, uint64_t ne1, bool optional,
		  struct enc_tensor *t, struct base_err *err)
{
	memset(t, 0, sizeof(*t));
	const struct gguf_tensor *gt = gguf_find_tensor(g, name);
	if (!gt) {
		if (optional)
			return BASE_OK;
		return base_err_set(err, BASE_E_PARSE, "%s: tensor '%s' is missing", gguf_name(g), name);
	}
	bool vec = ne1 == 0;
	uint64_t want1 = vec ? 1 : ne1;
	if (gt->ne[0] != ne0 || gt->ne[1] != want1 || gt->ne[2] != 1 || gt->ne[3] != 1)
		return base_err_set(err, BASE_E_PARSE,
				    "%s: tensor '%s' has shape [%llu, %llu], the configuration needs [%llu, %llu]",
				    gguf_name(g), name, (unsigned long long)gt->ne[0], (unsigned long long)gt->ne[1],
				    (unsigned long long)ne0, (unsigned long long)want1);
	if (!type_ok(gt->type) || (vec && gt->type == GGUF_GGML_Q8_0)) {
		const char *tn = gguf_ggml_type_name(gt->type);
		return base_err_set(err, BASE_E_UNSUPPORTED,
				    "%s: tensor '%s' has type %s; lode runs f32, f16, bf16 and q8_0 weights "
				    "(and f32/f16/bf16 vectors)",
				    gguf_name(g), name, tn ? tn : "unknown");
	}
	t->type = gt->type;
	t->ne0 = gt->ne[0];
	t->ne1 = gt->ne[1];
	t->data = gt->data;
	t->name = gt->name;
	return BASE_OK;
}

static int layer_tensor(const struct gguf *g, uint32_t l, const char *what, uint64_t ne0, uint64_t ne1,
			bool optional, struct enc_tensor *t, struct base_err *err)
{
	char name[96];
	snprintf(name, sizeof(name), "blk.%u.%s", l, what);
	return tensor(g, name, ne0, ne1, optional, t, err);
}

static int get_u32(const struct gguf *g, const char *arch, const char *key, uint32_t *out, bool optional,
		   struct base_err *err)
{
	char full[128];
	snprintf(full, sizeof(full), "%s.%s", arch, key);
	int rc = gguf_get_u32(g, full, out, err);
	if (rc == BASE_E_NOTFOUND && optional)
		return BASE_OK;
	return rc;
}

static int load_config(const struct gguf *g, const char *arch, struct enc_config *c, struct base_err *err)
{
	uint32_t pool = ENC_POOL_MEAN;
	int rc = get_u32(g, arch, "embedding_length", &c->n_embd, false, err);
	if (!rc)
		rc = get_u32(g, arch, "block_count", &c->n_layer, false, err);
	if (!rc)
		rc = get_u32(g, arch, "attention.head_count", &c->n_head, false, err);
	if (!rc)
		rc = get_u32(g, arch, "feed_forward_length", &c->n_ff, false, err);
	if (!rc)
		rc = get_u32(g, arch, "context_length", &c->n_ctx, false, err);
	if (!rc)
		rc = get_u32(g, arch, "pooling_type", &pool, true, err);
	if (rc)
		return rc;
	char key[128];
	snprintf(key, sizeof(key), "%s.attention.layer_norm_epsilon", arch);
	c->eps = 1e-12f;
	rc = gguf_get_f32(g, key, &c->eps, err);
	if (rc && rc != BASE_E_NOTFOUND)
		return rc;
	c->n_type = 2;
	rc = gguf_get_u32(g, "tokenizer.ggml.token_type_count", &c->n_type, err);
	if (rc && rc != BASE_E_NOTFOUND)
		return rc;
	if (c->arch == ENC_NOMIC_BERT) {
		snprintf(key, sizeof(key), "%s.rope.freq_base", arch);
		c->rope_base = 1000.0f;
		rc = gguf_get_f32(g, key, &c->rope_base, err);
		if (rc && rc != BASE_E_NOTFOUND)
			return rc;
	}
	if (pool != ENC_POOL_MEAN && pool != ENC_POOL_CLS)
		return base_err_set(err, BASE_E_UNSUPPORTED,
				    "%s: %s.pooling_type is %u; lode pools by mean (1) or CLS (2)", gguf_name(g), arch,
				    pool);
	c->pool = (enum enc_pool)pool;
	if (c->n_embd == 0 || c->n_layer == 0 || c->n_ff == 0 || c->n_ctx == 0 || c->n_type == 0 ||
	    c->n_head == 0 || c->n_embd % c->n_head != 0 || c->n_embd > 16384 || c->n_ff > 65536 ||
	    c->n_layer > 256 || c->n_ctx > (1u << 20) || c->n_type > 16 || (c->n_embd / c->n_head) % 2 != 0 ||
	    c->n_embd / c->n_head > 256)
		return base_err_set(err, BASE_E_PARSE,
				    "%s: impossible encoder shape (embedding %u, heads %u, layers %u, ff %u, "
				    "context %u, token types %u)",
				    gguf_name(g), c->n_embd, c->n_head, c->n_layer, c->n_ff, c->n_ctx, c->n_type);
	if (!(c->eps > 0 && c->eps < 1) || (c->arch == ENC_NOMIC_BERT && !(c->rope_base > 1)))
		return base_err_set(err, BASE_E_PARSE, "%s: impossible layer-norm epsilon or rope base",
				    gguf_name(g));
	return BASE_OK;
}

int enc_model_load(const struct gguf *g, struct enc_model *m, struct base_err *err)
{
	memset(m, 0, sizeof(*m));
	m->name = gguf_name(g);
	struct gguf_str a;
	int rc = gguf_get_str(g, "general.architecture", &a, err);
	if (rc)
		return rc;
	const char *arch;
	if (a.len == 4 && memcmp(a.ptr, "bert", 4) == 0) {
		m->c.arch = ENC_BERT;
		arch = "bert";
	} else if (a.len == 10 && memcmp(a.ptr, "nomic-bert", 10) == 0) {
		m->c.arch = ENC_NOMIC_BERT;
		arch = "nomic-bert";
	} else {
		return base_err_set(err, BASE_E_UNSUPPORTED,
				    "%s: architecture '%.*s' is not an encoder lode runs (bert, nomic-bert)",
				    gguf_name(g), (int)BASE_MIN(a.len, 64), a.ptr);
	}
	struct enc_config *c = &m->c;
	rc = load_config(g, arch, c, err);
	if (rc)
		return rc;
	const struct gguf_tensor *tok = gguf_find_tensor(g, "token_embd.weight");
	if (!tok)
		return base_err_set(err, BASE_E_PARSE, "%s: tensor 'token_embd.weight' is missing", gguf_name(g));
	if (tok->ne[1] == 0 || tok->ne[1] > (1u << 24))
		return base_err_set(err, BASE_E_PARSE, "%s: tensor 'token_embd.weight': impossible vocabulary size",
				    gguf_name(g));
	c->n_vocab = (uint32_t)tok->ne[1];

	uint64_t E = c->n_embd, F = c->n_ff;
	bool bert = c->arch == ENC_BERT;
	rc = tensor(g, "token_embd.weight", E, c->n_vocab, false, &m->tok, err);
	if (!rc)
		rc = tensor(g, "token_types.weight", E, c->n_type, !bert, &m->type, err);
	if (!rc && bert)
		rc = tensor(g, "position_embd.weight", E, c->n_ctx, false, &m->pos, err);
	if (!rc)
		rc = tensor(g, "token_embd_norm.weight", E, 0, false, &m->ln0, err);
	if (!rc)
		rc = tensor(g, "token_embd_norm.bias", E, 0, false, &m->ln0_b, err);
	if (rc)
		return rc;
	m->layers = base_calloc(c->n_layer, sizeof(*m->layers));
	for (uint32_t l = 0; l < c->n_layer && !rc; l++) {
		struct enc_layer *L = &m->layers[l];
		if (bert) {
			rc = layer_tensor(g, l, "attn_q.weight", E, E, false, &L->q, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_q.bias", E, 0, false, &L->q_b, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_k.weight", E, E, false, &L->k, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_k.bias", E, 0, false, &L->k_b, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_v.weight", E, E, false, &L->v, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_v.bias", E, 0, false, &L->v_b, err);
		} else {
			rc = layer_tensor(g, l, "attn_qkv.weight", E, 3 * E, false, &L->qkv, err);
			if (!rc)
				rc = layer_tensor(g, l, "attn_qkv.bias", 3 * E, 0, true, &L->qkv_b, err);
		}
		if (!rc)
			rc = layer_tensor(g, l, "attn_output.weight", E, E, false, &L->o, err);
		if (!rc)
			rc = layer_tensor(g, l, "attn_output.bias", E, 0, !bert, &L->o_b, err);
		if (!rc)
			rc = layer_tensor(g, l, "attn_output_norm.weight", E, 0, false, &L->ln1, err);
		if (!rc)
			rc = layer_tensor(g, l, "attn_output_norm.bias", E, 0, false, &L->ln1_b, err);
		if (!rc)
			rc = layer_tensor(g, l, "ffn_up.weight", E, F, false, &L->up, err);
		if (!rc)
			rc = layer_tensor(g, l, "ffn_up.bias", F, 0, !bert, &L->up_b, err);
		if (!rc && !bert)
			rc = layer_tensor(g, l, "ffn_gate.weight", E, F, false, &L->gate, err);
		if (!rc && !bert)
			rc = layer_tensor(g, l, "ffn_gate.bias", F, 0, true, &L->gate_b, err);
		if (!rc)
			rc = layer_tensor(g, l, "ffn_down.weight", F, E, false, &L->down, err);
		if (!rc)
			rc = layer_tensor(g, l, "ffn_down.bias", E, 0, !bert, &L->down_b, err);
		if (!rc)
			rc = layer_tensor(g, l, "layer_output_norm.weight", E, 0, false, &L->ln2, err);
		if (!rc)
			rc = layer_tensor(g, l, "layer_output_norm.bias", E, 0, false, &L->ln2_b, err);
	}
	if (rc)
		enc_model_release(m);
	return rc;
}

void enc_model_release(struct enc_model *m)
{
	base_free(m->layers);
	m->layers = NULL;
}

static uint64_t count(const struct enc_tensor *t)
{
	return t->data ? t->ne0 * t->ne1 : 0;
}

uint64_t enc_model_params(const struct enc_model *m)
{
	uint64_t n = count(&m->tok) + count(&m->type) + count(&m->pos) + count(&m->ln0) + count(&m->ln0_b);
	for (uint32_t l = 0; l < m->c.n_layer; l++) {
		const struct enc_layer *L = &m->layers[l];
		const struct enc_tensor *all[] = { &L->q,  &L->q_b,   &L->k,    &L->k_b,    &L->v,   &L->v_b,
						   &L->qkv, &L->qkv_b, &L->o,    &L->o_b,    &L->ln1, &L->ln1_b,
						   &L->up, &L->up_b,  &L->gate, &L->gate_b, &L->down, &L->down_b,
						   &L->ln2, &L->ln2_b };
		for (size_t i = 0; i < BASE_ARRAY_LEN(all); i++)
			n += count(all[i]);
	}
	return n;
}
