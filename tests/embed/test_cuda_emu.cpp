/*
 * test_cuda_emu.cpp: the CUDA encoder's own kernels (embed/cuda_kernels.cu)
 * run on the CPU, against plain double-precision implementations of the
 * same math, on every build that has the CUDA headers, GPU or not.
 *
 * The kernels run on CPU threads (tests/embed/cuda_emu.h): that checks
 * indexing, tiling, masking, the online softmax and the reductions, not
 * timing or the device compiler.
 *
 *   - attention, on the CUDA cores, on the tensor cores with wmma (head
 *     sizes multiple of 16) and FlashAttention-style with mma.sync (16,
 *     32, 64, 128): head sizes 16, 20, 32, 64, 128; sequences of 1, 2,
 *     15..17, 31..33, 70, 130 tokens packed without padding; every output
 *     written, within 3e-3 of softmax in double;
 *   - embeddings + LayerNorm, residual + LayerNorm, bias + RoPE,
 *     bias + GELU, bias + SwiGLU, mean/CLS pooling + L2 normalisation.
 */
#include "embed/cuda_emu.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "embed/cuda_kernels.cu"

/* ---- checks ------------------------------------------------------------------------ */

static int failures;
static uint64_t seed = 42;

static double urand(void) /* U(-1, 1) */
{
	uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void check(const char *what, double got, double want, double tol)
{
	if (!(std::fabs(got - want) <= tol)) {
		if (failures++ < 20)
			fprintf(stderr, "  %s: %.6f, want %.6f\n", what, got, want);
	}
}

static std::vector<__half> halves(size_t n, double scale)
{
	std::vector<__half> v(n);
	for (auto &h : v)
		h = __float2half((float)(scale * urand()));
	return v;
}

static std::vector<float> floats(size_t n, double scale, double base)
{
	std::vector<float> v(n);
	for (auto &f : v)
		f = (float)(base + scale * urand());
	return v;
}

static const uint32_t lens[] = { 1, 2, 15, 16, 17, 31, 32, 33, 70, 130 };

static std::vector<uint32_t> offsets(void)
{
	std::vector<uint32_t> o{ 0 };
	for (uint32_t L : lens)
		o.push_back(o.back() + L);
	return o;
}

enum attn { CUDA_CORES, TENSOR_CORES, FLASH };

static void test_attention(uint32_t H, uint32_t D, enum attn kind)
{
	static const char *const names[] = { "", " (tensor cores)", " (flash)" };
	uint32_t E = H * D, rows = kind == FLASH ? CUK_FLASH_ROWS : CUK_QROWS;
	std::vector<uint32_t> offs = offsets();
	size_t T = offs.back();
	std::vector<__half> qkv = halves(T * 3 * E, 2.0), out(T * E, __float2half(NAN)); /* every element written */
	std::vector<cuk_tile> tiles;
	for (size_t s = 0; s + 1 < offs.size(); s++)
		for (uint32_t q0 = 0; q0 < offs[s + 1] - offs[s]; q0 += rows)
			tiles.push_back(cuk_tile{ offs[s], offs[s + 1] - offs[s], q0 });
	if (kind == FLASH)
		cuk_attention_flash(0, tiles.data(), (uint32_t)tiles.size(), E, H, qkv.data(), out.data());
	else if (kind == TENSOR_CORES)
		cuk_attention_tc(0, tiles.data(), (uint32_t)tiles.size(), E, H, qkv.data(), out.data());
	else
		cuk_attention(0, tiles.data(), (uint32_t)tiles.size(), E, H, qkv.data(), out.data());
	char what[160];
	for (size_t s = 0; s + 1 < offs.size(); s++) {
		uint32_t a = offs[s], L = offs[s + 1] - a;
		for (uint32_t h = 0; h < H; h++)
			for (uint32_t i = 0; i < L; i++) {
				std::vector<double> p(L);
				double mx = -INFINITY, sum = 0;
				for (uint32_t j = 0; j < L; j++) {
					double d = 0;
					for (uint32_t k = 0; k < D; k++)
						d += (double)__half2float(qkv[(a + i) * 3 * E + h * D + k]) *
						     __half2float(qkv[(a + j) * 3 * E + E + h * D + k]);
					p[j] = d / std::sqrt((double)D);
					mx = std::fmax(mx, p[j]);
				}
				for (uint32_t j = 0; j < L; j++)
					sum += p[j] = std::exp(p[j] - mx);
				for (uint32_t k = 0; k < D; k++) {
					double o = 0;
					for (uint32_t j = 0; j < L; j++)
						o += p[j] / sum * __half2float(qkv[(a + j) * 3 * E + 2 * E + h * D + k]);
					snprintf(what, sizeof(what), "attention%s D=%u seq %zu head %u row %u dim %u",
						 names[kind], D, s, h, i, k);
					check(what, __half2float(out[(a + i) * E + h * D + k]), o, 3e-3);
				}
			}
	}
}

/* LayerNorm of v (double) into want. */
static void layernorm(std::vector<double> &v, const std::vector<float> &w, const std::vector<float> &b, double eps)
{
	double mean = 0, var = 0;
	for (double x : v)
		mean += x;
	mean /= v.size();
	for (double x : v)
		var += (x - mean) * (x - mean);
	var /= v.size();
	for (size_t j = 0; j < v.size(); j++)
		v[j] = (v[j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
}

static void test_norms(uint32_t E)
{
	const uint32_t T = 5, V = 11, P = 8;
	std::vector<int32_t> ids{ 3, 0, 10, 7, 3 }, pos{ 0, 1, 2, 0, 7 };
	std::vector<__half> tok = halves(V * E, 1.0), posw = halves(P * E, 0.5), xh(T * E);
	std::vector<float> type0 = floats(E, 0.3, 0), w = floats(E, 0.1, 1), b = floats(E, 0.1, 0), x(T * E);
	cuk_embed(0, T, E, ids.data(), pos.data(), tok.data(), type0.data(), posw.data(), w.data(), b.data(), 1e-12f,
		  x.data(), xh.data());
	std::vector<double> want(T * E);
	for (uint32_t t = 0; t < T; t++) {
		std::vector<double> v(E);
		for (uint32_t j = 0; j < E; j++)
			v[j] = (double)__half2float(tok[ids[t] * E + j]) + type0[j] + __half2float(posw[pos[t] * E + j]);
		layernorm(v, w, b, 1e-12);
		for (uint32_t j = 0; j < E; j++) {
			check("embed x", x[t * E + j], v[j], 1e-4);
			check("embed xh", __half2float(xh[t * E + j]), v[j], 4e-3);
			want[t * E + j] = v[j];
		}
	}
	/* residual + bias + LayerNorm on top */
	std::vector<float> y = floats(T * E, 2.0, 0), bias = floats(E, 0.5, 0);
	cuk_add_ln(0, T, E, y.data(), bias.data(), w.data(), b.data(), 1e-5f, x.data(), xh.data());
	for (uint32_t t = 0; t < T; t++) {
		std::vector<double> v(E);
		for (uint32_t j = 0; j < E; j++)
			v[j] = want[t * E + j] + y[t * E + j] + bias[j];
		layernorm(v, w, b, 1e-5);
		for (uint32_t j = 0; j < E; j++)
			check("add_ln x", x[t * E + j], v[j], 1e-4);
	}
	/* pooling, mean and CLS, over the same rows as sequences of 2 and 3 */
	std::vector<uint32_t> offs{ 0, 2, 5 };
	std::vector<float> out(2 * E);
	for (int cls = 0; cls < 2; cls++) {
		cuk_pool(0, 2, E, offs.data(), cls, x.data(), out.data());
		for (int s = 0; s < 2; s++) {
			std::vector<double> v(E, 0.0);
			double ss = 0;
			for (uint32_t j = 0; j < E; j++) {
				if (cls)
					v[j] = x[offs[s] * E + j];
				else {
					for (uint32_t t = offs[s]; t < offs[s + 1]; t++)
						v[j] += x[t * E + j];
					v[j] /= offs[s + 1] - offs[s];
				}
				ss += v[j] * v[j];
			}
			for (uint32_t j = 0; j < E; j++)
				check(cls ? "pool cls" : "pool mean", out[s * E + j], v[j] / std::sqrt(ss), 1e-5);
		}
	}
}

static void test_rope(uint32_t H, uint32_t D, bool with_bias)
{
	uint32_t E = H * D, T = 4, n_ctx = 40, hd = D / 2;
	std::vector<int32_t> pos{ 0, 1, 17, 39 };
	std::vector<__half> qkv = halves(T * 3 * E, 1.0), orig = qkv;
	std::vector<float> bias = floats(3 * E, 0.3, 0);
	std::vector<float2> rope(n_ctx * hd);
	for (uint32_t i = 0; i < n_ctx; i++)
		for (uint32_t d = 0; d < hd; d++) {
			double th = i * std::pow(1000.0, -2.0 * d / D);
			rope[i * hd + d] = make_float2((float)std::cos(th), (float)std::sin(th));
		}
	cuk_bias_rope(0, T, E, H, qkv.data(), with_bias ? bias.data() : NULL, rope.data(), pos.data());
	for (uint32_t t = 0; t < T; t++)
		for (uint32_t c = 0; c < 3 * E; c++) {
			auto in = [&](uint32_t col) {
				return (double)__half2float(orig[t * 3 * E + col]) + (with_bias ? bias[col] : 0.0);
			};
			double want = in(c);
			if (c < 2 * E) {
				uint32_t d = c % D, h0 = c - d;
				uint32_t dd = d % hd;
				double th = pos[t] * std::pow(1000.0, -2.0 * dd / D), cs = std::cos(th), sn = std::sin(th);
				want = d < hd ? in(h0 + dd) * cs - in(h0 + dd + hd) * sn
					      : in(h0 + dd + hd) * cs + in(h0 + dd) * sn;
			}
			check("bias_rope", __half2float(qkv[t * 3 * E + c]), want, 4e-3);
		}
	/* bias only (bert) */
	qkv = orig;
	cuk_bias_rope(0, T, E, H, qkv.data(), bias.data(), NULL, pos.data());
	for (uint32_t i = 0; i < T * 3 * E; i++)
		check("bias", __half2float(qkv[i]), (double)__half2float(orig[i]) + bias[i % (3 * E)], 4e-3);
}

static void test_activations(void)
{
	const uint32_t T = 3, F = 40;
	std::vector<__half> h = halves(T * F, 3.0), orig = h;
	std::vector<float> b = floats(2 * F, 0.5, 0);
	cuk_gelu(0, T, F, h.data(), b.data());
	for (uint32_t i = 0; i < T * F; i++) {
		double v = (double)__half2float(orig[i]) + b[i % F];
		check("gelu", __half2float(h[i]), 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 4e-3 * (1 + std::fabs(v)));
	}
	h = halves(T * 2 * F, 3.0);
	orig = h;
	cuk_swiglu(0, T, F, h.data(), b.data());
	for (uint32_t t = 0; t < T; t++)
		for (uint32_t j = 0; j < F; j++) {
			double up = (double)__half2float(orig[t * 2 * F + j]) + b[j];
			double g = (double)__half2float(orig[t * 2 * F + F + j]) + b[F + j];
			double want = g / (1 + std::exp(-g)) * up;
			check("swiglu", __half2float(h[t * 2 * F + j]), want, 4e-3 * (1 + std::fabs(want)));
			/* the gate half is left alone */
			check("swiglu gate", __half2float(h[t * 2 * F + F + j]), __half2float(orig[t * 2 * F + F + j]), 0);
		}
}

int main(void)
{
	static const uint32_t heads[][2] = { { 4, 16 }, { 2, 32 }, { 3, 64 }, { 2, 128 }, { 2, 20 } };
	for (auto &hd : heads) {
		test_attention(hd[0], hd[1], CUDA_CORES);
		if (hd[1] % 16 == 0)
			test_attention(hd[0], hd[1], TENSOR_CORES);
		if (cuk_flash_head(hd[1]))
			test_attention(hd[0], hd[1], FLASH);
		test_rope(hd[0], hd[1], true);
		test_rope(hd[0], hd[1], false);
	}
	test_norms(64);
	test_norms(384);
	test_norms(100); /* not a multiple of the block */
	test_activations();
	fprintf(stderr, "%s: %d failures\n", failures ? "FAIL" : "ok", failures);
	return failures ? 1 : 0;
}
