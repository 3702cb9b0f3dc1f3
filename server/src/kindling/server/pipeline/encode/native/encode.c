/*
 * The steps of event encoding and framing that numpy does slowly, measured
 * on the service's pipeline (bench/pipeline.py, py-spy on the running service):
 *
 * - kindling_gather concatenates each row's segments. numpy needs an index
 *   array with one entry per output byte (about 8 ns a byte, for 100-byte
 *   events 0.8 us each, twice per event: encoding and framing); this copies
 *   segment by segment.
 * - kindling_varints writes protobuf varints a column at a time. numpy needs
 *   a (n, 10) table of shifted copies (about 35 ns a value, six columns an
 *   event); this writes each value's bytes directly.
 * - kindling_mask frames events through a stream's field mask (mask.py):
 *   numpy walks every event's fields in lock step, one numpy pass per field
 *   position; this walks each event once.
 *
 * Segment (r, c) is lengths[c][r] bytes at sources[c] + starts[c][r]. For
 * each chosen row (rows[i], or i when rows is NULL), its segments are copied
 * in column order; offsets[i] gets where row i starts and offsets[count] the
 * total. `out` must hold the total, which the caller computed; the caller
 * also checked that every segment lies inside its source.
 *
 * Built by `make setup` (scripts/setup.sh) into libkindling_native.so beside
 * this file; without it the encoder uses numpy, which writes the same bytes
 * (a unit test compares the two).
 */
#include <stdint.h>
#include <string.h>

int64_t kindling_gather(int64_t count, const int64_t *rows, int64_t columns,
			const uint8_t *const *sources, const int64_t *const *starts,
			const int64_t *const *lengths, uint8_t *out, int64_t *offsets)
{
	int64_t at = 0;
	for (int64_t i = 0; i < count; i++) {
		int64_t r = rows ? rows[i] : i;
		offsets[i] = at;
		for (int64_t c = 0; c < columns; c++) {
			int64_t n = lengths[c][r];
			if (n > 0) {
				memcpy(out + at, sources[c] + starts[c][r], (size_t)n);
				at += n;
			}
		}
	}
	offsets[count] = at;
	return at;
}

/*
 * Encode `count` uint64 values, `stride` bytes apart from `values`, as
 * varints: row i of `table` (10 bytes a row) gets value i's bytes and
 * sizes[i] how many there are.
 */
void kindling_varints(int64_t count, const uint8_t *values, int64_t stride, uint8_t *table,
		      int64_t *sizes)
{
	for (int64_t i = 0; i < count; i++) {
		uint64_t v;
		memcpy(&v, values + i * stride, sizeof(v));
		uint8_t *out = table + i * 10;
		int64_t n = 0;
		while (v >= 0x80) {
			out[n++] = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		out[n++] = (uint8_t)v;
		sizes[i] = n;
	}
}

/*
 * Field masks. Each event is blob[starts[i] : starts[i] + sizes[i]], its
 * mask row table[rows[i] * 64 ...] (mask.py: word f for field f, 0 drops
 * it, all ones keeps it, other bits keep those fields of the message inside
 * it; word 0 set keeps everything). For each event this writes the events
 * tag, the entry's length, the seq field (first_seq + i) and the fields the
 * row keeps, in their order; a message kept in part gets a new length.
 * offsets[i] gets where entry i starts and offsets[count] the total, which
 * is returned; -1 when an event is not valid protobuf. Nothing masked is
 * longer than the event, so `out` needs sum(sizes) + 22 * count bytes.
 */
#define MASK_WORDS 64
#define KEEP_ALL UINT64_MAX

/* A varint at p (bytes it takes, 0 when it runs past end or 10 bytes). */
static int64_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *value)
{
	uint64_t v = 0;
	for (int64_t k = 0; k < 10 && p + k < end; k++) {
		v |= (uint64_t)(p[k] & 0x7F) << (7 * k);
		if (p[k] < 0x80) {
			*value = v;
			return k + 1;
		}
	}
	return 0;
}

