/*
 * _reduce.c -- per-chunk statistics of BAM record rows, in one pass (bams3.chunks._stats).
 *
 * A shard's records arrive as batches of rows (bams3.bam.records.RECORD_DTYPE, laid out
 * by _record_fields.h); ChunkAccumulator cuts each batch into segments at chunk
 * boundaries. reduce_segments() computes every segment's counters in one loop over the
 * rows, where the numpy version needed some forty array operations per batch and a sort:
 * at the default chunk size of 1000 reads, the statistics cost as much as decoding.
 *
 * Counters per segment (int64, in this order; bams3.chunks._stats names the same layout
 * and checks CATEGORIES against its FLAGSTAT_KEYS at import):
 *   [0, 16)   samtools flagstat categories of QC-passed records (bam_stat.c, samtools 1.16),
 *   [16, 32)  the same for QC-failed records,
 *   32        sum of MAPQ over mapped records whose MAPQ is not 255 (SAMv1: unavailable),
 *   33        how many such records,
 *   34        bases (l_seq) of primary records,
 *   35 + b    mapped records whose MAPQ falls in bin b (the caller's MAPQ -> bin table).
 * Positions per segment (int64): smallest and largest pos, largest alignment end, and the
 * row index of the first and last record with a reference and a position (refID >= 0,
 * pos >= 0); INT64_MAX / -1 when there is none.
 * Reference ids: (segment << 32 | refID) of records with a reference, each run of equal
 * ids within a segment given once (the caller makes them unique).
 *
 * Hostile input cannot reach here unchecked: rows come from the walker, which checked
 * refID against the header; the arguments' sizes are checked below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_record_fields.h"

/* SAMv1 1.4.2 FLAG bits */
#define F_PAIRED 0x1
#define F_PROPER_PAIR 0x2
#define F_UNMAPPED 0x4
#define F_MATE_UNMAPPED 0x8
#define F_READ1 0x40
#define F_READ2 0x80
#define F_SECONDARY 0x100
#define F_QC_FAIL 0x200
#define F_DUPLICATE 0x400
#define F_SUPPLEMENTARY 0x800

enum {
    C_TOTAL, C_PRIMARY, C_SECONDARY, C_SUPPLEMENTARY, C_DUPLICATES, C_PRIMARY_DUPLICATES, C_MAPPED,
    C_PRIMARY_MAPPED, C_PAIRED, C_READ1, C_READ2, C_PROPER, C_BOTH_MAPPED, C_SINGLETONS, C_OTHER_CHR,
    C_OTHER_CHR_MAPQ5, N_FLAGSTAT
};
#define COUNTER_MAPQ_SUM (2 * N_FLAGSTAT)
#define COUNTER_MAPQ_N (COUNTER_MAPQ_SUM + 1)
#define COUNTER_BASES (COUNTER_MAPQ_SUM + 2)
#define COUNTER_HIST (COUNTER_MAPQ_SUM + 3)
#define N_POSITIONS 5
#define MAPQ_UNAVAILABLE 255

static const char *const CATEGORY_NAMES[N_FLAGSTAT] = {
    "total", "primary", "secondary", "supplementary", "duplicates", "primary duplicates", "mapped",
    "primary mapped", "paired in sequencing", "read1", "read2", "properly paired",
    "with itself and mate mapped", "singletons", "with mate mapped to a different chr",
    "with mate mapped to a different chr (mapQ >= 5)",
};

/* One record into its segment's flagstat counters (samtools bam_stat.c flagstat_loop). */
static inline void count_flagstat(int64_t *c, const record_fields *r)
{
    unsigned flag = r->flag;
    int mapped = !(flag & F_UNMAPPED);
    c[C_TOTAL]++;
    if (flag & F_DUPLICATE) c[C_DUPLICATES]++;
    if (mapped) c[C_MAPPED]++;
    if (flag & F_SECONDARY) {
        c[C_SECONDARY]++;
        return;
    }
    if (flag & F_SUPPLEMENTARY) {
        c[C_SUPPLEMENTARY]++;
        return;
    }
    c[C_PRIMARY]++;
    if (flag & F_DUPLICATE) c[C_PRIMARY_DUPLICATES]++;
    if (mapped) c[C_PRIMARY_MAPPED]++;
    if (!(flag & F_PAIRED)) return;
    c[C_PAIRED]++;
    if (flag & F_READ1) c[C_READ1]++;
    if (flag & F_READ2) c[C_READ2]++;
    if (!mapped) return;
    if (flag & F_PROPER_PAIR) c[C_PROPER]++;
    if (flag & F_MATE_UNMAPPED) {
        c[C_SINGLETONS]++;
        return;
    }
    c[C_BOTH_MAPPED]++;
    if (r->next_ref_id != r->ref_id) {
        c[C_OTHER_CHR]++;
        if (r->mapq >= 5) c[C_OTHER_CHR_MAPQ5]++;
    }
}

