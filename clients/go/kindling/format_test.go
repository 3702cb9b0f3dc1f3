package kindling_test

import (
	"testing"
	"time"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
	"github.com/kindling-probe/kindling-probe/clients/go/kindling"
)

var bootTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// thread returns the thread of a single-threaded process.
func thread(comm string, pid uint32) *eventv1.Thread {
	return &eventv1.Thread{Pid: pid, Tid: pid, Comm: comm}
}

func strAttr(k, v string) *eventv1.Attribute {
	return &eventv1.Attribute{Key: k, Value: &eventv1.Attribute_StringValue{StringValue: v}}
}

func TestFormatCompact(t *testing.T) {
	tests := []struct {
		name string
		ev   *eventv1.Event
		want string
	}{
		{
			name: "ipv4 connect",
			ev: &eventv1.Event{
				TimestampNs: 123_456_789, Name: "connect", Source: eventv1.Source_SOURCE_SYSCALL_EXIT,
				LatencyNs: 12_300, Thread: &eventv1.Thread{Pid: 42, Tid: 43, Comm: "curl"},
				Fd: &eventv1.Fd{
					Num: 3, Type: eventv1.FdType_FD_TYPE_IPV4_SOCKET, Protocol: eventv1.L4Protocol_L4_PROTOCOL_TCP,
					Source:      &eventv1.Endpoint{Address: "10.0.0.1", Port: 51000},
					Destination: &eventv1.Endpoint{Address: "93.184.216.34", Port: 443},
				},
			},
			want: "2024-05-01T12:00:00.123456Z connect curl[42/43] ret=0 lat=12.3us fd=3 tcp 10.0.0.1:51000->93.184.216.34:443",
		},
		{
			name: "ipv6 udp with unknown source",
			ev: &eventv1.Event{
				TimestampNs: 1_000, Name: "sendto", Source: eventv1.Source_SOURCE_SYSCALL_EXIT,
				ReturnValue: 64, LatencyNs: 850, Thread: thread("dig", 7),
				Fd: &eventv1.Fd{
					Num: 5, Type: eventv1.FdType_FD_TYPE_IPV6_SOCKET, Protocol: eventv1.L4Protocol_L4_PROTOCOL_UDP,
					Destination: &eventv1.Endpoint{Address: "::1", Port: 53},
				},
				Attributes: []*eventv1.Attribute{{Key: "size", Value: &eventv1.Attribute_Uint64Value{Uint64Value: 64}}},
			},
			want: "2024-05-01T12:00:00.000001Z sendto dig[7/7] ret=64 lat=850ns fd=5 udp ?->[::1]:53 size=64",
		},
		{
			name: "socket with unspecified protocol",
			ev: &eventv1.Event{
				Name: "getsockopt", Source: eventv1.Source_SOURCE_SYSCALL_ENTER, Thread: thread("x", 1),
				Fd: &eventv1.Fd{
					Num: 4, Type: eventv1.FdType_FD_TYPE_IPV6_SOCKET,
					Source:      &eventv1.Endpoint{Address: "2001:db8::2", Port: 4000},
					Destination: &eventv1.Endpoint{Address: "2001:db8::1", Port: 80},
				},
			},
			want: "2024-05-01T12:00:00.000000Z getsockopt x[1/1] fd=4 [2001:db8::2]:4000->[2001:db8::1]:80",
		},
		{
			name: "unix socket",
			ev: &eventv1.Event{
				Name: "connect", Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: -2,
				LatencyNs: 4_560_000, Thread: thread("systemd", 1),
				Fd: &eventv1.Fd{Num: 9, Type: eventv1.FdType_FD_TYPE_UNIX_SOCKET, UnixPath: "/run/dbus/system_bus_socket"},
			},
			want: "2024-05-01T12:00:00.000000Z connect systemd[1/1] ret=-2 ENOENT lat=4.56ms fd=9 unix /run/dbus/system_bus_socket",
		},
		{
			name: "file with attributes",
			ev: &eventv1.Event{
				Name: "openat", Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: 3,
				LatencyNs: 1_234_000_000, Thread: thread("cat", 100),
				Fd: &eventv1.Fd{Num: 3, Type: eventv1.FdType_FD_TYPE_FILE, Path: "/etc/passwd"},
				Attributes: []*eventv1.Attribute{
					{Key: "flags", Value: &eventv1.Attribute_Int32Value{Int32Value: -100}},
					{Key: "mode", Value: &eventv1.Attribute_Uint32Value{Uint32Value: 420}},
					strAttr("path", "/etc/passwd"),
					strAttr("title", "two words"),
					strAttr("empty", ""),
					strAttr("nl", "a\nb"),
					{Key: "buf", Value: &eventv1.Attribute_BytesValue{BytesValue: []byte{0xde, 0xad, 0x01}}},
					{Key: "ok", Value: &eventv1.Attribute_BoolValue{BoolValue: true}},
					{Key: "ratio", Value: &eventv1.Attribute_DoubleValue{DoubleValue: 0.25}},
					{Key: "off", Value: &eventv1.Attribute_Int64Value{Int64Value: -5}},
					{Key: "unset"},
				},
			},
			want: `2024-05-01T12:00:00.000000Z openat cat[100/100] ret=3 lat=1.234s fd=3 /etc/passwd ` +
				`flags=-100 mode=0644 title="two words" empty="" nl="a\nb" buf=dead01 ok=true ratio=0.25 off=-5 unset=`,
		},
		{
			name: "directory without path",
			ev: &eventv1.Event{
				Name: "getdents64", Thread: thread("ls", 5),
				Fd: &eventv1.Fd{Num: 3, Type: eventv1.FdType_FD_TYPE_DIRECTORY},
			},
			want: "2024-05-01T12:00:00.000000Z getdents64 ls[5/5] fd=3 directory",
		},
		{
			name: "pipe",
			ev: &eventv1.Event{
				Name: "write", Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: 1, Thread: thread("sh", 9),
				Fd: &eventv1.Fd{Num: 1, Type: eventv1.FdType_FD_TYPE_PIPE},
			},
			// lat= is left out when the entry was not seen (latency 0).
			want: "2024-05-01T12:00:00.000000Z write sh[9/9] ret=1 fd=1 pipe",
		},
		{
			name: "fd of unspecified type",
			ev: &eventv1.Event{
				Name: "close", Thread: thread("sh", 9), Fd: &eventv1.Fd{Num: 7},
			},
			want: "2024-05-01T12:00:00.000000Z close sh[9/9] fd=7",
		},
		{
			name: "no fd, tracepoint",
			ev: &eventv1.Event{
				TimestampNs: 2_500_000_000, Name: "process_exec", Source: eventv1.Source_SOURCE_TRACEPOINT,
				ReturnValue: 99, LatencyNs: 99, Thread: &eventv1.Thread{Pid: 300, Tid: 301, Comm: "bash"},
				Attributes: []*eventv1.Attribute{strAttr("filename", "/usr/bin/ls")},
			},
			want: "2024-05-01T12:00:02.500000Z process_exec bash[300/301] filename=/usr/bin/ls",
		},
		{
			name: "no thread",
			ev:   &eventv1.Event{Name: "tick"},
			want: "2024-05-01T12:00:00.000000Z tick",
		},
		{
			name: "payload, cut",
			ev: &eventv1.Event{
				Name: "read", Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: 4000,
				Thread: thread("nginx", 5), Fd: &eventv1.Fd{Num: 9},
				Payload: []byte("GET / HTTP/1.1\r\n\x00\xff\xe2\x82\xac\"x"), PayloadLength: 4000,
			},
			want: `2024-05-01T12:00:00.000000Z read nginx[5/5] ret=4000 fd=9 payload="GET / HTTP/1.1\r\n\x00\xff€\"x" payload_length=4000`,
		},
		{
			name: "string list",
			ev: &eventv1.Event{
				Name: "process_exec", Source: eventv1.Source_SOURCE_TRACEPOINT, Thread: thread("echo", 8),
				Attributes: []*eventv1.Attribute{{Key: "args", Value: &eventv1.Attribute_StringListValue{
					StringListValue: &eventv1.StringList{Values: []string{"/bin/echo", "two words", "", "a\nb"}},
				}}},
			},
			want: `2024-05-01T12:00:00.000000Z process_exec echo[8/8] args=[/bin/echo "two words" "" "a\nb"]`,
		},
		{
			name: "payload, whole",
			ev: &eventv1.Event{
				Name: "write", Source: eventv1.Source_SOURCE_SYSCALL_EXIT, ReturnValue: 2,
				Thread: thread("redis", 6), Payload: []byte("ok"), PayloadLength: 2,
			},
			want: `2024-05-01T12:00:00.000000Z write redis[6/6] ret=2 payload="ok"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindling.FormatCompact(tt.ev, bootTime); got != tt.want {
				t.Errorf("FormatCompact:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestFormatCompactConvertsToUTC(t *testing.T) {
	boot := time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	got := kindling.FormatCompact(&eventv1.Event{Name: "x", TimestampNs: 7}, boot)
	if want := "2024-05-01T12:00:00.000000Z x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormatLatency(t *testing.T) {
	tests := []struct {
		ns   uint64
		want string
	}{
		{0, "0ns"},
		{850, "850ns"},
		{999, "999ns"},
		{1000, "1.0us"},
		{12_300, "12.3us"},
		{999_949, "999.9us"},
		{999_950, "1.00ms"},
		{1_000_000, "1.00ms"},
		{4_560_000, "4.56ms"},
		{999_994_999, "999.99ms"},
		{999_995_000, "1.000s"},
		{1_234_000_000, "1.234s"},
		{75_000_000_000, "75.000s"},
	}
	for _, tt := range tests {
		if got := kindling.FormatLatency(tt.ns); got != tt.want {
			t.Errorf("FormatLatency(%d) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

func TestFormatEndpoint(t *testing.T) {
	tests := []struct {
		ep   *eventv1.Endpoint
		want string
	}{
		{nil, "?"},
		{&eventv1.Endpoint{}, "?"},
		{&eventv1.Endpoint{Address: "127.0.0.1", Port: 80}, "127.0.0.1:80"},
		{&eventv1.Endpoint{Address: "::1", Port: 80}, "[::1]:80"},
		{&eventv1.Endpoint{Address: "10.1.2.3"}, "10.1.2.3:0"},
		{&eventv1.Endpoint{Port: 53}, ":53"},
	}
	for _, tt := range tests {
		if got := kindling.FormatEndpoint(tt.ep); got != tt.want {
			t.Errorf("FormatEndpoint(%v) = %q, want %q", tt.ep, got, tt.want)
		}
	}
}

func TestFormatFdOtherTypes(t *testing.T) {
	tests := map[eventv1.FdType]string{
		eventv1.FdType_FD_TYPE_EVENTFD:        "eventfd",
		eventv1.FdType_FD_TYPE_EVENTPOLL:      "eventpoll",
		eventv1.FdType_FD_TYPE_NETLINK_SOCKET: "netlink_socket",
		eventv1.FdType_FD_TYPE_OTHER:          "other",
		eventv1.FdType_FD_TYPE_UNIX_SOCKET:    "unix",
	}
	for typ, want := range tests {
		if got := kindling.FormatFd(&eventv1.Fd{Type: typ}); got != want {
			t.Errorf("FormatFd(%v) = %q, want %q", typ, got, want)
		}
	}
}

func TestFormatLoss(t *testing.T) {
	tests := []struct {
		loss *probev1.Loss
		want string
	}{
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_KERNEL_BUFFER_FULL, Count: 17}, "lost 17 events (kernel buffer full)"},
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_SUBSCRIBER_QUEUE_FULL, Count: 5, FirstSeq: 100}, "lost 5 events (subscriber queue full) seq 100-104"},
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_SERVICE_ERROR, Count: 2}, "lost 2 events (service error)"},
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_NOT_RECORDED, Count: 3}, "lost 3 events (not in the recording)"},
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_SERVICE_STOPPED, Count: 4, FirstSeq: 10}, "lost 4 events (service stopped) seq 10-13"},
		{&probev1.Loss{Reason: probev1.LossReason_LOSS_REASON_RESUME_TOO_LATE, Count: 6, FirstSeq: 21}, "lost 6 events (resumed too late) seq 21-26"},
		{&probev1.Loss{Count: 1, FirstSeq: 9}, "lost 1 events (unknown) seq 9-9"},
		{&probev1.Loss{Reason: 42, Count: 3}, "lost 3 events (unknown)"},
	}
	for _, tt := range tests {
		if got := kindling.FormatLoss(tt.loss); got != tt.want {
			t.Errorf("FormatLoss(%v) = %q, want %q", tt.loss, got, tt.want)
		}
	}
}
