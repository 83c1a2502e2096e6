/*
 * cuda_emu.h: enough of CUDA's execution model, on CPU threads, to run
 * embed/cuda_kernels.cu as host C++ (test_cuda_emu.cpp, cuda_fake.cpp).
 * Include it before the kernel source.
 *
 * A launch runs blockDim.x std::threads that take the grid's blocks one
 * after the other (so a kernel's __shared__ arrays can be function
 * statics); __syncthreads is a barrier over the block, and warp shuffles
 * exchange through a per-warp buffer between two barriers of the warp's
 * 32 threads. That checks indexing, tiling, masking and reductions; it
 * says nothing of timing, memory ordering on a real GPU, or the device
 * compiler. Kernels must keep every thread of a block in each
 * __syncthreads and every lane of a warp in each shuffle, as CUDA wants.
 */
#ifndef LODE_TESTS_CUDA_EMU_H
#define LODE_TESTS_CUDA_EMU_H

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

/* ---- the emulated execution model ------------------------------------------------ */

namespace emu {
/* std::barrier is C++20; this is all the emulation needs of it */
class barrier {
	std::mutex m;
	std::condition_variable cv;
	unsigned n, left;
	unsigned long gen = 0;

public:
	explicit barrier(unsigned count) : n(count), left(count) {}
	void arrive_and_wait()
	{
		std::unique_lock<std::mutex> l(m);
		unsigned long g = gen;
		if (--left == 0) {
			gen++;
			left = n;
			cv.notify_all();
		} else {
			cv.wait(l, [&] { return g != gen; });
		}
	}
};

thread_local uint3 tid;
thread_local dim3 bid;
dim3 bdim, gdim;
barrier *block_bar;
struct mma_frag {
	uint32_t a[4], b[2];
	float c[4];
};
struct warp {
	float buf[32];
	mma_frag mma[32];
	barrier *bar;
};
std::vector<warp> warps;
std::vector<float> dyn;

static float exchange(float v, unsigned src)
{
	warp &w = warps[tid.x >> 5];
	w.buf[tid.x & 31] = v;
	w.bar->arrive_and_wait();
	float r = w.buf[src & 31];
	w.bar->arrive_and_wait();
	return r;
}

static void warp_sync(void)
{
	warps[tid.x >> 5].bar->arrive_and_wait();
}

template <class K, class... A> static void launch(K kernel, dim3 g, dim3 b, size_t smem, A... args)
{
	gdim = g;
	bdim = b;
	dyn.assign(smem / sizeof(float) + 1, 0.0f);
	unsigned n = b.x;
	barrier bar(n);
	block_bar = &bar;
	warps.assign((n + 31) / 32, warp{});
	for (auto &w : warps)
		w.bar = new barrier(32);
	std::vector<std::thread> th;
	for (unsigned i = 0; i < n; i++)
		th.emplace_back([=] {
			tid = make_uint3(i, 0, 0);
			for (unsigned y = 0; y < g.y; y++)
				for (unsigned x = 0; x < g.x; x++) {
					bid = dim3(x, y, 0);
					kernel(args...);
					/* the block's shared memory is the next block's */
					block_bar->arrive_and_wait();
				}
		});
	for (auto &t : th)
		t.join();
	for (auto &w : warps)
		delete w.bar;
}
} // namespace emu

#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __forceinline__
#define __forceinline__ inline
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __shared__
#define __shared__ static
#define threadIdx emu::tid
#define blockIdx emu::bid
#define blockDim emu::bdim
#define gridDim emu::gdim
#define __syncthreads() emu::block_bar->arrive_and_wait()
#define __syncwarp(...) emu::warp_sync()
#define CUK_LAUNCH(kernel, grid, block, smem, st, ...) \
	((void)(st), emu::launch(kernel, dim3(grid), dim3(block), (smem), __VA_ARGS__))
#define CUK_DYNAMIC_SHARED(type, name) type *name = (type *)emu::dyn.data()

static inline float __shfl_xor_sync(unsigned, float v, int o)
{
	return emu::exchange(v, (emu::tid.x & 31) ^ (unsigned)o);
}

static inline float __shfl_sync(unsigned, float v, unsigned src)
{
	return emu::exchange(v, src);
}

static float rsqrtf_emu(float x)
{
	return 1.0f / std::sqrt(x);
}
#define rsqrtf rsqrtf_emu
#define cudaGetLastError() cudaSuccess

/*
 * nvcuda::wmma for 16x16x16 tiles: every lane holds the whole tile (the
 * API hides which elements a lane owns, and kernels that never index a
 * fragment cannot tell); stores write from lane 0, then the warp meets.
 */
namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
	float v[16 * 16];
};

template <class L> static inline size_t at(unsigned r, unsigned c, unsigned ldm)
{
	return std::is_same<L, row_major>::value ? (size_t)r * ldm + c : r + (size_t)c * ldm;
}

template <class U, class T, class L> static inline void fill_fragment(fragment<U, 16, 16, 16, T, L> &f, float x)
{
	for (float &v : f.v)
		v = x;
}

template <class U, class L>
static inline void load_matrix_sync(fragment<U, 16, 16, 16, __half, L> &f, const __half *p, unsigned ldm)
{
	for (unsigned r = 0; r < 16; r++)
		for (unsigned c = 0; c < 16; c++)
			f.v[r * 16 + c] = __half2float(p[at<L>(r, c, ldm)]);
}

static inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm,
				    layout_t l)
{
	for (unsigned r = 0; r < 16; r++)
		for (unsigned c = 0; c < 16; c++)
			f.v[r * 16 + c] = l == mem_row_major ? p[at<row_major>(r, c, ldm)] : p[at<col_major>(r, c, ldm)];
}

static inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm,
				     layout_t l)
{
	if ((emu::tid.x & 31) == 0)
		for (unsigned r = 0; r < 16; r++)
			for (unsigned c = 0; c < 16; c++)
				p[l == mem_row_major ? at<row_major>(r, c, ldm) : at<col_major>(r, c, ldm)] = f.v[r * 16 + c];
	emu::warp_sync();
}

template <class LA, class LB>
static inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
			    const fragment<matrix_a, 16, 16, 16, __half, LA> &a,
			    const fragment<matrix_b, 16, 16, 16, __half, LB> &b,
			    const fragment<accumulator, 16, 16, 16, float> &c)
{
	float t[16 * 16];
	for (unsigned i = 0; i < 16; i++)
		for (unsigned j = 0; j < 16; j++) {
			float s = c.v[i * 16 + j];
			for (unsigned k = 0; k < 16; k++)
				s += a.v[i * 16 + k] * b.v[k * 16 + j];
			t[i * 16 + j] = s;
		}
	std::memcpy(d.v, t, sizeof(t));
}
} // namespace wmma
} // namespace nvcuda

/*
 * mma.sync m16n8k16 (fp16 A and B, fp32 C and D) as cuda_kernels.cu calls
 * it: every lane puts down its fragments, each one gathers the whole A, B
 * and C by the PTX ISA's layouts (g = lane / 4, t = lane % 4) and computes
 * its own four elements of D.
 */
#define CUK_EMU_MMA 1

static inline float emu_half(uint32_t r, unsigned hi)
{
	__half_raw h;
	h.x = (unsigned short)(hi ? r >> 16 : r & 0xffffu);
	return __half2float(__half(h));
}

static void mma_16816(float *d, const uint32_t *a, const uint32_t *b)
{
	unsigned lane = emu::tid.x & 31;
	emu::warp &w = emu::warps[emu::tid.x >> 5];
	emu::mma_frag &mine = w.mma[lane];
	std::memcpy(mine.a, a, sizeof(mine.a));
	std::memcpy(mine.b, b, sizeof(mine.b));
	std::memcpy(mine.c, d, sizeof(mine.c));
	w.bar->arrive_and_wait();
	float A[16][16], B[16][8], C[16][8];
	for (unsigned L = 0; L < 32; L++) {
		const emu::mma_frag &f = w.mma[L];
		unsigned g = L >> 2, t = L & 3;
		for (unsigned i = 0; i < 4; i++)
			for (unsigned hi = 0; hi < 2; hi++)
				A[g + 8 * (i & 1)][2 * t + hi + 8 * (i >> 1)] = emu_half(f.a[i], hi);
		for (unsigned i = 0; i < 2; i++)
			for (unsigned hi = 0; hi < 2; hi++)
				B[2 * t + hi + 8 * i][g] = emu_half(f.b[i], hi);
		for (unsigned i = 0; i < 4; i++)
			C[g + 8 * (i >> 1)][2 * t + (i & 1)] = f.c[i];
	}
	w.bar->arrive_and_wait(); /* every lane has read the fragments */
	unsigned g = lane >> 2, t = lane & 3;
	for (unsigned i = 0; i < 4; i++) {
		unsigned row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
		float s = C[row][col];
		for (unsigned k = 0; k < 16; k++)
			s += A[row][k] * B[k][col];
		d[i] = s;
	}
}

#endif /* LODE_TESTS_CUDA_EMU_H */
