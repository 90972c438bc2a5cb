# cython: language_level=3
# The process's counter registry, shared by the extensions that register
# native counters (pipelines, FEC codecs) and the one that serves them to
# DPDK telemetry (_dpdk_eal).
# No C header is included from here, so that cimporting this needs no
# include path: registry() is a pd_stats_registry * (native/telemetry/stats.h).


cdef class Registration:
    cdef readonly unsigned int id
    cdef int kind
    cdef bint active
    cdef void *view
    cdef list keep
    cpdef close(self)
    cdef int add_chain(self, const void *chain, list names, list refs,
                       list elements) except -1


cdef void *registry() noexcept nogil
cdef Registration register_pipeline(str name, const int *running)
cdef Registration register_fec_encoder(const void *enc, str name)
cdef Registration register_fec_decoder(const void *dec, str name)
cdef Registration register_fec_enc_stage(const void *stage, str name)
cdef Registration register_fec_dec_stage(const void *stage, str name)
