/*
 * _walk.c -- the BAM record walker behind bams3.bam.records.
 *
 * Walking BAM records is inherently sequential (each record's length is in its first four
 * bytes) and there are ~700 million of them in a 30x genome, so this one loop is in C:
 * walk() reads the fixed fields of every complete record in a buffer of inflated BAM data
 * and writes them, plus the record's byte span and its alignment end computed from the
 * CIGAR, into rows of a caller-owned numpy structured array (through the buffer
 * protocol: no numpy C API, so the module builds without numpy headers). The layout of a
 * row is exported as FIELDS so the Python side builds its dtype from this file and the
 * two can never disagree.
 *
 * Hostile input: every read is bounds-checked against the buffer; a record whose lengths
 * cannot be right raises WalkError(message, offset) and the Python side turns it into a
 * BamFormatError naming the file and the record's virtual offset. The GIL is released
 * while walking.
 *
 * Field positions and meanings: SAM/BAM specification (SAMv1) section 4.2; the
 * alignment end follows htslib's bam_endpos (unmapped, or no reference-consuming CIGAR
 * operation: pos + 1), and a CIGAR longer than 65535 operations stored as
 * "<l_seq>S<ref_len>N" plus a CG:B:I tag (SAMv1 4.2.2) is read from the tag.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One output row. The Python dtype is built from FIELDS (below), generated from this struct. */
typedef struct {
    int64_t offset;      /* byte offset of the record (its block_size field) in the buffer */
    int64_t end;         /* alignment end, 0-based exclusive (htslib bam_endpos) */
    uint64_t voffset;    /* virtual offset of the record; filled in by the Python side */
    int32_t size;        /* 4 + block_size: all of the record's bytes */
    int32_t ref_id;
    int32_t pos;
    int32_t l_seq;
    int32_t next_ref_id;
    int32_t next_pos;
    int32_t tlen;
    uint16_t flag;
    uint16_t bin;
    uint16_t n_cigar;
    uint8_t mapq;
    uint8_t l_read_name;
} record_fields;

/* SAMv1 4.2: block_size precedes 32 bytes of fixed fields */
#define FIXED_SIZE 32
#define FLAG_UNMAPPED 0x4
#define CIGAR_SOFT_CLIP 4
/* bit i set: CIGAR op i (MIDNSHP=X) consumes the reference: M D N = X */
#define CONSUMES_REF_MASK ((1u << 0) | (1u << 2) | (1u << 3) | (1u << 7) | (1u << 8))

static PyObject *WalkError;

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline int64_t ref_length(const uint8_t *cigar, uint32_t n_ops)
{
    int64_t rlen = 0;
    for (uint32_t i = 0; i < n_ops; i++) {
        uint32_t op = le32(cigar + 4 * (size_t)i);
        if ((op & 0xF) <= 8 && (CONSUMES_REF_MASK >> (op & 0xF)) & 1u)
            rlen += op >> 4;
    }
    return rlen;
}

/* Size of one element of a B-array subtype, 0 if the subtype is not valid. */
static inline size_t array_elem_size(uint8_t subtype)
{
    switch (subtype) {
    case 'c': case 'C': return 1;
    case 's': case 'S': return 2;
    case 'i': case 'I': case 'f': return 4;
    default: return 0;
    }
}

/*
 * Look for a CG:B:I (or CG:B:i) tag in the aux data [p, end).
 * Returns 1 and sets ops and n_ops when found, 0 when absent, -1 when the aux data is malformed.
 */
static int find_cg_tag(const uint8_t *p, const uint8_t *end, const uint8_t **ops, uint32_t *n_ops)
{
    while (p < end) {
        if (end - p < 3) return -1;
        uint8_t t0 = p[0], t1 = p[1], type = p[2];
        p += 3;
        size_t size;
        switch (type) {
        case 'A': case 'c': case 'C': size = 1; break;
        case 's': case 'S': size = 2; break;
        case 'i': case 'I': case 'f': size = 4; break;
        case 'Z': case 'H': {
            const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
            if (nul == NULL) return -1;
            p = nul + 1;
            continue;
        }
        case 'B': {
            if (end - p < 5) return -1;
            uint8_t subtype = p[0];
            uint32_t count = le32(p + 1);
            size_t elem = array_elem_size(subtype);
            if (elem == 0) return -1;
            uint64_t bytes = (uint64_t)count * elem;
            if (bytes > (uint64_t)(end - p - 5)) return -1;
            if (t0 == 'C' && t1 == 'G' && (subtype == 'I' || subtype == 'i')) {
                *ops = p + 5;
                *n_ops = count;
                return 1;
            }
            p += 5 + (size_t)bytes;
            continue;
        }
        default:
            return -1;
        }
        if ((size_t)(end - p) < size) return -1;
        p += size;
    }
    return 0;
}

