package main

// The filter flags: every field of the contract's EventFilter as a flag, and
// --exclude- flags for the deny list, with the same names, words and checks
// as the Python command's (clients/python/src/kindling/client/cli_filters.py;
// the shared vectors in clients/testdata/cli.json hold both to them).
//
// The filter flags together make the stream's one allow filter: an event is
// printed when it matches every flag given, and one value of each. Each
// --exclude- flag makes a deny filter of its own, so an event matching any
// one of them is left out.

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventv1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/event/v1"
	probev1 "github.com/kindling-probe/kindling-probe/clients/go/gen/kindling/probe/v1"
)

// filterField is one list field of EventFilter and how its flags fill it.
type filterField struct {
	name    string // the flag without dashes: "remote-port"
	field   string // the EventFilter field: "remote_ports", "return_value.values"
	metavar string
	help    string // what the values select: "events on these remote ports"
	empty   string // what an empty comma-list item is called: "a port"
	pattern bool   // one RE2 pattern per flag, not a comma list
	choices []string
	add     func(f *probev1.EventFilter, part string) error
}

var (
	categoryNames, categoryValues = enumChoices(eventv1.Category(0).Descriptor(), "CATEGORY_")
	sourceNames, sourceValues     = enumChoices(eventv1.Source(0).Descriptor(), "SOURCE_")
	fdTypeNames, fdTypeValues     = enumChoices(eventv1.FdType(0).Descriptor(), "FD_TYPE_")
	protocolNames, protocolValues = enumChoices(eventv1.L4Protocol(0).Descriptor(), "L4_PROTOCOL_")
)

// filterFields are the list fields, in the contract's order of importance;
// exclusions follow it too.
var filterFields = []filterField{
	{name: "name", field: "names", metavar: "names", help: "events with these names", empty: "an event name",
		add: func(f *probev1.EventFilter, s string) error { f.Names = append(f.Names, s); return nil }},
	{name: "category", field: "categories", metavar: "categories", help: "events of these categories", empty: "a value",
		choices: categoryNames, add: enumAdder("category", categoryNames, categoryValues, func(f *probev1.EventFilter) *[]eventv1.Category { return &f.Categories })},
	{name: "source", field: "sources", metavar: "sources", help: "events from these sources", empty: "a value",
		choices: sourceNames, add: enumAdder("source", sourceNames, sourceValues, func(f *probev1.EventFilter) *[]eventv1.Source { return &f.Sources })},
	{name: "pid", field: "pids", metavar: "pids", help: "events of these process ids", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error { return appendID(&f.Pids, s, "a process id", false) }},
	{name: "tid", field: "tids", metavar: "tids", help: "events of these thread ids", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error { return appendID(&f.Tids, s, "a thread id", false) }},
	{name: "ppid", field: "ppids", metavar: "pids", help: "events of processes with these parents", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error { return appendID(&f.Ppids, s, "a process id", false) }},
	{name: "process-tree", field: "process_trees", metavar: "pids", help: "events of these processes and everything they start", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error {
			return appendID(&f.ProcessTrees, s, "a process id", false)
		}},
	{name: "uid", field: "uids", metavar: "uids", help: "events of these user ids", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error { return appendID(&f.Uids, s, "a user id", true) }},
	{name: "gid", field: "gids", metavar: "gids", help: "events of these group ids", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error { return appendID(&f.Gids, s, "a group id", true) }},
	{name: "comm", field: "comms", metavar: "regex", help: "events of threads whose whole name matches this RE2 pattern", pattern: true,
		add: func(f *probev1.EventFilter, s string) error { f.Comms = append(f.Comms, s); return nil }},
	{name: "exe", field: "exes", metavar: "regex", help: "events of processes whose whole executable path matches this RE2 pattern", pattern: true,
		add: func(f *probev1.EventFilter, s string) error { f.Exes = append(f.Exes, s); return nil }},
	{name: "container", field: "container_ids", metavar: "ids", help: "events in these containers (full or 12-digit ids)", empty: "a container id",
		add: func(f *probev1.EventFilter, s string) error { f.ContainerIds = append(f.ContainerIds, s); return nil }},
	{name: "cgroup", field: "cgroup_ids", metavar: "ids", help: "events in these cgroups (by id)", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error {
			v, ok := parseDecimal(s, math.MaxUint64)
			if !ok || v == 0 {
				return fmt.Errorf("%q is not a cgroup id (a positive integer)", s)
			}
			f.CgroupIds = append(f.CgroupIds, v)
			return nil
		}},
	{name: "fd-type", field: "fd_types", metavar: "types", help: "events on descriptors of these types", empty: "a value",
		choices: fdTypeNames, add: enumAdder("descriptor type", fdTypeNames, fdTypeValues, func(f *probev1.EventFilter) *[]eventv1.FdType { return &f.FdTypes })},
	{name: "protocol", field: "protocols", metavar: "protocols", help: "events on sockets of these protocols", empty: "a value",
		choices: protocolNames, add: enumAdder("protocol", protocolNames, protocolValues, func(f *probev1.EventFilter) *[]eventv1.L4Protocol { return &f.Protocols })},
	{name: "local-port", field: "local_ports", metavar: "ports", help: "events on sockets with these local ports (80,8000-8999)", empty: "a port",
		add: func(f *probev1.EventFilter, s string) error { return appendPorts(&f.LocalPorts, s) }},
	{name: "remote-port", field: "remote_ports", metavar: "ports", help: "events on sockets with these remote ports", empty: "a port",
		add: func(f *probev1.EventFilter, s string) error { return appendPorts(&f.RemotePorts, s) }},
	{name: "local-address", field: "local_addresses", metavar: "addresses", help: "events on sockets with these local addresses or CIDR blocks", empty: "an address",
		add: func(f *probev1.EventFilter, s string) error { return appendAddress(&f.LocalAddresses, s) }},
	{name: "remote-address", field: "remote_addresses", metavar: "addresses", help: "events on sockets with these remote addresses or CIDR blocks", empty: "an address",
		add: func(f *probev1.EventFilter, s string) error { return appendAddress(&f.RemoteAddresses, s) }},
	{name: "ret", field: "return_value.values", metavar: "values", help: "calls that returned these values", empty: "a value",
		add: func(f *probev1.EventFilter, s string) error {
			v, err := parseInt64(s)
			if err != nil {
				return err
			}
			if f.ReturnValue == nil {
				f.ReturnValue = &probev1.ReturnValueFilter{}
			}
			f.ReturnValue.Values = append(f.ReturnValue.Values, v)
			return nil
		}},
}

