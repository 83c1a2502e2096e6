/*
 * faiss_c.cpp: the part of FAISS's C API that lode calls.
 *
 * Debian's libfaiss-dev (1.7.3) ships the C API headers (faiss/c_api/) but
 * its library holds none of the faiss_* functions. This file implements
 * exactly the ones store/vindex.c uses, with the headers' signatures, over
 * Debian's C++ library. CMake leaves it out when a system libfaiss_c
 * exists. As in FAISS's own C API: every call catches every exception;
 * it returns 0 on success and a negative code on failure, and
 * faiss_get_last_error() gives the message (per thread).
 */
#include <cstdio>
#include <exception>
#include <stdexcept>

#include <faiss/Index.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

extern "C" {
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
}

thread_local std::exception_ptr faiss_last_exception;

namespace {

/* Run f; map exceptions to the C API's codes and remember them. */
template <typename F>
int guarded(F f)
{
	try {
		f();
		return 0;
	} catch (faiss::FaissException &e) {
		faiss_last_exception = std::current_exception();
		return -2;
	} catch (std::exception &e) {
		faiss_last_exception = std::current_exception();
		return -4;
	} catch (...) {
		faiss_last_exception = std::make_exception_ptr(std::runtime_error("unknown error"));
		return -1;
	}
}

faiss::Index *idx(FaissIndex *p)
{
	return reinterpret_cast<faiss::Index *>(p);
}

const faiss::Index *idx(const FaissIndex *p)
{
	return reinterpret_cast<const faiss::Index *>(p);
}

} // namespace

extern "C" {

const char *faiss_get_last_error()
{
	if (!faiss_last_exception)
		return nullptr;
	try {
		std::rethrow_exception(faiss_last_exception);
	} catch (std::exception &e) {
		thread_local std::string msg;
		msg = e.what();
		return msg.c_str();
	} catch (...) {
		return "unknown error";
	}
}

int faiss_index_factory(FaissIndex **p_index, int d, const char *description, FaissMetricType metric)
{
	return guarded([&] {
		*p_index = reinterpret_cast<FaissIndex *>(
			faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric)));
	});
}

void faiss_Index_free(FaissIndex *obj)
{
	delete idx(obj);
}

int faiss_Index_d(const FaissIndex *obj)
{
	return idx(obj)->d;
}

int faiss_Index_is_trained(const FaissIndex *obj)
{
	return idx(obj)->is_trained;
}

idx_t faiss_Index_ntotal(const FaissIndex *obj)
{
	return idx(obj)->ntotal;
}

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x)
{
	return guarded([&] { idx(index)->train(n, x); });
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids)
{
	return guarded([&] { idx(index)->add_with_ids(n, x, xids); });
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k, float *distances,
		       idx_t *labels)
{
	return guarded([&] { idx(index)->search(n, x, k, distances, labels); });
}

int faiss_Index_remove_ids(FaissIndex *index, const FaissIDSelector *sel, size_t *n_removed)
{
	return guarded([&] {
		size_t n = idx(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector *>(sel));
		if (n_removed)
			*n_removed = n;
	});
}

int faiss_Index_sa_code_size(const FaissIndex *index, size_t *size)
{
	return guarded([&] { *size = idx(index)->sa_code_size(); });
}

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch **p_sel, size_t n, const idx_t *indices)
{
	return guarded([&] {
		*p_sel = reinterpret_cast<FaissIDSelectorBatch *>(new faiss::IDSelectorBatch(n, indices));
	});
}

void faiss_IDSelector_free(FaissIDSelector *obj)
{
	delete reinterpret_cast<faiss::IDSelector *>(obj);
}

FaissIndexIVF *faiss_IndexIVF_cast(FaissIndex *index)
{
	return reinterpret_cast<FaissIndexIVF *>(dynamic_cast<faiss::IndexIVF *>(idx(index)));
}

size_t faiss_IndexIVF_nlist(const FaissIndexIVF *obj)
{
	return reinterpret_cast<const faiss::IndexIVF *>(obj)->nlist;
}

size_t faiss_IndexIVF_nprobe(const FaissIndexIVF *obj)
{
	return reinterpret_cast<const faiss::IndexIVF *>(obj)->nprobe;
}

void faiss_IndexIVF_set_nprobe(FaissIndexIVF *obj, size_t nprobe)
{
	reinterpret_cast<faiss::IndexIVF *>(obj)->nprobe = nprobe;
}

size_t faiss_IndexIVF_get_list_size(const FaissIndexIVF *index, size_t list_no)
{
	return reinterpret_cast<const faiss::IndexIVF *>(index)->get_list_size(list_no);
}

void faiss_IndexIVF_invlists_get_ids(const FaissIndexIVF *index, size_t list_no, idx_t *invlist)
{
	const faiss::InvertedLists *il = reinterpret_cast<const faiss::IndexIVF *>(index)->invlists;
	size_t n = il->list_size(list_no);
	faiss::InvertedLists::ScopedIds ids(il, list_no);
	for (size_t i = 0; i < n; i++)
		invlist[i] = ids[i];
}

FaissIndexIDMap *faiss_IndexIDMap_cast(FaissIndex *index)
{
	return reinterpret_cast<FaissIndexIDMap *>(dynamic_cast<faiss::IndexIDMap *>(idx(index)));
}

void faiss_IndexIDMap_id_map(FaissIndexIDMap *index, idx_t **p_id_map, size_t *p_size)
{
	faiss::IndexIDMap *m = reinterpret_cast<faiss::IndexIDMap *>(index);
	*p_id_map = m->id_map.data();
	*p_size = m->id_map.size();
}

int faiss_write_index(const FaissIndex *index, FILE *f)
{
	return guarded([&] { faiss::write_index(idx(index), f); });
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out)
{
	return guarded([&] { *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(f, io_flags)); });
}

} // extern "C"
