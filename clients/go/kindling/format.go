package kindling

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// TimeLayout is the layout of the wall-clock time that starts each line of
// [FormatCompact]: UTC with microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// RFC3339Nano is the layout of the time of a [FormatJSON] line: RFC 3339
// in UTC with all nine digits of nanoseconds.
const RFC3339Nano = "2006-01-02T15:04:05.000000000Z"

// JSONOptions are the protojson options of [FormatJSON]: proto field names
// (timestamp_ns, as grpcurl writes them), and fields without presence
// written even when zero, false or empty.
var JSONOptions = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// FormatJSON renders ev as one line of JSON, without a trailing newline:
// "time" (bootTime plus the event's timestamp_ns, see [RFC3339Nano]) and
// "node", then the event's fields as [JSONOptions] write them, for example
//
//	{"time":"2024-05-01T12:00:00.000000123Z","node":"node-a","seq":"1","timestamp_ns":"123",...}
//
// Pass the boot time and node name of the SubscribeResponse that carried
// the event. The Python client's format_json_event writes the same bytes.
func FormatJSON(ev *eventv1.Event, bootTime time.Time, node string) ([]byte, error) {
	fields, err := JSONOptions.Marshal(ev)
	if err != nil {
		return nil, err
	}
	wall := bootTime.Add(time.Duration(ev.GetTimestampNs())).UTC().Format(RFC3339Nano)
	// The node goes through protojson too, so that every string of the line
	// is escaped alike.
	nodeJSON, err := protojson.Marshal(wrapperspb.String(node))
	if err != nil {
		return nil, err
	}
	var line bytes.Buffer
	line.WriteString(`{"time":"` + wall + `","node":`)
	line.Write(nodeJSON)
	if rest := bytes.TrimSpace(fields[1:]); len(rest) > 1 { // fields is {...}
		line.WriteByte(',')
		line.Write(rest)
	} else {
		line.WriteByte('}')
	}
	// protojson deliberately makes its whitespace unstable; Compact removes
	// all of it, which also guarantees a single line.
	var buf bytes.Buffer
	if err := json.Compact(&buf, line.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FormatCompact renders ev as one human-readable line without a trailing
// newline:
//
//	<wall time> <name> <comm>[<pid>/<tid>] ret=<return value> lat=<latency> fd=<num> <fd> <key>=<value>...
//
// for example
//
//	2024-05-01T12:00:00.000123Z connect curl[42/42] ret=0 lat=12.3us fd=3 tcp 10.0.0.1:51000->93.184.216.34:443
//
// The wall time is bootTime plus ev's timestamp_ns, in UTC (see
// [TimeLayout]); pass the boot time of the SubscribeResponse that carried
// the event. ret= and lat= appear only for syscall exit events, and lat=
// only when the latency is known (see [FormatLatency]). The fd part appears
// only when the event has a file descriptor; it is described by
// [FormatFd]. Each attribute follows as key=value (see [FormatAttribute]),
// then the payload, when the event carries one, as payload="..." (quoted by
// [strconv.Quote]) and, when it was cut, payload_length=<bytes moved>.
// Parts that are empty are left out, with no extra spaces.
func FormatCompact(ev *eventv1.Event, bootTime time.Time) string {
	return CompactOptions{}.Format(ev, bootTime)
}

// ANSI SGR codes of the coloured compact line.
const (
	ansiDim   = "\x1b[2m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiReset = "\x1b[0m"
)

// CompactOptions are the options of a compact line.
type CompactOptions struct {
	// Color makes the time dim, the name bold and a negative return value
	// red, with ANSI codes.
	Color bool
}

// Format renders ev as [FormatCompact] does, with the options o.
func (o CompactOptions) Format(ev *eventv1.Event, bootTime time.Time) string {
	paint := func(code, s string) string {
		if !o.Color || s == "" {
			return s
		}
		return code + s + ansiReset
	}
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	wall := bootTime.Add(time.Duration(ev.GetTimestampNs()))
	add(paint(ansiDim, wall.UTC().Format(TimeLayout)))
	add(paint(ansiBold, ev.GetName()))
	if th := ev.GetThread(); th != nil {
		add(quoteIfUnprintable(th.GetComm()) + "[" +
			strconv.FormatUint(uint64(th.GetPid()), 10) + "/" +
			strconv.FormatUint(uint64(th.GetTid()), 10) + "]")
	}
	if ev.GetSource() == eventv1.Source_SOURCE_SYSCALL_EXIT {
		ret := ev.GetReturnValue()
		text := "ret=" + strconv.FormatInt(ret, 10)
		if ret < 0 {
			if name := ErrnoName(-ret); name != "" {
				text += " " + name
			}
			text = paint(ansiRed, text)
		}
		add(text)
		if lat := ev.GetLatencyNs(); lat > 0 {
			add("lat=" + FormatLatency(lat))
		}
	}
	for _, part := range details(ev) {
		add(part)
	}
	return strings.Join(parts, " ")
}

// details returns the fd, attribute and payload parts of a compact line
// (the DETAILS of a table row).
func details(ev *eventv1.Event) []string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	var shown map[string][]any
	if fd := ev.GetFd(); fd != nil {
		add("fd=" + strconv.FormatInt(int64(fd.GetNum()), 10))
		add(FormatFd(fd))
		shown = shownByFd(fd)
	}
	for _, a := range ev.GetAttributes() {
		v := attributeValue(a)
		if v != nil && slices.Contains(shown[a.GetKey()], v) {
			continue // the fd part shows it already
		}
		text := ""
		if n, ok := v.(int64); ok {
			text = SymbolicAttribute(ev.GetName(), a.GetKey(), n)
		}
		if text == "" {
			text = FormatAttribute(a)
		}
		add(a.GetKey() + "=" + text)
	}
	if length := ev.GetPayloadLength(); length > 0 {
		add("payload=" + strconv.Quote(string(ev.GetPayload())))
		if uint64(len(ev.GetPayload())) < length {
			add("payload_length=" + strconv.FormatUint(length, 10))
		}
	}
	return parts
}

// TableHeader is the first line of -o table; [FormatTableRow] pads to its
// columns.
const TableHeader = "TIME                        EVENT            PROCESS                  RET          LATENCY  DETAILS"

// FormatTableRow renders ev as one row of -o table (see [TableHeader]): the
// columns hold what a compact line shows, without the ret= and lat= labels;
// a value wider than its column pushes the rest right.
func FormatTableRow(ev *eventv1.Event, bootTime time.Time) string {
	process := ""
	if th := ev.GetThread(); th != nil {
		process = quoteIfUnprintable(th.GetComm()) + "[" +
			strconv.FormatUint(uint64(th.GetPid()), 10) + "/" +
			strconv.FormatUint(uint64(th.GetTid()), 10) + "]"
	}
	ret, latency := "", ""
	if ev.GetSource() == eventv1.Source_SOURCE_SYSCALL_EXIT {
		ret = strconv.FormatInt(ev.GetReturnValue(), 10)
		if ev.GetReturnValue() < 0 {
			if name := ErrnoName(-ev.GetReturnValue()); name != "" {
				ret += " " + name
			}
		}
		if lat := ev.GetLatencyNs(); lat > 0 {
			latency = FormatLatency(lat)
		}
	}
	wall := bootTime.Add(time.Duration(ev.GetTimestampNs())).UTC().Format(TimeLayout)
	row := pad(wall, 27) + " " + pad(ev.GetName(), 16) + " " + pad(process, 24) + " " +
		pad(ret, 12) + " " + pad(latency, 8) + " " + strings.Join(details(ev), " ")
	return strings.TrimRight(row, " ")
}

// pad fills s with spaces to width characters (not bytes).
func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// shownByFd returns the attribute values the fd part of a compact line
// shows, by attribute key, as [attributeValue] returns them.
func shownByFd(fd *eventv1.Fd) map[string][]any {
	switch fd.GetType() {
	case eventv1.FdType_FD_TYPE_FILE, eventv1.FdType_FD_TYPE_DIRECTORY:
		if fd.GetPath() != "" {
			return map[string][]any{"path": {fd.GetPath()}}
		}
	case eventv1.FdType_FD_TYPE_UNIX_SOCKET:
		if fd.GetUnixPath() != "" {
			return map[string][]any{"path": {fd.GetUnixPath()}}
		}
	case eventv1.FdType_FD_TYPE_IPV4_SOCKET, eventv1.FdType_FD_TYPE_IPV6_SOCKET:
		var addresses, ports []any
		for _, end := range []*eventv1.Endpoint{fd.GetSource(), fd.GetDestination()} {
			if end.GetAddress() != "" || end.GetPort() != 0 {
				addresses = append(addresses, end.GetAddress())
				ports = append(ports, int64(end.GetPort()))
			}
		}
		return map[string][]any{"local_address": addresses, "remote_address": addresses,
			"local_port": ports, "remote_port": ports}
	}
	return nil
}

// attributeValue returns an attribute's string as a string and its
// integers as an int64 (or, beyond int64, a uint64); other values as nil.
func attributeValue(a *eventv1.Attribute) any {
	switch v := a.GetValue().(type) {
	case *eventv1.Attribute_StringValue:
		return v.StringValue
	case *eventv1.Attribute_Int32Value:
		return int64(v.Int32Value)
	case *eventv1.Attribute_Uint32Value:
		return int64(v.Uint32Value)
	case *eventv1.Attribute_Int64Value:
		return v.Int64Value
	case *eventv1.Attribute_Uint64Value:
		if v.Uint64Value > math.MaxInt64 {
			return v.Uint64Value
		}
		return int64(v.Uint64Value)
	}
	return nil
}

// FormatLatency renders a duration in nanoseconds with a unit chosen by its
// size: "850ns" below a microsecond, "12.3us" below a millisecond, "4.56ms"
// below a second and "1.234s" from a second up. A value that would round up
// to 1000 of a unit is shown in the next unit ("1.00ms", not "1000.0us").
func FormatLatency(ns uint64) string {
	switch {
	case ns < 1000:
		return strconv.FormatUint(ns, 10) + "ns"
	case ns < 999_950:
		return strconv.FormatFloat(float64(ns)/1e3, 'f', 1, 64) + "us"
	case ns < 999_995_000:
		return strconv.FormatFloat(float64(ns)/1e6, 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) + "s"
	}
}

// FormatFd describes what a file descriptor refers to:
//
//   - IPv4 and IPv6 sockets: "<protocol> <source>-><destination>", for
//     example "tcp 10.0.0.1:51000->[2001:db8::1]:443", where the protocol is
//     left out when unknown and an endpoint whose address and port are both
//     unknown is shown as "?" (see [FormatEndpoint]);
//   - unix sockets: "unix <path>";
//   - files and directories: the path (or "file"/"directory" if it is not
//     known);
//   - anything else: the lowercase type name, for example "pipe".
//
// It returns "" when the type is unspecified. The descriptor number is not
// included.
func FormatFd(fd *eventv1.Fd) string {
	switch t := fd.GetType(); t {
	case eventv1.FdType_FD_TYPE_UNSPECIFIED:
		return ""
	case eventv1.FdType_FD_TYPE_IPV4_SOCKET, eventv1.FdType_FD_TYPE_IPV6_SOCKET:
		conn := FormatEndpoint(fd.GetSource()) + "->" + FormatEndpoint(fd.GetDestination())
		if p := fd.GetProtocol(); p != eventv1.L4Protocol_L4_PROTOCOL_UNSPECIFIED {
			return strings.TrimPrefix(strings.ToLower(p.String()), "l4_protocol_") + " " + conn
		}
		return conn
	case eventv1.FdType_FD_TYPE_UNIX_SOCKET:
		if p := fd.GetUnixPath(); p != "" {
			return "unix " + quoteIfUnprintable(p)
		}
		return "unix"
	case eventv1.FdType_FD_TYPE_FILE, eventv1.FdType_FD_TYPE_DIRECTORY:
		if p := fd.GetPath(); p != "" {
			return quoteIfUnprintable(p)
		}
		return fdTypeName(t)
	default:
		return fdTypeName(t)
	}
}

func fdTypeName(t eventv1.FdType) string {
	return strings.TrimPrefix(strings.ToLower(t.String()), "fd_type_")
}

// FormatEndpoint renders an IPv4 or IPv6 endpoint as "address:port", with an
// IPv6 address in brackets ("[::1]:80"). An endpoint whose address is empty
// and whose port is zero (or a nil endpoint) is not known and renders as "?".
func FormatEndpoint(ep *eventv1.Endpoint) string {
	if ep.GetAddress() == "" && ep.GetPort() == 0 {
		return "?"
	}
	return net.JoinHostPort(ep.GetAddress(), strconv.FormatUint(uint64(ep.GetPort()), 10))
}

// FormatAttribute renders the value of whichever case of the attribute's
// value oneof is set: integers in decimal, doubles in the shortest form that
// round-trips, booleans as true or false, bytes in lowercase hex, and
// strings as they are, except that a string that is empty, contains
// whitespace or contains unprintable characters is quoted with
// strconv.Quote so that the line stays one line and splits on spaces; a list
// of strings as its strings so rendered, between brackets
// ([/bin/echo hello "two words"]). An attribute with no value set renders as
// "".
func FormatAttribute(a *eventv1.Attribute) string {
	switch v := a.GetValue().(type) {
	case *eventv1.Attribute_Int32Value:
		return strconv.FormatInt(int64(v.Int32Value), 10)
	case *eventv1.Attribute_Uint32Value:
		return strconv.FormatUint(uint64(v.Uint32Value), 10)
	case *eventv1.Attribute_Int64Value:
		return strconv.FormatInt(v.Int64Value, 10)
	case *eventv1.Attribute_Uint64Value:
		return strconv.FormatUint(v.Uint64Value, 10)
	case *eventv1.Attribute_DoubleValue:
		return FormatFloat(v.DoubleValue)
	case *eventv1.Attribute_BoolValue:
		return strconv.FormatBool(v.BoolValue)
	case *eventv1.Attribute_StringValue:
		return attributeText(v.StringValue)
	case *eventv1.Attribute_StringListValue:
		values := v.StringListValue.GetValues()
		texts := make([]string, len(values))
		for i, s := range values {
			texts[i] = attributeText(s)
		}
		return "[" + strings.Join(texts, " ") + "]"
	case *eventv1.Attribute_BytesValue:
		return hex.EncodeToString(v.BytesValue)
	default:
		return ""
	}
}

// FormatFloat renders a double in the shortest form that reads back as the
// same double, in exponent form below 1e-4 and from 1e16 up ("0.25", "1",
// "1e+16", "1.5e-05"), and "NaN", "+Inf" and "-Inf"; the Python client
// writes the same.
func FormatFloat(v float64) string {
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) && !math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// attributeText renders a string attribute: as it is, or quoted when it is
// empty or holds whitespace or unprintable characters.
func attributeText(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// quoteIfUnprintable quotes s if it contains characters other than
// printable ones and plain spaces, such as newlines, which would break the
// one-event-per-line output. Command names and paths are otherwise shown
// as they are.
func quoteIfUnprintable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// FormatLoss renders a loss notice as "lost <count> events (<reason>)",
// where the reason is "kernel buffer full", "subscriber queue full",
// "service error", "not in the recording", "service stopped", "resumed too
// late" or "unknown", followed by " seq <first>-<last>" when the loss has
// sequence numbers (first_seq > 0).
func FormatLoss(l *probev1.Loss) string {
	var reason string
	switch l.GetReason() {
	case probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL:
		reason = "kernel buffer full"
	case probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL:
		reason = "subscriber queue full"
	case probev1.LossReason_LOSS_REASON_SERVICE_ERROR:
		reason = "service error"
	case probev1.LossReason_LOSS_REASON_NOT_RECORDED:
		reason = "not in the recording"
	case probev1.LossReason_LOSS_REASON_SERVICE_STOPPED:
		reason = "service stopped"
	case probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE:
		reason = "resumed too late"
	default:
		reason = "unknown"
	}
	s := "lost " + strconv.FormatUint(l.GetCount(), 10) + " events (" + reason + ")"
	if first := l.GetFirstSeq(); first > 0 {
		last := first
		if l.GetCount() > 0 {
			last = first + l.GetCount() - 1
		}
		s += " seq " + strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10)
	}
	return s
}