// scalarFlags name the single-valued fields' flags, for the service's
// messages about them.
var scalarFlags = map[string]string{
	"return_value.errors_only": "--errors-only",
	"return_value.min":         "--min-ret",
	"return_value.max":         "--max-ret",
	"return_value":             "--min-ret",
	"min_latency_ns":           "--min-latency",
	"has_payload":              "--has-payload",
}

// filterFlags holds what the filter and exclusion flags were given.
type filterFlags struct {
	allow      *probev1.EventFilter
	deny       []*probev1.EventFilter // one per filterFields entry; empty when not given
	errorsOnly bool
	minRet     optionalInt64
	maxRet     optionalInt64
	minLatency seconds
	hasPayload optionalBool
}

// listValue is a flag that fills one field of target from comma lists
// (patterns: one per flag), and may be repeated.
type listValue struct {
	field  *filterField
	target *probev1.EventFilter
	values []string
}

func (v *listValue) String() string { return strings.Join(v.values, ",") }

func (v *listValue) Type() string { return v.field.metavar }

func (v *listValue) Set(value string) error {
	parts := []string{value}
	if v.field.pattern {
		if value == "" {
			return errors.New("a pattern must not be empty")
		}
	} else {
		parts = strings.Split(value, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
			if parts[i] == "" {
				return fmt.Errorf("%s must not be empty; separate them by commas", v.field.empty)
			}
		}
	}
	for _, part := range parts {
		if err := v.field.add(v.target, part); err != nil {
			return err
		}
	}
	v.values = append(v.values, parts...)
	return nil
}

