package main

import "strings"

// flagFields are the request fields the command fills from its flags.
var flagFields = []struct{ prefix, flag string }{
	{"allow_list[0].names[", "--name"},
	{"allow_list[0].pids[", "--pid"},
}

// inFlagTerms returns the service's explanation of a rejected request with
// the flag in place of the request field ("--name: unknown event name
// 'conect'; ..."), or "" when it is about no flag.
func inFlagTerms(details string) string {
	for _, f := range flagFields {
		rest, ok := strings.CutPrefix(details, f.prefix)
		if !ok {
			continue
		}
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if digits > 0 && strings.HasPrefix(rest[digits:], "]") {
			return f.flag + rest[digits+1:]
		}
	}
	return ""
}