typedef enum {
    WALK_OK = 0,
    WALK_BLOCK_SIZE_SMALL,
    WALK_BLOCK_SIZE_LARGE,
    WALK_NAME_EMPTY,
    WALK_SEQ_NEGATIVE,
    WALK_LENGTHS,
    WALK_NAME_UNTERMINATED,
    WALK_AUX_MALFORMED,
} walk_status;

static const char *walk_message(walk_status status)
{
    switch (status) {
    case WALK_BLOCK_SIZE_SMALL: return "record block_size is below the 32-byte minimum";
    case WALK_BLOCK_SIZE_LARGE: return "record block_size is above the record size limit";
    case WALK_NAME_EMPTY: return "record has l_read_name 0 (the name must hold at least its NUL)";
    case WALK_SEQ_NEGATIVE: return "record has a negative l_seq";
    case WALK_LENGTHS: return "record lengths (name, CIGAR, sequence, qualities) exceed its block_size";
    case WALK_NAME_UNTERMINATED: return "record read name is not NUL-terminated";
    case WALK_AUX_MALFORMED: return "record aux data is malformed";
    default: return "record is malformed";
    }
}

/*
 * The loop proper; runs without the GIL. Walks complete records in data[start, stop)
 * into out[0, capacity). Sets next to the offset after the last record walked, which on
 * an error is the offset of the bad record.
 */
static walk_status walk_records(const uint8_t *data, Py_ssize_t start, Py_ssize_t stop,
                                uint8_t *out, Py_ssize_t capacity, int64_t max_block_size,
                                Py_ssize_t *n_out, Py_ssize_t *next)
{
    Py_ssize_t pos = start, n = 0;
    walk_status status = WALK_OK;
    while (n < capacity && stop - pos >= 4) {
        const uint8_t *rec = data + pos;
        int64_t block_size = (int32_t)le32(rec);
        if (block_size < FIXED_SIZE) { status = WALK_BLOCK_SIZE_SMALL; break; }
        if (block_size > max_block_size) { status = WALK_BLOCK_SIZE_LARGE; break; }
        if (block_size > (int64_t)(stop - pos) - 4) break; /* incomplete: the caller brings more data */

        record_fields f;
        f.offset = pos;
        f.size = (int32_t)(block_size + 4);
        f.voffset = 0;
        f.ref_id = (int32_t)le32(rec + 4);
        f.pos = (int32_t)le32(rec + 8);
        f.l_read_name = rec[12];
        f.mapq = rec[13];
        f.bin = le16(rec + 14);
        f.n_cigar = le16(rec + 16);
        f.flag = le16(rec + 18);
        f.l_seq = (int32_t)le32(rec + 20);
        f.next_ref_id = (int32_t)le32(rec + 24);
        f.next_pos = (int32_t)le32(rec + 28);
        f.tlen = (int32_t)le32(rec + 32);

        if (f.l_read_name == 0) { status = WALK_NAME_EMPTY; break; }
        if (f.l_seq < 0) { status = WALK_SEQ_NEGATIVE; break; }
        int64_t cigar_at = 4 + FIXED_SIZE + (int64_t)f.l_read_name;
        int64_t aux_at = cigar_at + 4 * (int64_t)f.n_cigar + ((int64_t)f.l_seq + 1) / 2 + (int64_t)f.l_seq;
        if (aux_at > 4 + block_size) { status = WALK_LENGTHS; break; }
        if (rec[cigar_at - 1] != 0) { status = WALK_NAME_UNTERMINATED; break; }

        int64_t rlen = 0;
        if (!(f.flag & FLAG_UNMAPPED)) {
            const uint8_t *cigar = rec + cigar_at;
            uint32_t n_ops = f.n_cigar;
            if (n_ops > 0 && f.ref_id >= 0 && f.pos >= 0) {
                uint32_t first = le32(cigar);
                if ((first & 0xF) == CIGAR_SOFT_CLIP && (int64_t)(first >> 4) == (int64_t)f.l_seq) {
                    /* the placeholder of a long CIGAR: the real one is in CG:B:I */
                    const uint8_t *cg = NULL;
                    uint32_t cg_ops = 0;
                    int found = find_cg_tag(rec + aux_at, rec + 4 + block_size, &cg, &cg_ops);
                    if (found < 0) { status = WALK_AUX_MALFORMED; break; }
                    if (found > 0) { cigar = cg; n_ops = cg_ops; }
                }
            }
            rlen = ref_length(cigar, n_ops);
        }
        if (rlen == 0) rlen = 1;
        f.end = (int64_t)f.pos + rlen;

        memcpy(out + (size_t)n * sizeof(record_fields), &f, sizeof f);
        n++;
        pos += (Py_ssize_t)(4 + block_size);
    }
    *n_out = n;
    *next = pos;
    return status;
}