// addFilterFlags adds the filter and exclusion flags to flags.
func addFilterFlags(flags *pflag.FlagSet, ff *filterFlags) {
	ff.allow = &probev1.EventFilter{}
	for i := range filterFields {
		field := &filterFields[i]
		help := "print only " + field.help
		if field.choices != nil {
			help += ": " + strings.Join(field.choices, ", ")
		}
		flags.Var(&listValue{field: field, target: ff.allow}, field.name, help)
	}
	flags.BoolVar(&ff.errorsOnly, "errors-only", false, "print only calls that failed (returned -errno)")
	flags.Var(&ff.minRet, "min-ret", "print only calls that returned N or more")
	flags.Var(&ff.maxRet, "max-ret", "print only calls that returned N or less")
	flags.Var(&ff.minLatency, "min-latency", "print only calls that took at least this long: 1ms, 250us, or seconds")
	flags.Var(&ff.hasPayload, "has-payload", "print only events that carry a payload (true) or none (false)")
	ff.deny = make([]*probev1.EventFilter, len(filterFields))
	for i := range filterFields {
		field := &filterFields[i]
		ff.deny[i] = &probev1.EventFilter{}
		flags.Var(&listValue{field: field, target: ff.deny[i]}, "exclude-"+field.name, "leave out "+field.help)
	}
}

// filters returns the allow filter (nil when no filter flag was given) and
// the deny filters, or the usage error of bounds that contradict each other.
func (ff *filterFlags) filters() (*probev1.EventFilter, []*probev1.EventFilter, error) {
	allow := proto.Clone(ff.allow).(*probev1.EventFilter)
	returnValue := func() *probev1.ReturnValueFilter {
		if allow.ReturnValue == nil {
			allow.ReturnValue = &probev1.ReturnValueFilter{}
		}
		return allow.ReturnValue
	}
	if ff.errorsOnly {
		returnValue().ErrorsOnly = true
	}
	if ff.minRet.set {
		returnValue().Min = proto.Int64(ff.minRet.value)
	}
	if ff.maxRet.set {
		returnValue().Max = proto.Int64(ff.maxRet.value)
	}
	if ff.minRet.set && ff.maxRet.set && ff.minRet.value > ff.maxRet.value {
		return nil, nil, fmt.Errorf("--min-ret %d is more than --max-ret %d", ff.minRet.value, ff.maxRet.value)
	}
	if ff.minLatency > 0 {
		allow.MinLatencyNs = uint64(ff.minLatency)
	}
	if ff.hasPayload.set {
		allow.HasPayload = proto.Bool(ff.hasPayload.value)
	}
	var deny []*probev1.EventFilter
	for _, f := range ff.deny {
		if proto.Size(f) > 0 {
			deny = append(deny, f)
		}
	}
	if proto.Size(allow) == 0 {
		allow = nil
	}
	return allow, deny, nil
}

// requestPath is the start of the service's message about a filter field:
// "allow_list[0].names[1]", "deny_list[2].comms[0]", "allow_list[0].return_value".
var requestPath = regexp.MustCompile(`^(allow_list\[0\]|deny_list\[\d+\])\.([a-z_]+(?:\.[a-z_]+)?)(\[\d+\])?`)

// inFlagTerms returns the service's explanation of a rejected request with
// the flag in place of the request field ("--name: unknown event name
// 'conect'; ..."), or "" when it is about no flag.
func inFlagTerms(details string) string {
	m := requestPath.FindStringSubmatchIndex(details)
	if m == nil {
		return ""
	}
	where, field := details[m[2]:m[3]], details[m[4]:m[5]]
	allowed := strings.HasPrefix(where, "allow")
	flag := ""
	for _, f := range filterFields {
		if f.field == field {
			flag = "--" + f.name
			if !allowed {
				flag = "--exclude-" + f.name
			}
		}
	}
	if flag == "" && allowed {
		flag = scalarFlags[field]
	}
	if flag == "" {
		return ""
	}
	return flag + details[m[1]:]
}

