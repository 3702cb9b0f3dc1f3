/*
 * The two steps of event encoding that numpy does slowly, measured on the
 * service's pipeline (bench/pipeline.py, py-spy on the running service):
 *
 * - kindling_gather concatenates each row's segments. numpy needs an index
 *   array with one entry per output byte (about 8 ns a byte, for 100-byte
 *   events 0.8 us each, twice per event: encoding and framing); this copies
 *   segment by segment.
 * - kindling_varints writes protobuf varints a column at a time. numpy needs
 *   a (n, 10) table of shifted copies (about 35 ns a value, six columns an
 *   event); this writes each value's bytes directly.
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