static int64_t put_varint(uint8_t *out, uint64_t v)
{
	int64_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

struct field {
	uint64_t number;
	int wire;
	int64_t tag_size; /* the tag's bytes */
	const uint8_t *body; /* a length-delimited field's contents */
	int64_t body_size;
	int64_t size; /* the whole field */
};

/* The field at p, or 0 when the bytes up to end hold no valid field. */
static int next_field(const uint8_t *p, const uint8_t *end, struct field *f)
{
	uint64_t tag, value;
	int64_t n = get_varint(p, end, &tag);
	if (!n || tag >> 3 == 0)
		return 0;
	f->number = tag >> 3;
	f->wire = (int)(tag & 7);
	f->tag_size = n;
	const uint8_t *q = p + n;
	switch (f->wire) {
	case 0:
		n = get_varint(q, end, &value);
		if (!n)
			return 0;
		f->body = q;
		f->body_size = n;
		break;
	case 1:
	case 5:
		f->body = q;
		f->body_size = f->wire == 1 ? 8 : 4;
		if (end - q < f->body_size)
			return 0;
		break;
	case 2:
		n = get_varint(q, end, &value);
		if (!n || value > (uint64_t)(end - q - n))
			return 0;
		f->body = q + n;
		f->body_size = (int64_t)value;
		break;
	default:
		return 0;
	}
	f->size = f->body + f->body_size - p;
	return 1;
}

/* The fields of the message in [p, end) whose bits are set (and those
 * numbered 64 and up), copied to out, or only measured when out is NULL. */
static int64_t kept_fields(const uint8_t *p, const uint8_t *end, uint64_t bits, uint8_t *out)
{
	int64_t at = 0;
	struct field f;
	while (p < end) {
		if (!next_field(p, end, &f))
			return -1;
		if (f.number >= MASK_WORDS || (bits >> f.number & 1)) {
			if (out)
				memcpy(out + at, p, (size_t)f.size);
			at += f.size;
		}
		p += f.size;
	}
	return at;
}

static int64_t mask_event(const uint8_t *p, const uint8_t *end, const uint64_t *row, uint8_t *out)
{
	if (row[0]) {
		memcpy(out, p, (size_t)(end - p));
		return end - p;
	}
	int64_t at = 0;
	struct field f;
	while (p < end) {
		if (!next_field(p, end, &f))
			return -1;
		uint64_t word = f.number < MASK_WORDS ? row[f.number] : KEEP_ALL;
		if (word == KEEP_ALL || (word && f.wire != 2)) {
			memcpy(out + at, p, (size_t)f.size);
			at += f.size;
		} else if (word) {
			/* Measured first: the new length goes in front. */
			const uint8_t *body_end = f.body + f.body_size;
			int64_t kept = kept_fields(f.body, body_end, word, NULL);
			if (kept < 0)
				return -1;
			memcpy(out + at, p, (size_t)f.tag_size);
			at += f.tag_size;
			at += put_varint(out + at, (uint64_t)kept);
			at += kept_fields(f.body, body_end, word, out + at);
		}
		p += f.size;
	}
	return at;
}

int64_t kindling_mask(int64_t count, const uint8_t *blob, const int64_t *starts,
		      const int64_t *sizes, const int64_t *rows, const uint64_t *table,
		      uint64_t first_seq, uint8_t events_tag, uint8_t seq_tag, uint8_t *out,
		      int64_t *offsets)
{
	int64_t at = 0;
	for (int64_t i = 0; i < count; i++) {
		offsets[i] = at;
		/* The entry's length goes first but is known last: the entry is
		 * written after room for the longest length, then moved back. */
		uint8_t *body = out + at + 11;
		int64_t n = 0;
		body[n++] = seq_tag;
		n += put_varint(body + n, first_seq + (uint64_t)i);
		const uint8_t *event = blob + starts[i];
		int64_t kept = mask_event(event, event + sizes[i], table + rows[i] * MASK_WORDS,
					  body + n);
		if (kept < 0)
			return -1;
		n += kept;
		out[at] = events_tag;
		int64_t length = put_varint(out + at + 1, (uint64_t)n);
		memmove(out + at + 1 + length, body, (size_t)n);
		at += 1 + length + n;
	}
	offsets[count] = at;
	return at;
}
