/*
 * How records leave the kernel, chosen when the driver compiles the programs:
 *   - KINDLING_TRANSPORT_RINGBUF: the BPF ring buffer (Linux 5.8+), shared by
 *     all CPUs. Records are reserved in the ring and written in place.
 *   - otherwise: per-CPU perf buffers (any kernel that runs the probe).
 *     Records are written into a per-CPU scratch buffer, then copied out.
 * Either way, records come in three fixed sizes, each through its own
 * buffer, so the reader decodes a whole drain of a buffer with one numpy
 * view: short records (KINDLING_RECORD_SIZE), long ones that carry a string
 * (KINDLING_LONG_RECORD_SIZE) and data records that also carry bytes such as
 * a payload (KINDLING_DATA_RECORD_SIZE).
 *
 * The reader is never woken per record (that costs the traced process about
 * 20x): it drains on a timer, and is woken early only every
 * KINDLING_WAKEUP_RECORDS records of an event per CPU (ring buffer; the
 * caller says when) or once a perf buffer is filled to its watermark (set by
 * the reader).
 *
 * The programs use kindling_reserve() and kindling_commit() only; the record
 * class (KINDLING_SHORT, KINDLING_LONG, KINDLING_DATA) must be a constant at
 * each call site.
 */
#ifndef KINDLING_TRANSPORT_H
#define KINDLING_TRANSPORT_H

/* Record classes (record.py): the fixed part only; with a path area; with a
 * path and a data area. */
#define KINDLING_SHORT 0
#define KINDLING_LONG 1
#define KINDLING_DATA 2

#ifndef KINDLING_WAKEUP_RECORDS /* set by the driver for the ring buffer's size */
#define KINDLING_WAKEUP_RECORDS 1024
#endif

#ifdef KINDLING_TRANSPORT_RINGBUF

BPF_RINGBUF_OUTPUT(kindling_short, KINDLING_SHORT_PAGES);
BPF_RINGBUF_OUTPUT(kindling_long, KINDLING_LONG_PAGES);
BPF_RINGBUF_OUTPUT(kindling_data, KINDLING_DATA_PAGES);

static __always_inline struct kindling_record *kindling_reserve(int cls)
{
	if (cls == KINDLING_DATA)
		return kindling_data.ringbuf_reserve(KINDLING_DATA_RECORD_SIZE);
	if (cls == KINDLING_LONG)
		return kindling_long.ringbuf_reserve(KINDLING_LONG_RECORD_SIZE);
	return kindling_short.ringbuf_reserve(KINDLING_RECORD_SIZE);
}

/* Returns 0 (a reserved record can always be committed). */
static __always_inline int kindling_commit(void *ctx, struct kindling_record *r, int cls,
					   int wake)
{
	u64 flags = wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (cls == KINDLING_DATA)
		kindling_data.ringbuf_submit(r, flags);
	else if (cls == KINDLING_LONG)
		kindling_long.ringbuf_submit(r, flags);
	else
		kindling_short.ringbuf_submit(r, flags);
	return 0;
}

#else /* per-CPU perf buffers */

BPF_PERF_OUTPUT(kindling_short);
BPF_PERF_OUTPUT(kindling_long);
BPF_PERF_OUTPUT(kindling_data);
/* Records are too big for the BPF stack: build them here. */
BPF_PERCPU_ARRAY(kindling_scratch, struct kindling_record, 1);

static __always_inline struct kindling_record *kindling_reserve(int cls)
{
	u32 zero = 0;
	return kindling_scratch.lookup(&zero);
}

/* Returns 0, or a negative error when the buffer was full. */
static __always_inline int kindling_commit(void *ctx, struct kindling_record *r, int cls,
					   int wake)
{
	if (cls == KINDLING_DATA)
		return kindling_data.perf_submit(ctx, r, KINDLING_DATA_RECORD_SIZE);
	if (cls == KINDLING_LONG)
		return kindling_long.perf_submit(ctx, r, KINDLING_LONG_RECORD_SIZE);
	return kindling_short.perf_submit(ctx, r, KINDLING_RECORD_SIZE);
}

#endif

#endif /* KINDLING_TRANSPORT_H */
