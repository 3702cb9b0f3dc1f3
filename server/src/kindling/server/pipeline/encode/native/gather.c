/*
 * The one step of event encoding that numpy does slowly: concatenating each
 * row's segments. numpy needs an index array with one entry per output byte
 * (about 8 ns a byte, for 100-byte events 0.8 us each, twice per event:
 * encoding and framing); this copies segment by segment.
 *
 * Segment (r, c) is lengths[c][r] bytes at sources[c] + starts[c][r]. For
 * each chosen row (rows[i], or i when rows is NULL), its segments are copied
 * in column order; offsets[i] gets where row i starts and offsets[count] the
 * total. `out` must hold the total, which the caller computed; the caller
 * also checked that every segment lies inside its source.
 *
 * Built by `make setup` (scripts/setup.sh) into libkindling_native.so beside
 * this file; without it, kindling.server.pipeline.encode.assemble uses numpy.
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