// enumChoices returns an enum's short names (the value names without their
// prefix, lowercased; UNSPECIFIED matches nothing, so it is left out) and
// their numbers.
func enumChoices(d protoreflect.EnumDescriptor, prefix string) ([]string, []int32) {
	var names []string
	var numbers []int32
	values := d.Values()
	for i := 1; i < values.Len(); i++ {
		names = append(names, strings.ToLower(strings.TrimPrefix(string(values.Get(i).Name()), prefix)))
		numbers = append(numbers, int32(values.Get(i).Number()))
	}
	return names, numbers
}

// enumAdder returns the add function of an enum field: it appends the
// value a short name names to the list field gives.
func enumAdder[E ~int32](what string, names []string, numbers []int32, field func(*probev1.EventFilter) *[]E) func(*probev1.EventFilter, string) error {
	return func(f *probev1.EventFilter, s string) error {
		v, err := enumValue(s, what, names, numbers)
		if err == nil {
			list := field(f)
			*list = append(*list, E(v))
		}
		return err
	}
}

func enumValue(s, what string, names []string, numbers []int32) (int32, error) {
	for i, name := range names {
		if strings.EqualFold(s, name) {
			return numbers[i], nil
		}
	}
	return 0, fmt.Errorf("invalid %s %q: use %s", what, s, strings.Join(names, ", "))
}

// parseDecimal parses digits alone (no sign, no spaces) up to top.
func parseDecimal(s string, top uint64) (uint64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil && v <= top
}

func appendID(ids *[]uint32, s, what string, zero bool) error {
	v, ok := parseDecimal(s, math.MaxUint32)
	if !ok || (v == 0 && !zero) {
		if zero {
			return fmt.Errorf("%q is not %s (0 or a positive integer)", s, what)
		}
		return fmt.Errorf("%q is not %s (a positive integer)", s, what)
	}
	*ids = append(*ids, uint32(v))
	return nil
}

var portRange = regexp.MustCompile(`^([0-9]{1,5})(?:-([0-9]{1,5}))?$`)

func appendPorts(ports *[]*probev1.PortRange, s string) error {
	m := portRange.FindStringSubmatch(s)
	var first, last uint64
	if m != nil {
		first, _ = strconv.ParseUint(m[1], 10, 32)
		last = first
		if m[2] != "" {
			last, _ = strconv.ParseUint(m[2], 10, 32)
		}
	}
	if first < 1 || first > last || last > 65535 {
		return fmt.Errorf("%q is not a port (1 to 65535) or a range of ports (8000-8999)", s)
	}
	r := &probev1.PortRange{First: uint32(first)}
	if last != first {
		r.Last = uint32(last)
	}
	*ports = append(*ports, r)
	return nil
}

func appendAddress(addresses *[]string, s string) error {
	var err error
	if strings.Contains(s, "/") {
		_, err = netip.ParsePrefix(s)
	} else {
		var addr netip.Addr
		addr, err = netip.ParseAddr(s)
		if err == nil && addr.Zone() != "" {
			err = errors.New("zone")
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not an IP address or CIDR block (10.0.0.1, 10.0.0.0/8, fd00::/8)", s)
	}
	*addresses = append(*addresses, s)
	return nil
}

var int64Text = regexp.MustCompile(`^-?[0-9]{1,19}$`)

func parseInt64(s string) (int64, error) {
	if int64Text.MatchString(s) {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%q is not an integer", s)
}

// optionalInt64 is an integer flag that remembers whether it was given.
type optionalInt64 struct {
	value int64
	set   bool
}

func (o *optionalInt64) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatInt(o.value, 10)
}

func (o *optionalInt64) Set(s string) error {
	v, err := parseInt64(s)
	o.value, o.set = v, err == nil
	return err
}

func (o *optionalInt64) Type() string { return "n" }

// optionalBool is a true|false flag that remembers whether it was given.
type optionalBool struct {
	value bool
	set   bool
}

func (o *optionalBool) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatBool(o.value)
}

func (o *optionalBool) Set(s string) error {
	if s != "true" && s != "false" {
		return fmt.Errorf("invalid payload presence %q: use --has-payload true or false", s)
	}
	o.value, o.set = s == "true", true
	return nil
}

func (o *optionalBool) Type() string { return "true|false" }