/* The loop (no GIL). Returns how many reference pairs were written. */
static Py_ssize_t reduce_loop(const record_fields *rows, Py_ssize_t n, const int64_t *starts, Py_ssize_t n_seg,
                              const int64_t *bins, int64_t *counters, Py_ssize_t width, int64_t *positions,
                              int64_t *refs)
{
    Py_ssize_t n_refs = 0;
    for (Py_ssize_t s = 0; s < n_seg; s++) {
        Py_ssize_t lo = (Py_ssize_t)starts[s], hi = s + 1 < n_seg ? (Py_ssize_t)starts[s + 1] : n;
        int64_t *c = counters + (size_t)s * (size_t)width;
        int64_t *p = positions + (size_t)s * N_POSITIONS;
        memset(c, 0, (size_t)width * sizeof(int64_t));
        int64_t pos_min = INT64_MAX, pos_max = -1, end_max = -1, first = INT64_MAX, last = -1;
        int64_t last_ref = -1;
        for (Py_ssize_t i = lo; i < hi; i++) {
            const record_fields *r = rows + i;
            unsigned flag = r->flag;
            count_flagstat(c + ((flag & F_QC_FAIL) ? N_FLAGSTAT : 0), r);
            if (!(flag & F_UNMAPPED)) {
                if (r->mapq != MAPQ_UNAVAILABLE) {
                    c[COUNTER_MAPQ_SUM] += r->mapq;
                    c[COUNTER_MAPQ_N]++;
                }
                c[COUNTER_HIST + bins[r->mapq]]++;
            }
            if (!(flag & (F_SECONDARY | F_SUPPLEMENTARY))) c[COUNTER_BASES] += r->l_seq;
            if (r->ref_id >= 0) {
                if (r->ref_id != last_ref) {
                    refs[n_refs++] = ((int64_t)s << 32) | (int64_t)r->ref_id;
                    last_ref = r->ref_id;
                }
                if (r->pos >= 0) {
                    if (r->pos < pos_min) pos_min = r->pos;
                    if (r->pos > pos_max) pos_max = r->pos;
                    if (r->end > end_max) end_max = r->end;
                    if (first == INT64_MAX) first = i;
                    last = i;
                }
            }
        }
        p[0] = pos_min;
        p[1] = pos_max;
        p[2] = end_max;
        p[3] = first;
        p[4] = last;
    }
    return n_refs;
}

