/*
 * vindex.c: a FAISS index in RAM (vindex.h), over FAISS's C API.
 *
 * File format: a header, then FAISS's own serialisation (the payload):
 *
 *   "LODEVIX1"        8 bytes
 *   factory string    64 bytes, NUL-padded
 *   payload length    8 bytes, little endian
 *   payload XXH3-64   8 bytes, little endian
 *
 * A load checks the length and the hash before FAISS parses a byte, so a
 * truncated, damaged or foreign file is refused by name (FAISS's reader is
 * not written for hostile input: it leaks or crashes on some), and the
 * header says what the index is without asking FAISS.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include "store/vindex.h"

#include "base/banned.h"

#define MAGIC "LODEVIX1"
#define FACTORY_BYTES 64
#define HEADER_BYTES (8 + FACTORY_BYTES + 8 + 8)

struct store_vindex {
	FaissIndex *index;
	char factory[FACTORY_BYTES];
	unsigned dim;
	bool ivf;
};

static int faiss_fail(struct base_err *err, int code, const char *what)
{
	const char *msg = faiss_get_last_error();
	return base_err_set(err, code, "FAISS: cannot %s: %s", what, msg ? msg : "unknown error");
}

/*
 * FAISS parallelises with OpenMP and calls BLAS, which may run threads of
 * its own (OpenBLAS). lode already keeps every core busy with its own
 * threads (indexing workers, one request per HTTP thread), and idle
 * OpenMP/OpenBLAS threads spin-wait: on a 2-core machine that cost ~40% of
 * the indexing time. So each FAISS call runs on the calling thread. The
 * knobs are looked up at run time: neither library is required to have them.
 */
static void (*omp_threads)(int);

static void threads_init(void)
{
	void (*blas)(int) = NULL;
	*(void **)&omp_threads = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
	*(void **)&blas = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (blas)
		blas(1); /* global */
}

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;

/* OpenMP's thread count is per calling thread: set it on each call. */
static void single_threaded(void)
{
	pthread_once(&threads_once, threads_init);
	if (omp_threads)
		omp_threads(1);
}

static bool is_hnsw(const char *factory)
{
	return strstr(factory, "HNSW") != NULL || strstr(factory, "NSG") != NULL;
}

/* Set up v for a fresh or loaded FAISS index. */
static void adopt(struct store_vindex *v, FaissIndex *index)
{
	v->index = index;
	v->dim = (unsigned)faiss_Index_d(index);
	FaissIndexIVF *ivf = faiss_IndexIVF_cast(index);
	v->ivf = ivf != NULL;
	if (ivf && faiss_IndexIVF_nprobe(ivf) == 1)
		faiss_IndexIVF_set_nprobe(ivf, STORE_VINDEX_NPROBE);
}

struct store_vindex *store_vindex_new(unsigned dim, const char *factory, struct base_err *err)
{
	if (!factory || !*factory || strcmp(factory, "auto") == 0)
		factory = "Flat";
	if (strlen(factory) >= FACTORY_BYTES) {
		base_err_set(err, BASE_E_INVAL, "FAISS factory string too long: %s", factory);
		return NULL;
	}
	if (is_hnsw(factory)) {
		base_err_set(err, BASE_E_UNSUPPORTED,
			     "FAISS index '%s' cannot remove vectors, which a live index needs; use Flat or IVF", factory);
		return NULL;
	}
	/* Flat keeps vectors by position: an id map gives it lode's ids. */
	char desc[FACTORY_BYTES + 8];
	snprintf(desc, sizeof(desc), "%s%s", strncmp(factory, "IVF", 3) == 0 ? "" : "IDMap,", factory);
	FaissIndex *index = NULL;
	if (faiss_index_factory(&index, (int)dim, desc, METRIC_INNER_PRODUCT) != 0) {
		faiss_fail(err, BASE_E_INVAL, "create the index");
		return NULL;
	}
	struct store_vindex *v = base_calloc(1, sizeof(*v));
	snprintf(v->factory, sizeof(v->factory), "%s", factory);
	adopt(v, index);
	return v;
}

void store_vindex_free(struct store_vindex *v)
{
	if (!v)
		return;
	if (v->index)
		faiss_Index_free(v->index);
	base_free(v);
}

