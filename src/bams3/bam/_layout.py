"""Named constants of the BGZF, BAM, BAI and CSI formats, with where the specs define them.

References are to the SAM/BAM Format Specification (samtools/hts-specs ``SAMv1.tex``,
version of 2024) and the CSI specification (``CSIv1.tex``). Numbers that are our own
choices rather than the spec's (limits that protect against hostile input) are marked
as such.
"""
from __future__ import annotations

# --- BGZF (SAMv1 §4.1 "The BGZF compression format") --------------------------------

#: gzip member magic, compression method "deflate" and flags "FEXTRA" (RFC 1952 §2.3.1)
GZIP_ID1 = 31
GZIP_ID2 = 139
GZIP_CM_DEFLATE = 8
GZIP_FLG_FEXTRA = 4
#: fixed part of a gzip member header before the extra field: ID1 ID2 CM FLG MTIME(4) XFL OS XLEN(2)
GZIP_FIXED_HEADER_SIZE = 12
#: offset of XLEN (uint16) in the gzip header
GZIP_XLEN_OFFSET = 10
#: the BGZF extra subfield: SI1='B', SI2='C', SLEN=2, then BSIZE (total block size - 1)
BGZF_SUBFIELD_ID = b"BC"
BGZF_SUBFIELD_LEN = 2
#: CRC32 (uint32) and ISIZE (uint32) close every member (RFC 1952 §2.3.1)
BGZF_TRAILER_SIZE = 8
#: header (12) + the BC subfield (6): the minimal header a BGZF block can have (SAMv1 §4.1)
BGZF_MIN_HEADER_SIZE = 18
#: a block, header and trailer included, is at most 64 KiB: BSIZE is a uint16 of size - 1 (SAMv1 §4.1)
BGZF_MAX_BLOCK_SIZE = 65536
#: ISIZE can never exceed 64 KiB either (SAMv1 §4.1: "the uncompressed data ... limited to 2^16 bytes");
#: a larger declared size is rejected before anything is allocated (decompression-bomb guard)
BGZF_MAX_ISIZE = 65536
#: htslib and samtools fill a block with at most 0xff00 bytes so that even incompressible data,
#: stored, fits in 64 KiB with header and trailer (htslib bgzf.h BGZF_BLOCK_SIZE)
BGZF_WRITE_BLOCK_SIZE = 0xFF00
#: the end-of-file marker: an empty block with these exact 28 bytes (SAMv1 §4.1.2)
BGZF_EOF_MARKER = bytes.fromhex(
    "1f8b08040000000000ff0600424302001b0003000000000000000000"
)

# --- Virtual file offsets (SAMv1 §4.1.1) ------------------------------------------------

#: coffset << 16 | uoffset
VIRTUAL_SHIFT = 16
VIRTUAL_UOFFSET_MASK = 0xFFFF
#: the compressed offset is 48 bits
VIRTUAL_MAX_COFFSET = (1 << 48) - 1

# --- BAM header (SAMv1 §4.2) --------------------------------------------------------------

BAM_MAGIC = b"BAM\x01"
#: our limits, not the spec's: far above any real header (a 100k-contig assembly has ~5 MB of
#: text) and small enough that a corrupt length cannot make us allocate gigabytes
MAX_HEADER_TEXT_BYTES = 256 * 1024 * 1024
MAX_REFERENCES = 50_000_000
MAX_REFERENCE_NAME_BYTES = 64 * 1024

# --- BAM alignment records (SAMv1 §4.2, the table of fields) -------------------------------

#: block_size (int32) precedes every record and counts the bytes after itself
RECORD_LENGTH_PREFIX = 4
#: refID .. tlen: the fixed fields after block_size, 32 bytes
RECORD_FIXED_SIZE = 32
#: our limit on one record's block_size (an ultra-long ONT read with methylation tags is ~20 MB)
MAX_RECORD_BYTES = 256 * 1024 * 1024
#: byte offsets of the fixed fields, counted from the start of block_size (noodles'
#: record_ref.rs names the same ranges); the C walker reads the same positions
OFFSET_REF_ID = 4
OFFSET_POS = 8
OFFSET_L_READ_NAME = 12
OFFSET_MAPQ = 13
OFFSET_BIN = 14
OFFSET_N_CIGAR_OP = 16
OFFSET_FLAG = 18
OFFSET_L_SEQ = 20
OFFSET_NEXT_REF_ID = 24
OFFSET_NEXT_POS = 28
OFFSET_TLEN = 32
OFFSET_READ_NAME = 36

#: CIGAR operations "MIDNSHP=X" are codes 0..8 (SAMv1 §4.2, cigar_op); M, D, N, = and X
#: consume the reference (SAMv1 §1.4.6, the "consumes reference" column)
CIGAR_OPS = "MIDNSHP=X"
CIGAR_CONSUMES_REFERENCE = frozenset({0, 2, 3, 7, 8})
#: n_cigar_op is a uint16; longer CIGARs are stored as "<l_seq>S<ref_len>N" with the real
#: CIGAR in a CG:B:I tag (SAMv1 §4.2.2 "N_CIGAR_OP field")
MAX_INLINE_CIGAR_OPS = 65535

# --- FLAG bits (SAMv1 §1.4.2) ---------------------------------------------------------------

FLAG_PAIRED = 0x1
FLAG_PROPER_PAIR = 0x2
FLAG_UNMAPPED = 0x4
FLAG_MATE_UNMAPPED = 0x8
FLAG_REVERSE = 0x10
FLAG_MATE_REVERSE = 0x20
FLAG_READ1 = 0x40
FLAG_READ2 = 0x80
FLAG_SECONDARY = 0x100
FLAG_QC_FAIL = 0x200
FLAG_DUPLICATE = 0x400
FLAG_SUPPLEMENTARY = 0x800

# --- BAI (SAMv1 §5.2) and CSI (CSIv1 §1.2) indexes -------------------------------------------

BAI_MAGIC = b"BAI\x01"
CSI_MAGIC = b"CSI\x01"
#: BAI is CSI with min_shift 14 (16 kbp windows) and depth 5 (SAMv1 §5.3)
BAI_MIN_SHIFT = 14
BAI_DEPTH = 5
#: the pseudo-bin holding per-reference metadata: ((1 << 3 * (depth + 1)) - 1) / 7 + 1,
#: 37450 for BAI (SAMv1 §5.2 "pseudo-bin")
BAI_PSEUDO_BIN = 37450
#: the pseudo-bin has exactly two "chunks": (ref_beg, ref_end) and (n_mapped, n_unmapped)
PSEUDO_BIN_CHUNKS = 2