/*
 * Acquire the output rows: a writable, C-contiguous buffer of items exactly one
 * record_fields wide (a numpy array of RECORD_DTYPE). Checking the item size catches an
 * array whose dtype lost the struct's padding (np.concatenate can do that), which would
 * otherwise be filled with rows at the wrong stride.
 */
static int get_rows(PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS) < 0) return -1;
    if (view->itemsize != (Py_ssize_t)sizeof(record_fields) || !PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError,
                     "out must be a C-contiguous array of %zd-byte rows (RECORD_DTYPE), got item size %zd",
                     (Py_ssize_t)sizeof(record_fields), view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(walk_doc,
"walk(data, start, stop, out, max_block_size) -> (n_records, next_offset)\n"
"\n"
"Decode the fixed fields of the complete BAM records in data[start:stop] into the rows\n"
"of out (a writable C-contiguous buffer of rows laid out as FIELDS/ITEMSIZE describe),\n"
"stopping at the first incomplete record or when out is full. Returns how many rows were\n"
"written and the offset just after the last record walked (where the next one starts).\n"
"Raises WalkError(message, offset) for a record that cannot be valid.");

static PyObject *walk(PyObject *self, PyObject *args)
{
    Py_buffer data, out;
    PyObject *out_obj;
    Py_ssize_t start, stop;
    long long max_block_size;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnOL", &data, &start, &stop, &out_obj, &max_block_size))
        return NULL;
    if (get_rows(out_obj, &out) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = NULL;
    if (start < 0 || stop < start || stop > data.len) {
        PyErr_SetString(PyExc_ValueError, "walk: start/stop outside the data buffer");
        goto done;
    }
    if (max_block_size < FIXED_SIZE || max_block_size > INT32_MAX - 4) {
        PyErr_SetString(PyExc_ValueError, "walk: max_block_size outside 32..2^31-5");
        goto done;
    }
    Py_ssize_t capacity = out.len / (Py_ssize_t)sizeof(record_fields);
    Py_ssize_t n = 0, next = start;
    walk_status status;
    Py_BEGIN_ALLOW_THREADS
    status = walk_records((const uint8_t *)data.buf, start, stop, (uint8_t *)out.buf, capacity,
                          (int64_t)max_block_size, &n, &next);
    Py_END_ALLOW_THREADS
    if (status != WALK_OK) {
        PyObject *exc_args = Py_BuildValue("(sn)", walk_message(status), next);
        if (exc_args != NULL) {
            PyErr_SetObject(WalkError, exc_args);
            Py_DECREF(exc_args);
        }
        goto done;
    }
    result = Py_BuildValue("(nn)", n, next);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return result;
}

PyDoc_STRVAR(append_walk_doc,
"append_walk(dest, used, src, walk_from, out, n_out, max_block_size) -> (n_records, next_offset)\n"
"\n"
"Copy src into dest at offset used, then walk the complete records of dest[walk_from:used +\n"
"len(src)] into out[n_out:], exactly as walk() does. Copying a freshly inflated block and\n"
"walking the records it completes in one call reads every record header while it is\n"
"still in cache: the batch reader's join and walk cost about half as much this way.\n"
"Raises ValueError if src does not fit in dest, WalkError for a bad record.");

static PyObject *append_walk(PyObject *self, PyObject *args)
{
    Py_buffer dest, src, out;
    PyObject *out_obj;
    Py_ssize_t used, walk_from, n_done;
    long long max_block_size;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*ny*nOnL", &dest, &used, &src, &walk_from, &out_obj, &n_done, &max_block_size))
        return NULL;
    if (get_rows(out_obj, &out) < 0) {
        PyBuffer_Release(&dest);
        PyBuffer_Release(&src);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t capacity = out.len / (Py_ssize_t)sizeof(record_fields);
    if (used < 0 || src.len > dest.len - used) {
        PyErr_SetString(PyExc_ValueError, "append_walk: the data does not fit in the destination buffer");
        goto done;
    }
    if (walk_from < 0 || walk_from > used + src.len || n_done < 0 || n_done > capacity) {
        PyErr_SetString(PyExc_ValueError, "append_walk: walk_from or n_out outside the buffers");
        goto done;
    }
    if (max_block_size < FIXED_SIZE || max_block_size > INT32_MAX - 4) {
        PyErr_SetString(PyExc_ValueError, "append_walk: max_block_size outside 32..2^31-5");
        goto done;
    }
    Py_ssize_t n = 0, next = walk_from;
    walk_status status;
    Py_BEGIN_ALLOW_THREADS
    memcpy((uint8_t *)dest.buf + used, src.buf, (size_t)src.len);
    status = walk_records((const uint8_t *)dest.buf, walk_from, used + src.len,
                          (uint8_t *)out.buf + (size_t)n_done * sizeof(record_fields), capacity - n_done,
                          (int64_t)max_block_size, &n, &next);
    Py_END_ALLOW_THREADS
    if (status != WALK_OK) {
        PyObject *exc_args = Py_BuildValue("(sn)", walk_message(status), next);
        if (exc_args != NULL) {
            PyErr_SetObject(WalkError, exc_args);
            Py_DECREF(exc_args);
        }
        goto done;
    }
    result = Py_BuildValue("(nn)", n, next);
done:
    PyBuffer_Release(&dest);
    PyBuffer_Release(&src);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef walk_methods[] = {
    {"walk", walk, METH_VARARGS, walk_doc},
    {"append_walk", append_walk, METH_VARARGS, append_walk_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "_walk",
    "The BAM record walker (see src/bams3/bam/_walk.c).", -1, walk_methods,
    NULL, NULL, NULL, NULL,
};

/* FIELDS: ((name, numpy type string, byte offset), ...) describing one row of record_fields. */
static PyObject *build_fields(void)
{
#define FIELD(name, type) Py_BuildValue("(ssn)", #name, type, (Py_ssize_t)offsetof(record_fields, name))
    return PyTuple_Pack(
        15,
        FIELD(offset, "=i8"), FIELD(end, "=i8"), FIELD(voffset, "=u8"), FIELD(size, "=i4"),
        FIELD(ref_id, "=i4"), FIELD(pos, "=i4"), FIELD(l_seq, "=i4"), FIELD(next_ref_id, "=i4"),
        FIELD(next_pos, "=i4"), FIELD(tlen, "=i4"), FIELD(flag, "=u2"), FIELD(bin, "=u2"),
        FIELD(n_cigar, "=u2"), FIELD(mapq, "u1"), FIELD(l_read_name, "u1"));
#undef FIELD
}

PyMODINIT_FUNC PyInit__walk(void)
{
    PyObject *module = PyModule_Create(&walk_module);
    if (module == NULL) return NULL;
    WalkError = PyErr_NewExceptionWithDoc(
        "bams3.bam._walk.WalkError",
        "A BAM record that cannot be valid: args are (message, offset in the buffer).",
        PyExc_ValueError, NULL);
    if (WalkError == NULL || PyModule_AddObjectRef(module, "WalkError", WalkError) < 0) goto fail;
    PyObject *fields = build_fields();
    if (fields == NULL || PyModule_AddObject(module, "FIELDS", fields) < 0) { Py_XDECREF(fields); goto fail; }
    if (PyModule_AddIntConstant(module, "ITEMSIZE", (long)sizeof(record_fields)) < 0) goto fail;
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