void store_vindex_auto_factory(size_t n, unsigned dim, char *out, size_t cap)
{
	(void)dim;
	if (n < STORE_VINDEX_FLAT_MAX) {
		snprintf(out, cap, "Flat");
		return;
	}
	size_t nlist = 16;
	while (nlist * nlist * 16 < n) /* the power of two at or above sqrt(n) / 4 */
		nlist *= 2;
	snprintf(out, cap, "IVF%zu,SQ8", nlist);
}

const char *store_vindex_factory(const struct store_vindex *v)
{
	return v->factory;
}

bool store_vindex_needs_training(const struct store_vindex *v)
{
	return !faiss_Index_is_trained(v->index);
}

int store_vindex_train(struct store_vindex *v, const float *vecs, size_t n, struct base_err *err)
{
	single_threaded();
	if (faiss_Index_train(v->index, (idx_t)n, vecs) != 0)
		return faiss_fail(err, BASE_E_INVAL, "train the index");
	return BASE_OK;
}

int store_vindex_add(struct store_vindex *v, const int64_t *ids, const float *vecs, size_t n, struct base_err *err)
{
	single_threaded();
	if (n && faiss_Index_add_with_ids(v->index, (idx_t)n, vecs, ids) != 0)
		return faiss_fail(err, BASE_E_INVAL, "add vectors");
	return BASE_OK;
}

int store_vindex_remove(struct store_vindex *v, const int64_t *ids, size_t n, size_t *removed,
			struct base_err *err)
{
	if (removed)
		*removed = 0;
	if (!n)
		return BASE_OK;
	single_threaded();
	FaissIDSelectorBatch *sel = NULL;
	if (faiss_IDSelectorBatch_new(&sel, n, ids) != 0)
		return faiss_fail(err, BASE_E_NOMEM, "select ids");
	int rc = faiss_Index_remove_ids(v->index, (FaissIDSelector *)sel, removed);
	faiss_IDSelector_free((FaissIDSelector *)sel);
	return rc ? faiss_fail(err, BASE_E_INVAL, "remove vectors") : BASE_OK;
}

size_t store_vindex_count(const struct store_vindex *v)
{
	return (size_t)faiss_Index_ntotal(v->index);
}

unsigned store_vindex_dim(const struct store_vindex *v)
{
	return v->dim;
}

uint64_t store_vindex_bytes(const struct store_vindex *v)
{
	uint64_t n = (uint64_t)faiss_Index_ntotal(v->index);
	if (!v->ivf)
		return n * ((uint64_t)v->dim * sizeof(float) + sizeof(int64_t));
	size_t code = 0;
	faiss_Index_sa_code_size(v->index, &code); /* the list number + the vector's code */
	size_t nlist = faiss_IndexIVF_nlist(faiss_IndexIVF_cast(v->index));
	return n * ((uint64_t)code + sizeof(int64_t)) + (uint64_t)nlist * v->dim * sizeof(float);
}

int store_vindex_ids(const struct store_vindex *v, int64_t **ids, size_t *n, struct base_err *err)
{
	(void)err;
	size_t total = store_vindex_count(v);
	int64_t *out = base_malloc((total ? total : 1) * sizeof(*out));
	size_t got = 0;
	if (v->ivf) {
		FaissIndexIVF *ivf = faiss_IndexIVF_cast(v->index);
		size_t nlist = faiss_IndexIVF_nlist(ivf);
		for (size_t l = 0; l < nlist; l++) {
			size_t len = faiss_IndexIVF_get_list_size(ivf, l);
			BASE_ASSERT(got + len <= total);
			faiss_IndexIVF_invlists_get_ids(ivf, l, out + got);
			got += len;
		}
	} else {
		idx_t *map = NULL;
		size_t len = 0;
		faiss_IndexIDMap_id_map(faiss_IndexIDMap_cast(v->index), &map, &len);
		BASE_ASSERT(len == total);
		if (len)
			memcpy(out, map, len * sizeof(*out));
		got = len;
	}
	*ids = out;
	*n = got;
	return BASE_OK;
}

void store_vindex_set_nprobe(struct store_vindex *v, size_t nprobe)
{
	if (v->ivf)
		faiss_IndexIVF_set_nprobe(faiss_IndexIVF_cast(v->index), nprobe ? nprobe : 1);
}

int store_vindex_search(const struct store_vindex *v, const float *queries, size_t nq, size_t k, int64_t *ids,
			float *scores, struct base_err *err)
{
	single_threaded();
	if (!nq || !k)
		return BASE_OK;
	if (faiss_Index_search(v->index, (idx_t)nq, queries, (idx_t)k, scores, ids) != 0)
		return faiss_fail(err, BASE_E_INVAL, "search");
	return BASE_OK;
}

