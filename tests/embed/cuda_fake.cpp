/*
 * cuda_fake.cpp: the whole CUDA backend (embed/cuda.cu and its kernels)
 * compiled as host C++ over a fake CUDA runtime and cuBLAS, for
 * test_cuda_fake (cuda_fake_main.c). Device memory is host memory, the
 * stream is synchronous, the kernels run on CPU threads (cuda_emu.h) and
 * cublasGemmEx is a plain loop written from cuBLAS's documented contract
 * (column-major, op(A) m x k, op(B) k x n, fp32 accumulation). What it
 * checks is cuda.cu's own logic: weight layout and stacking, the GEMM
 * arguments, the work-space plan, batch packing, pooling, error paths.
 *
 * The executable defines the CUDA and cuBLAS functions cuda.cu calls, so
 * the linker takes them (and these enc_cuda_* functions) from here and not
 * from the libraries lode_embed links.
 */
#include "embed/cuda_emu.h"

#include <cublas_v2.h>

#include <map>

/* one warp a block: the multi-warp reductions are test_cuda_emu's; this keeps the emulation quick */
#define ROW_THREADS 32
#define EW_THREADS 32
#include "embed/cuda_kernels.cu"
#include "embed/cuda.cu"

namespace fake {
size_t free_bytes = (size_t)8 << 30;
int fail_malloc_at = -1, fail_gemm_at = -1, mallocs, gemms;
bool no_device;
std::map<void *, size_t> live;
int streams, handles, events;
} // namespace fake

/* ---- the knobs cuda_fake_main.c turns ------------------------------------------------- */

extern "C" void fake_cuda_reset(size_t free_bytes, bool no_device)
{
	fake::free_bytes = free_bytes;
	fake::no_device = no_device;
	fake::fail_malloc_at = fake::fail_gemm_at = -1;
	fake::mallocs = fake::gemms = 0;
}

/* Fail the n-th cudaMalloc/cudaMallocHost (0-based) or cublasGemmEx from now on; -1: none. */
extern "C" void fake_cuda_fail(int malloc_at, int gemm_at)
{
	fake::fail_malloc_at = malloc_at;
	fake::fail_gemm_at = gemm_at;
	fake::mallocs = fake::gemms = 0;
}

/* Device and pinned blocks, streams, events and handles not yet freed. */
extern "C" size_t fake_cuda_live(void)
{
	return fake::live.size() + (size_t)fake::streams + (size_t)fake::handles + (size_t)fake::events;
}

/* ---- the runtime ------------------------------------------------------------------------ */

static cudaError_t fake_alloc(void **p, size_t n)
{
	if (fake::mallocs++ == fake::fail_malloc_at) {
		*p = NULL;
		return cudaErrorMemoryAllocation;
	}
	*p = std::aligned_alloc(256, (n + 255) / 256 * 256 + 256); /* cudaMalloc's alignment */
	if (!*p)
		return cudaErrorMemoryAllocation;
	std::memset(*p, 0xA5, n); /* not zeroed, as on a GPU */
	fake::live[*p] = n;
	return cudaSuccess;
}

static cudaError_t fake_release(void *p)
{
	if (!p)
		return cudaSuccess;
	if (!fake::live.erase(p))
		return cudaErrorInvalidValue;
	std::free(p);
	return cudaSuccess;
}

extern "C" {

const char *cudaGetErrorString(cudaError_t e)
{
	return e == cudaSuccess ? "no error" : e == cudaErrorNoDevice ? "no CUDA-capable device is detected" : "fake error";
}

cudaError_t cudaGetDeviceCount(int *count)
{
	*count = fake::no_device ? 0 : 1;
	return fake::no_device ? cudaErrorNoDevice : cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v)
{
	*v = 13000;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
	return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int)
{
	std::memset(prop, 0, sizeof(*prop));
	std::snprintf(prop->name, sizeof(prop->name), "lode fake GPU");
	prop->major = 9;
	prop->minor = 0;
	return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *a, const void *)
{
	std::memset(a, 0, sizeof(*a));
	return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int)
{
	static int token;
	*s = (cudaStream_t)&token;
	fake::streams++;
	return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t)
{
	fake::streams--;
	return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t)
{
	return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
	return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
	*free_b = fake::free_bytes;
	*total = fake::free_bytes * 2;
	return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n)
{
	return fake_alloc(p, n);
}

cudaError_t cudaMallocHost(void **p, size_t n)
{
	return fake_alloc(p, n);
}

cudaError_t cudaFree(void *p)
{
	return fake_release(p);
}

cudaError_t cudaFreeHost(void *p)
{
	return fake_release(p);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind)
{
	std::memcpy(dst, src, n);
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind, cudaStream_t)
{
	std::memcpy(dst, src, n);
	return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int v, size_t n)
{
	std::memset(p, v, n);
	return cudaSuccess;
}

/* An event holds the time it was recorded (the stream is synchronous), -1 before. */
struct CUevent_st {
	double ms;
};

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = new CUevent_st{ -1 };
	fake::events++;
	return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	delete e;
	fake::events--;
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
	return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
	return e->ms < 0 ? cudaErrorInvalidResourceHandle : cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	if (a->ms < 0 || b->ms < 0)
		return cudaErrorInvalidResourceHandle;
	*ms = (float)(b->ms - a->ms);
	return cudaSuccess;
}

/* ---- cuBLAS --------------------------------------------------------------------------------- */

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
	static int token;
	*h = (cublasHandle_t)&token;
	fake::handles++;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t)
{
	fake::handles--;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t)
{
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void *ws, size_t bytes)
{
	auto it = fake::live.upper_bound(ws);
	if (it == fake::live.begin())
		return CUBLAS_STATUS_INVALID_VALUE;
	--it;
	bool inside = (char *)ws + bytes <= (char *)it->first + it->second;
	return inside && (uintptr_t)ws % 256 == 0 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

const char *cublasGetStatusString(cublasStatus_t s)
{
	return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_EXECUTION_FAILED (fake)";
}

static float load(const void *p, cudaDataType t, size_t i)
{
	return t == CUDA_R_16F ? __half2float(((const __half *)p)[i]) : ((const float *)p)[i];
}

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
			    const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
			    int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t compute,
			    cublasGemmAlgo_t)
{
	if (fake::gemms++ == fake::fail_gemm_at)
		return CUBLAS_STATUS_EXECUTION_FAILED;
	if (compute != CUBLAS_COMPUTE_32F || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
	    (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T) || m < 0 || n < 0 || k < 0)
		return CUBLAS_STATUS_INVALID_VALUE;
	/* the leading dimensions cuBLAS requires */
	if (lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m)
		return CUBLAS_STATUS_INVALID_VALUE;
	float a = *(const float *)alpha, b = *(const float *)beta;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int p = 0; p < k; p++) {
				size_t ai = ta == CUBLAS_OP_N ? i + (size_t)p * lda : p + (size_t)i * lda;
				size_t bi = tb == CUBLAS_OP_N ? p + (size_t)j * ldb : j + (size_t)p * ldb;
				s += load(A, at, ai) * load(B, bt, bi);
			}
			size_t ci = i + (size_t)j * ldc;
			float v = a * s + (b != 0 ? b * load(C, ct, ci) : 0.0f);
			if (ct == CUDA_R_16F)
				((__half *)C)[ci] = __float2half(v);
			else
				((float *)C)[ci] = v;
		}
	return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */
