/*
 * _walk.c -- the BAM record walker behind bams3.bam.records.
 *
 * Walking BAM records is inherently sequential (each record's length is in its first four
 * bytes) and there are ~700 million of them in a 30x genome, so this one loop is in C:
 * walk() reads the fixed fields of every complete record in a buffer of inflated BAM data
 * and writes them, plus the record's byte span and its alignment end computed from the
 * CIGAR, into rows of a caller-owned numpy structured array (through the buffer
 * protocol: no numpy C API, so the module builds without numpy headers). The layout of a
 * row (_record_fields.h) is exported as FIELDS so the Python side builds its dtype from
 * this file and the two can never disagree. walk_blocks() does the same for a batch of
 * BGZF blocks and also gives each record its virtual offset and checks its reference ids,
 * in the same pass.
 *
 * Hostile input: every read is bounds-checked against the buffer; a record whose lengths
 * cannot be right raises WalkError(message, offset) (RefIdError for a reference id
 * outside the header's list) and the Python side turns it into a BamFormatError naming
 * the file and the record's virtual offset. The GIL is released while walking.
 *
 * BGZF (SAMv1 4.1) is handled here too, below the walker and knowing nothing of records:
 * scan_frames() locates the complete blocks of a slab of compressed bytes (checking each
 * header) and inflate_frames() inflates a run of them straight into a caller-owned buffer,
 * checking ISIZE and CRC32, with one call and the GIL released for megabytes of blocks.
 * inflate_frames() needs libdeflate (built with -DBAMS3_HAVE_LIBDEFLATE -ldeflate when
 * setup.py finds libdeflate.h); without it HAVE_LIBDEFLATE is False and bams3.bam.bgzf
 * inflates block by block with the `deflate` package instead.
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
#ifdef BAMS3_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* One output row (_record_fields.h). The Python dtype is built from FIELDS (below), generated from the struct. */
#include "_record_fields.h"

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
    WALK_REF_ID,           /* refID outside -1 .. n_references - 1 */
    WALK_NEXT_REF_ID,      /* next_refID outside -1 .. n_references - 1 */
} walk_status;

/*
 * What walk_blocks adds to walk: the batch's block table, to give every record its
 * virtual offset (SAMv1 4.1.1: the compressed offset of the block holding the record's
 * first byte << 16 | the offset in that block's data), and the header's reference
 * count, to check refID and next_refID as htslib does.
 */
typedef struct {
    const int64_t *starts;    /* where each block's data starts in the buffer, ascending */
    const int64_t *coffsets;  /* each block's compressed offset */
    Py_ssize_t n_blocks;      /* 0: leave voffset 0 */
    int64_t n_references;     /* < 0: no check */
    int64_t *histogram;       /* count_flags: count each record's flagstat key here instead of writing a row */
} walk_context;

static const walk_context NO_CONTEXT = {NULL, NULL, 0, -1, NULL};

/*
 * The key of bams3.bam.flagstat's histogram: every samtools flagstat counter depends only
 * on the 12 FLAG bits, on whether the mate is on another reference, and on MAPQ >= 5.
 */
#define FLAGSTAT_KEY_BITS 14
#define FLAGSTAT_KEYS (1 << FLAGSTAT_KEY_BITS)
static inline unsigned flagstat_key(const record_fields *f)
{
    return (f->flag & 0xFFFu) | ((unsigned)(f->ref_id != f->next_ref_id) << 12) | ((unsigned)(f->mapq >= 5) << 13);
}

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
                                const walk_context *ctx, Py_ssize_t *n_out, Py_ssize_t *next)
{
    Py_ssize_t pos = start, n = 0, block = 0;
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

        if (ctx->n_references >= 0) {
            if (f.ref_id < -1 || (int64_t)f.ref_id >= ctx->n_references) { status = WALK_REF_ID; break; }
            if (f.next_ref_id < -1 || (int64_t)f.next_ref_id >= ctx->n_references) { status = WALK_NEXT_REF_ID; break; }
        }
        if (ctx->n_blocks > 0) {
            /* the last block starting at or before the record (an empty block shares its start with the next) */
            while (block + 1 < ctx->n_blocks && ctx->starts[block + 1] <= (int64_t)pos) block++;
            f.voffset = ((uint64_t)ctx->coffsets[block] << 16) | (uint64_t)((int64_t)pos - ctx->starts[block]);
        }

        if (ctx->histogram != NULL)
            ctx->histogram[flagstat_key(&f)]++;
        else
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

/* Argument checks shared by the entry points; on failure a ValueError names the function. */
static int check_span(const char *fn, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t len)
{
    if (start < 0 || stop < start || stop > len) {
        PyErr_Format(PyExc_ValueError, "%s: start/stop outside the data buffer", fn);
        return -1;
    }
    return 0;
}

static int check_max_block_size(const char *fn, long long max_block_size)
{
    if (max_block_size < FIXED_SIZE || max_block_size > INT32_MAX - 4) {
        PyErr_Format(PyExc_ValueError, "%s: max_block_size outside 32..2^31-5", fn);
        return -1;
    }
    return 0;
}

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
    if (check_span("walk", start, stop, data.len) < 0) goto done;
    if (check_max_block_size("walk", max_block_size) < 0) goto done;
    Py_ssize_t capacity = out.len / (Py_ssize_t)sizeof(record_fields);
    Py_ssize_t n = 0, next = start;
    walk_status status;
    Py_BEGIN_ALLOW_THREADS
    status = walk_records((const uint8_t *)data.buf, start, stop, (uint8_t *)out.buf, capacity,
                          (int64_t)max_block_size, &NO_CONTEXT, &n, &next);
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

static PyObject *RefIdError;

/* Raise WalkError(message, offset), or RefIdError(field, value, offset) for a reference id. */
static void set_walk_error(walk_status status, const uint8_t *data, Py_ssize_t offset)
{
    PyObject *exc_args;
    if (status == WALK_REF_ID || status == WALK_NEXT_REF_ID) {
        int at = status == WALK_REF_ID ? 4 : 24; /* refID / next_refID after block_size (SAMv1 4.2) */
        exc_args = Py_BuildValue("(sin)", status == WALK_REF_ID ? "ref_id" : "next_ref_id",
                                 (int)(int32_t)le32(data + offset + at), offset);
        if (exc_args != NULL) {
            PyErr_SetObject(RefIdError, exc_args);
            Py_DECREF(exc_args);
        }
        return;
    }
    exc_args = Py_BuildValue("(sn)", walk_message(status), offset);
    if (exc_args != NULL) {
        PyErr_SetObject(WalkError, exc_args);
        Py_DECREF(exc_args);
    }
}

PyDoc_STRVAR(walk_blocks_doc,
"walk_blocks(data, start, stop, out, max_block_size, starts, coffsets, n_references) -> (n_records, next_offset)\n"
"\n"
"walk() for a batch of inflated BGZF blocks: also fills each row's voffset from the block\n"
"table (starts: where each block's data begins in data, ascending, starts[0] <= start;\n"
"coffsets: each block's compressed offset; both int64 buffers of the same length), and\n"
"checks that refID and next_refID are -1 or below n_references. Raises WalkError(message,\n"
"offset) for a malformed record, RefIdError(field, value, offset) for a reference id\n"
"outside the header's list.");

static PyObject *walk_blocks(PyObject *self, PyObject *args)
{
    Py_buffer data, out, starts, coffsets;
    PyObject *out_obj;
    Py_ssize_t start, stop;
    long long max_block_size, n_references;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnOLy*y*L", &data, &start, &stop, &out_obj, &max_block_size, &starts, &coffsets,
                          &n_references))
        return NULL;
    PyObject *result = NULL;
    int have_rows = 0;
    if (get_rows(out_obj, &out) < 0) goto done;
    have_rows = 1;
    if (check_span("walk_blocks", start, stop, data.len) < 0) goto done;
    if (check_max_block_size("walk_blocks", max_block_size) < 0) goto done;
    Py_ssize_t n_blocks = starts.len / (Py_ssize_t)sizeof(int64_t);
    if (starts.len != coffsets.len || starts.len % (Py_ssize_t)sizeof(int64_t) != 0 || n_blocks == 0 ||
        ((uintptr_t)starts.buf % sizeof(int64_t)) != 0 || ((uintptr_t)coffsets.buf % sizeof(int64_t)) != 0 ||
        ((const int64_t *)starts.buf)[0] > (int64_t)start) {
        PyErr_SetString(PyExc_ValueError,
                        "walk_blocks: starts and coffsets must be aligned int64 buffers of one length, starts[0] <= start");
        goto done;
    }
    if (n_references < 0 || n_references > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "walk_blocks: n_references outside 0..2^31-1");
        goto done;
    }
    walk_context ctx = {(const int64_t *)starts.buf, (const int64_t *)coffsets.buf, n_blocks, (int64_t)n_references, NULL};
    Py_ssize_t capacity = out.len / (Py_ssize_t)sizeof(record_fields);
    Py_ssize_t n = 0, next = start;
    walk_status status;
    Py_BEGIN_ALLOW_THREADS
    status = walk_records((const uint8_t *)data.buf, start, stop, (uint8_t *)out.buf, capacity,
                          (int64_t)max_block_size, &ctx, &n, &next);
    Py_END_ALLOW_THREADS
    if (status != WALK_OK) {
        set_walk_error(status, (const uint8_t *)data.buf, next);
        goto done;
    }
    result = Py_BuildValue("(nn)", n, next);
done:
    PyBuffer_Release(&data);
    if (have_rows) PyBuffer_Release(&out);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&coffsets);
    return result;
}

PyDoc_STRVAR(count_flags_doc,
"count_flags(data, start, stop, max_block_size, n_references, histogram) -> (n_records, next_offset)\n"
"\n"
"Walk the complete records of data[start:stop] with every check of walk_blocks, and instead\n"
"of writing rows add one to histogram[key] for each (histogram: a writable buffer of\n"
"FLAGSTAT_KEYS int64; key: the 12 FLAG bits, bit 12 'mate on another reference', bit 13\n"
"'MAPQ >= 5'). What bams3 flagstat needs, without numpy. Raises WalkError or RefIdError\n"
"as walk_blocks does.");

static PyObject *count_flags(PyObject *self, PyObject *args)
{
    Py_buffer data, histogram;
    Py_ssize_t start, stop;
    long long max_block_size, n_references;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnLLw*", &data, &start, &stop, &max_block_size, &n_references, &histogram))
        return NULL;
    PyObject *result = NULL;
    if (check_span("count_flags", start, stop, data.len) < 0) goto done;
    if (check_max_block_size("count_flags", max_block_size) < 0) goto done;
    if (n_references < 0 || n_references > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "count_flags: n_references outside 0..2^31-1");
        goto done;
    }
    if (histogram.len != FLAGSTAT_KEYS * (Py_ssize_t)sizeof(int64_t) || ((uintptr_t)histogram.buf % sizeof(int64_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "count_flags: histogram must be an aligned buffer of FLAGSTAT_KEYS int64");
        goto done;
    }
    walk_context ctx = {NULL, NULL, 0, (int64_t)n_references, (int64_t *)histogram.buf};
    Py_ssize_t n = 0, next = start;
    walk_status status;
    Py_BEGIN_ALLOW_THREADS
    status = walk_records((const uint8_t *)data.buf, start, stop, NULL, PY_SSIZE_T_MAX, (int64_t)max_block_size, &ctx,
                          &n, &next);
    Py_END_ALLOW_THREADS
    if (status != WALK_OK) {
        set_walk_error(status, (const uint8_t *)data.buf, next);
        goto done;
    }
    result = Py_BuildValue("(nn)", n, next);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&histogram);
    return result;
}

PyDoc_STRVAR(new_buffer_doc,
"new_buffer(size) -> bytearray\n"
"\n"
"A bytearray of size bytes whose contents are not initialised (bytearray(size) writes\n"
"zeros first: for buffers about to be filled by inflate or a read, that is a wasted pass\n"
"over every byte of the file). Read only what has been written.");

static PyObject *new_buffer(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) return NULL;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "new_buffer: negative size");
        return NULL;
    }
    return PyByteArray_FromStringAndSize(NULL, size);
}

/* ---- BGZF frames (SAMv1 4.1; gzip member layout RFC 1952 2.3.1) ------------------------- */

#define GZIP_FIXED_HEADER 12        /* ID1 ID2 CM FLG MTIME(4) XFL OS XLEN(2) */
#define BGZF_MIN_HEADER 18          /* the fixed part plus the 6-byte BC subfield */
#define BGZF_TRAILER 8              /* CRC32, ISIZE */
#define BGZF_MAX_ISIZE 65536        /* SAMv1 4.1: inflated data is at most 64 KiB */
#define FRAME_COLUMNS 4             /* scan_frames rows: position, block size, isize, header size */

typedef enum {
    FRAME_OK = 0,          /* stopped at the end of the data, at an incomplete frame, or with the table full */
    FRAME_BAD_HEADER = 1,  /* not a BGZF header (bams3.bam.bgzf.parse_header names the problem) */
    FRAME_BAD_ISIZE = 2,   /* ISIZE above 64 KiB */
    FRAME_INCOMPLETE = 3,  /* internal: the frame continues past the data */
} frame_status;

/*
 * Check the block header at p (avail bytes readable) and give its header and block sizes.
 * Accepts what bgzf.parse_header accepts: gzip magic, CM 8, FEXTRA, and a BC subfield of
 * length 2 anywhere in the extra field; the block must hold its header and trailer.
 */
static frame_status parse_frame_header(const uint8_t *p, Py_ssize_t avail, int64_t *header_size, int64_t *block_size)
{
    static const uint8_t common[16] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0, 6, 0, 'B', 'C', 2, 0};
    if (avail < BGZF_MIN_HEADER) {
        /* too short to tell, unless what is there is already wrong */
        if ((avail >= 1 && p[0] != 0x1f) || (avail >= 2 && p[1] != 0x8b)) return FRAME_BAD_HEADER;
        return FRAME_INCOMPLETE;
    }
    int64_t hsize, bsize;
    if (memcmp(p, common, 4) == 0 && memcmp(p + 10, common + 10, 6) == 0) {
        hsize = BGZF_MIN_HEADER;
        bsize = (int64_t)le16(p + 16) + 1;
    } else {
        if (p[0] != 0x1f || p[1] != 0x8b || p[2] != 8 || !(p[3] & 4)) return FRAME_BAD_HEADER;
        int64_t xlen = le16(p + 10);
        if (avail < GZIP_FIXED_HEADER + xlen) return FRAME_INCOMPLETE;
        const uint8_t *extra = p + GZIP_FIXED_HEADER;
        int64_t q = 0;
        bsize = -1;
        while (q + 4 <= xlen) {
            int64_t slen = le16(extra + q + 2);
            if (extra[q] == 'B' && extra[q + 1] == 'C' && slen == 2 && q + 6 <= xlen) {
                bsize = (int64_t)le16(extra + q + 4) + 1;
                break;
            }
            q += 4 + slen;
        }
        if (bsize < 0) return FRAME_BAD_HEADER;
        hsize = GZIP_FIXED_HEADER + xlen;
    }
    if (bsize < hsize + BGZF_TRAILER) return FRAME_BAD_HEADER;
    *header_size = hsize;
    *block_size = bsize;
    return FRAME_OK;
}

/* The frame scanner proper (no GIL): rows of FRAME_COLUMNS int64 into table[0, capacity). */
static frame_status scan_frames_loop(const uint8_t *data, Py_ssize_t start, Py_ssize_t stop, int64_t *table,
                                     Py_ssize_t capacity, Py_ssize_t *n_out, Py_ssize_t *next)
{
    Py_ssize_t pos = start, n = 0;
    frame_status status = FRAME_OK;
    while (n < capacity && pos < stop) {
        int64_t hsize = 0, bsize = 0;
        status = parse_frame_header(data + pos, stop - pos, &hsize, &bsize);
        if (status == FRAME_INCOMPLETE) { status = FRAME_OK; break; }
        if (status != FRAME_OK) break;
        if (bsize > (int64_t)(stop - pos)) break; /* incomplete: the caller brings more data */
        uint32_t isize = le32(data + pos + bsize - 4);
        if (isize > BGZF_MAX_ISIZE) { status = FRAME_BAD_ISIZE; break; }
        int64_t *row = table + (size_t)n * FRAME_COLUMNS;
        row[0] = pos;
        row[1] = bsize;
        row[2] = isize;
        row[3] = hsize;
        n++;
        pos += (Py_ssize_t)bsize;
    }
    *n_out = n;
    *next = pos;
    return status;
}

PyDoc_STRVAR(scan_frames_doc,
"scan_frames(data, start, stop, table) -> (n_frames, next_offset, status)\n"
"\n"
"Locate the complete BGZF blocks in data[start:stop], checking each header, and write one\n"
"row of four int64 per block into table (a writable buffer of int64, FRAME_COLUMNS per\n"
"row): its offset in data, its size (BSIZE + 1), its ISIZE, its header size. Stops at the\n"
"end of the data, at a block that continues past stop, when table is full, or at a bad\n"
"block. Returns the rows written, the offset where scanning stopped (the next block, or\n"
"the bad one) and a status: 0 none bad, FRAME_BAD_HEADER, FRAME_BAD_ISIZE.");

static PyObject *scan_frames(PyObject *self, PyObject *args)
{
    Py_buffer data, table;
    Py_ssize_t start, stop;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnw*", &data, &start, &stop, &table)) return NULL;
    PyObject *result = NULL;
    if (check_span("scan_frames", start, stop, data.len) < 0) goto done;
    if (table.len % (Py_ssize_t)(FRAME_COLUMNS * sizeof(int64_t)) != 0 || ((uintptr_t)table.buf % sizeof(int64_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "scan_frames: table must be an aligned int64 buffer of FRAME_COLUMNS columns");
        goto done;
    }
    Py_ssize_t capacity = table.len / (Py_ssize_t)(FRAME_COLUMNS * sizeof(int64_t));
    Py_ssize_t n = 0, next = start;
    frame_status status;
    Py_BEGIN_ALLOW_THREADS
    status = scan_frames_loop((const uint8_t *)data.buf, start, stop, (int64_t *)table.buf, capacity, &n, &next);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(nni)", n, next, (int)status);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    return result;
}

#ifdef BAMS3_HAVE_LIBDEFLATE

typedef enum {
    INFLATE_OK = 0,
    INFLATE_BAD_HEADER = 1,  /* the block is not what scan_frames saw: the data changed under us */
    INFLATE_BAD_ISIZE = 2,
    INFLATE_CORRUPT = 3,     /* the deflate data does not inflate (or inflates past ISIZE) */
    INFLATE_SIZE = 4,        /* inflated to fewer bytes than ISIZE; detail: how many */
    INFLATE_CRC = 5,
    INFLATE_NO_ROOM = 6,     /* dest cannot hold the block (a caller error) */
    INFLATE_NO_MEMORY = 7,
} inflate_status;

/*
 * Inflate the consecutive complete blocks of data[start, stop) into dest at *dest_pos (no
 * GIL). On return *n_out blocks are good, *pos is where the next (or the bad) block
 * starts, *dest_pos is after the last good block's data; detail carries the inflated
 * size of an ISIZE mismatch.
 */
static inflate_status inflate_frames_loop(const uint8_t *data, Py_ssize_t start, Py_ssize_t stop, uint8_t *dest,
                                          Py_ssize_t dest_len, Py_ssize_t *dest_pos, Py_ssize_t *n_out,
                                          Py_ssize_t *pos_out, Py_ssize_t *detail)
{
    struct libdeflate_decompressor *z = libdeflate_alloc_decompressor();
    if (z == NULL) return INFLATE_NO_MEMORY;
    Py_ssize_t pos = start, out = *dest_pos, n = 0;
    inflate_status status = INFLATE_OK;
    while (pos < stop) {
        int64_t hsize = 0, bsize = 0;
        if (parse_frame_header(data + pos, stop - pos, &hsize, &bsize) != FRAME_OK || bsize > (int64_t)(stop - pos)) {
            status = INFLATE_BAD_HEADER;
            break;
        }
        const uint8_t *trailer = data + pos + bsize - BGZF_TRAILER;
        uint32_t crc = le32(trailer), isize = le32(trailer + 4);
        if (isize > BGZF_MAX_ISIZE) { status = INFLATE_BAD_ISIZE; break; }
        if ((Py_ssize_t)isize > dest_len - out) { status = INFLATE_NO_ROOM; break; }
        size_t actual = 0;
        enum libdeflate_result r = libdeflate_deflate_decompress(
            z, data + pos + hsize, (size_t)(bsize - hsize - BGZF_TRAILER), dest + out, isize, &actual);
        if (r != LIBDEFLATE_SUCCESS) { status = INFLATE_CORRUPT; break; }
        if (actual != isize) { status = INFLATE_SIZE; *detail = (Py_ssize_t)actual; break; }
        if (libdeflate_crc32(0, dest + out, isize) != crc) { status = INFLATE_CRC; break; }
        out += (Py_ssize_t)isize;
        pos += (Py_ssize_t)bsize;
        n++;
    }
    libdeflate_free_decompressor(z);
    *dest_pos = out;
    *n_out = n;
    *pos_out = pos;
    return status;
}

PyDoc_STRVAR(inflate_frames_doc,
"inflate_frames(data, start, stop, dest, dest_pos) -> (n_blocks, next_offset, dest_end, status, detail)\n"
"\n"
"Inflate the whole BGZF blocks that fill data[start:stop] (as scan_frames found them) one\n"
"after the other into dest (a writable buffer) from dest_pos, checking each block's ISIZE\n"
"and CRC32, with the GIL released. Returns how many blocks are good, where the next (or\n"
"the bad) block starts in data, the end of the good data in dest, a status (0: all good,\n"
"else INFLATE_BAD_HEADER, INFLATE_BAD_ISIZE, INFLATE_CORRUPT, INFLATE_SIZE with detail\n"
"the inflated size, INFLATE_CRC) for the caller to name the file and block. Raises\n"
"ValueError if dest is too small, MemoryError if no decompressor can be allocated.");

static PyObject *inflate_frames(PyObject *self, PyObject *args)
{
    Py_buffer data, dest;
    Py_ssize_t start, stop, dest_pos;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnw*n", &data, &start, &stop, &dest, &dest_pos)) return NULL;
    PyObject *result = NULL;
    if (check_span("inflate_frames", start, stop, data.len) < 0) goto done;
    if (dest_pos < 0 || dest_pos > dest.len) {
        PyErr_SetString(PyExc_ValueError, "inflate_frames: dest_pos outside the destination buffer");
        goto done;
    }
    Py_ssize_t n = 0, next = start, detail = 0, out = dest_pos;
    inflate_status status;
    Py_BEGIN_ALLOW_THREADS
    status = inflate_frames_loop((const uint8_t *)data.buf, start, stop, (uint8_t *)dest.buf, dest.len, &out, &n,
                                 &next, &detail);
    Py_END_ALLOW_THREADS
    if (status == INFLATE_NO_ROOM) {
        PyErr_SetString(PyExc_ValueError, "inflate_frames: the destination buffer cannot hold the blocks");
        goto done;
    }
    if (status == INFLATE_NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(nnnin)", n, next, out, (int)status, detail);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&dest);
    return result;
}

#endif /* BAMS3_HAVE_LIBDEFLATE */

static PyMethodDef walk_methods[] = {
    {"walk", walk, METH_VARARGS, walk_doc},
    {"walk_blocks", walk_blocks, METH_VARARGS, walk_blocks_doc},
    {"count_flags", count_flags, METH_VARARGS, count_flags_doc},
    {"new_buffer", new_buffer, METH_O, new_buffer_doc},
    {"scan_frames", scan_frames, METH_VARARGS, scan_frames_doc},
#ifdef BAMS3_HAVE_LIBDEFLATE
    {"inflate_frames", inflate_frames, METH_VARARGS, inflate_frames_doc},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "_walk",
    "The BAM record walker and the BGZF frame scanner and inflater (see src/bams3/bam/_walk.c).", -1, walk_methods,
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
    RefIdError = PyErr_NewExceptionWithDoc(
        "bams3.bam._walk.RefIdError",
        "A record whose refID or next_refID is outside the header's list: args are (field, value, offset).",
        PyExc_ValueError, NULL);
    if (RefIdError == NULL || PyModule_AddObjectRef(module, "RefIdError", RefIdError) < 0) goto fail;
    PyObject *fields = build_fields();
    if (fields == NULL || PyModule_AddObject(module, "FIELDS", fields) < 0) { Py_XDECREF(fields); goto fail; }
    if (PyModule_AddIntConstant(module, "ITEMSIZE", (long)sizeof(record_fields)) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "FLAGSTAT_KEYS", FLAGSTAT_KEYS) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "FRAME_COLUMNS", FRAME_COLUMNS) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "FRAME_BAD_HEADER", FRAME_BAD_HEADER) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "FRAME_BAD_ISIZE", FRAME_BAD_ISIZE) < 0) goto fail;
#ifdef BAMS3_HAVE_LIBDEFLATE
    if (PyModule_AddObjectRef(module, "HAVE_LIBDEFLATE", Py_True) < 0) goto fail;
    if (PyModule_AddStringConstant(module, "LIBDEFLATE_VERSION", LIBDEFLATE_VERSION_STRING) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "INFLATE_BAD_HEADER", INFLATE_BAD_HEADER) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "INFLATE_BAD_ISIZE", INFLATE_BAD_ISIZE) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "INFLATE_CORRUPT", INFLATE_CORRUPT) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "INFLATE_SIZE", INFLATE_SIZE) < 0) goto fail;
    if (PyModule_AddIntConstant(module, "INFLATE_CRC", INFLATE_CRC) < 0) goto fail;
#else
    if (PyModule_AddObjectRef(module, "HAVE_LIBDEFLATE", Py_False) < 0) goto fail;
#endif
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
