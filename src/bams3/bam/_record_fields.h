/*
 * _record_fields.h -- one row of the BAM record table, shared by the C helpers.
 *
 * bams3.bam._walk writes these rows (one per record) into numpy arrays of
 * bams3.bam.records.RECORD_DTYPE, whose layout is built from this struct (_walk.FIELDS);
 * bams3.chunks._reduce reads them back. Both extensions are built from this one
 * definition, and both check a row array's item size against sizeof(record_fields).
 */
#ifndef BAMS3_RECORD_FIELDS_H
#define BAMS3_RECORD_FIELDS_H

#include <stdint.h>

typedef struct {
    int64_t offset;      /* byte offset of the record (its block_size field) in the buffer */
    int64_t end;         /* alignment end, 0-based exclusive (htslib bam_endpos) */
    uint64_t voffset;    /* virtual offset of the record (walk_blocks; 0 from walk) */
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

#endif /* BAMS3_RECORD_FIELDS_H */