/* fsync the directory holding `path`, so a rename in it is durable. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? base_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : base_strdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	base_free(dir);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* XXH3-64 of bytes [off, off + len) of fd, through a read-only mapping. */
static int hash_range(int fd, uint64_t off, uint64_t len, uint64_t *out)
{
	if (len == 0) {
		*out = XXH3_64bits("", 0);
		return 0;
	}
	void *p = mmap(NULL, (size_t)(off + len), PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	*out = XXH3_64bits((const char *)p + off, (size_t)len);
	munmap(p, (size_t)(off + len));
	return 0;
}

int store_vindex_save(const struct store_vindex *v, const char *path, struct base_err *err)
{
	char *tmp = base_strfmt("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = base_err_errno(err, BASE_E_IO, errno, "cannot write %s", tmp);
		base_free(tmp);
		return rc;
	}
	FILE *f = fdopen(fd, "w+b");
	unsigned char header[HEADER_BYTES] = { 0 };
	memcpy(header, MAGIC, 8);
	memcpy(header + 8, v->factory, strlen(v->factory));
	int rc = BASE_OK;
	if (!f || fwrite(header, sizeof(header), 1, f) != 1)
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot write %s", tmp);
	else if (faiss_write_index(v->index, f) != 0)
		rc = faiss_fail(err, BASE_E_IO, "write the vector index");
	if (!rc && fflush(f) != 0)
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot write %s", tmp);
	struct stat st;
	uint64_t hash = 0;
	if (!rc && (fstat(fd, &st) != 0 || hash_range(fd, HEADER_BYTES, (uint64_t)st.st_size - HEADER_BYTES, &hash)))
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot read back %s", tmp);
	if (!rc) {
		put_le64(header + 8 + FACTORY_BYTES, (uint64_t)st.st_size - HEADER_BYTES);
		put_le64(header + 16 + FACTORY_BYTES, hash);
		if (pwrite(fd, header, sizeof(header), 0) != (ssize_t)sizeof(header) || fsync(fd) != 0)
			rc = base_err_errno(err, BASE_E_IO, errno, "cannot write %s", tmp);
	}
	if (f)
		fclose(f);
	else
		close(fd);
	if (!rc && rename(tmp, path) != 0)
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot rename %s to %s", tmp, path);
	if (rc)
		unlink(tmp);
	else
		sync_dir(path);
	base_free(tmp);
	return rc;
}

struct store_vindex *store_vindex_load(const char *path, struct base_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		base_err_errno(err, errno == ENOENT ? BASE_E_NOTFOUND : BASE_E_IO, errno, "cannot read %s", path);
		return NULL;
	}
	unsigned char header[HEADER_BYTES];
	struct stat st;
	uint64_t hash = 0;
	const char *why = NULL;
	if (fstat(fd, &st) != 0 || pread(fd, header, sizeof(header), 0) != (ssize_t)sizeof(header))
		why = "too short";
	else if (memcmp(header, MAGIC, 8) != 0 || header[8 + FACTORY_BYTES - 1] != '\0')
		why = "not a lode vector index";
	else if (get_le64(header + 8 + FACTORY_BYTES) != (uint64_t)st.st_size - HEADER_BYTES)
		why = "truncated";
	else if (hash_range(fd, HEADER_BYTES, (uint64_t)st.st_size - HEADER_BYTES, &hash) != 0 ||
		 hash != get_le64(header + 16 + FACTORY_BYTES))
		why = "checksum mismatch";
	FaissIndex *index = NULL;
	FILE *f = why ? NULL : fdopen(fd, "rb");
	if (f && fseek(f, HEADER_BYTES, SEEK_SET) == 0 && faiss_read_index(f, 0, &index) != 0) {
		const char *msg = faiss_get_last_error();
		base_err_set(err, BASE_E_CORRUPT, "%s is damaged: %s", path, msg ? msg : "unreadable");
		index = NULL;
	}
	if (f)
		fclose(f);
	else
		close(fd);
	if (why)
		base_err_set(err, BASE_E_CORRUPT, "%s is damaged (%s); it will be rebuilt", path, why);
	if (!index)
		return NULL;
	struct store_vindex *v = base_calloc(1, sizeof(*v));
	memcpy(v->factory, header + 8, FACTORY_BYTES);
	adopt(v, index);
	return v;
}
