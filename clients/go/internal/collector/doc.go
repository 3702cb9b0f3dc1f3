// Package collector turns the kindling probe service's event stream into
// request and TCP metrics, through OpenTelemetry: the logic of the
// kindling-collector command.
//
// It follows each connection by its owner's descriptor (pid, fd) and its two
// ends, parses the payloads the service captured for socket reads and writes,
// and pairs each HTTP/1.x request with its response, on the server side
// (http.server.request.duration) and on the client side
// (http.client.request.duration), with routes templated to bound
// cardinality. It counts TCP connects with their outcome and latency,
// retransmissions, resets and drops, samples round-trip times, and counts
// its own input: events, the stream's losses, requests it could not pair.
// Metric names and attributes follow OpenTelemetry's semantic conventions
// and the collector specification the Python collector shares.
package collector