static int get_int64(PyObject *obj, Py_buffer *view, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % (Py_ssize_t)sizeof(int64_t) != 0 || ((uintptr_t)view->buf % sizeof(int64_t)) != 0) {
        PyErr_Format(PyExc_ValueError, "reduce_segments: %s must be an aligned int64 buffer", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(reduce_segments_doc,
"reduce_segments(rows, starts, mapq_bins, counters, positions, refs) -> n_refs\n"
"\n"
"Statistics of each segment rows[starts[i]:starts[i + 1]] (the last one to the end) of\n"
"record rows (RECORD_DTYPE). starts: int64, starts[0] == 0, increasing, below len(rows).\n"
"mapq_bins: 256 int64, the histogram bin of each MAPQ. Writes counters (int64, one row of\n"
"COUNTER_HIST + n_bins per segment), positions (int64, N_POSITIONS per segment) and refs\n"
"(int64, room for len(rows)); returns how many refs were written. See _reduce.c.");

static PyObject *reduce_segments(PyObject *self, PyObject *args)
{
    PyObject *rows_obj, *starts_obj, *bins_obj, *counters_obj, *positions_obj, *refs_obj;
    Py_buffer rows, starts, bins, counters, positions, refs;
    int got = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOO", &rows_obj, &starts_obj, &bins_obj, &counters_obj, &positions_obj, &refs_obj))
        return NULL;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_RECORDS_RO) < 0) return NULL;
    got = 1;
    if (rows.itemsize != (Py_ssize_t)sizeof(record_fields) || !PyBuffer_IsContiguous(&rows, 'C')) {
        PyErr_Format(PyExc_ValueError, "reduce_segments: rows must be C-contiguous %zd-byte rows (RECORD_DTYPE)",
                     (Py_ssize_t)sizeof(record_fields));
        goto release;
    }
    if (get_int64(starts_obj, &starts, 0, "starts") < 0) goto release;
    got = 2;
    if (get_int64(bins_obj, &bins, 0, "mapq_bins") < 0) goto release;
    got = 3;
    if (get_int64(counters_obj, &counters, 1, "counters") < 0) goto release;
    got = 4;
    if (get_int64(positions_obj, &positions, 1, "positions") < 0) goto release;
    got = 5;
    if (get_int64(refs_obj, &refs, 1, "refs") < 0) goto release;
    got = 6;

    Py_ssize_t n = rows.len / (Py_ssize_t)sizeof(record_fields);
    Py_ssize_t n_seg = starts.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *st = (const int64_t *)starts.buf;
    const int64_t *bin = (const int64_t *)bins.buf;
    if (n_seg == 0 || st[0] != 0 || (n > 0 && st[n_seg - 1] >= n) || (n == 0 && n_seg != 1)) {
        PyErr_SetString(PyExc_ValueError, "reduce_segments: starts must begin at 0 and stay below len(rows)");
        goto release;
    }
    for (Py_ssize_t s = 1; s < n_seg; s++) {
        if (st[s] <= st[s - 1]) {
            PyErr_SetString(PyExc_ValueError, "reduce_segments: starts must increase");
            goto release;
        }
    }
    Py_ssize_t width = counters.len / (Py_ssize_t)sizeof(int64_t) / n_seg;
    if (width <= COUNTER_HIST || width * n_seg * (Py_ssize_t)sizeof(int64_t) != counters.len) {
        PyErr_SetString(PyExc_ValueError, "reduce_segments: counters must hold COUNTER_HIST + n_bins int64 per segment");
        goto release;
    }
    if (bins.len != 256 * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "reduce_segments: mapq_bins must hold 256 int64");
        goto release;
    }
    for (int q = 0; q < 256; q++) {
        if (bin[q] < 0 || bin[q] >= width - COUNTER_HIST) {
            PyErr_SetString(PyExc_ValueError, "reduce_segments: a MAPQ bin is outside the counters' histogram");
            goto release;
        }
    }
    if (positions.len != n_seg * N_POSITIONS * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "reduce_segments: positions must hold N_POSITIONS int64 per segment");
        goto release;
    }
    if (refs.len < n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "reduce_segments: refs must have room for one int64 per row");
        goto release;
    }
    Py_ssize_t n_refs;
    Py_BEGIN_ALLOW_THREADS
    n_refs = reduce_loop((const record_fields *)rows.buf, n, st, n_seg, bin, (int64_t *)counters.buf, width,
                         (int64_t *)positions.buf, (int64_t *)refs.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(n_refs);
release:
    if (got >= 6) PyBuffer_Release(&refs);
    if (got >= 5) PyBuffer_Release(&positions);
    if (got >= 4) PyBuffer_Release(&counters);
    if (got >= 3) PyBuffer_Release(&bins);
    if (got >= 2) PyBuffer_Release(&starts);
    PyBuffer_Release(&rows);
    return result;
}

static PyMethodDef reduce_methods[] = {
    {"reduce_segments", reduce_segments, METH_VARARGS, reduce_segments_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef reduce_module = {
    PyModuleDef_HEAD_INIT, "_reduce", "Per-chunk statistics of BAM record rows (see src/bams3/chunks/_reduce.c).", -1,
    reduce_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__reduce(void)
{
    PyObject *module = PyModule_Create(&reduce_module);
    if (module == NULL) return NULL;
    PyObject *names = PyTuple_New(N_FLAGSTAT);
    if (names == NULL) goto fail;
    for (int i = 0; i < N_FLAGSTAT; i++) {
        PyObject *name = PyUnicode_FromString(CATEGORY_NAMES[i]);
        if (name == NULL) {
            Py_DECREF(names);
            goto fail;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    if (PyModule_AddObject(module, "CATEGORIES", names) < 0) {
        Py_DECREF(names);
        goto fail;
    }
    if (PyModule_AddIntConstant(module, "COUNTER_MAPQ_SUM", COUNTER_MAPQ_SUM) < 0 ||
        PyModule_AddIntConstant(module, "COUNTER_MAPQ_N", COUNTER_MAPQ_N) < 0 ||
        PyModule_AddIntConstant(module, "COUNTER_BASES", COUNTER_BASES) < 0 ||
        PyModule_AddIntConstant(module, "COUNTER_HIST", COUNTER_HIST) < 0 ||
        PyModule_AddIntConstant(module, "N_POSITIONS", N_POSITIONS) < 0 ||
        PyModule_AddIntConstant(module, "ITEMSIZE", (long)sizeof(record_fields)) < 0)
        goto fail;
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
